import { expect, test } from '@jest/globals';
import { SbxErrorType } from '../../../src/common/errors.js';
import { createUpdate, destroyUpdate, execUpdate, hostLostSignal, type SessionInfo } from '../../../src/protocol/messages.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';

const exec = (toolCallId: string) => ({ args: [{ toolCallId, command: ['true'] }] as [{ toolCallId: string; command: string[] }] });

test('a create on a host that never answers fails as host-lost, and destroy still completes', async () => {
  const sessionId = env.id('s');
  const request = { sessionId, hostId: env.id('gone'), hostTimeoutMs: 1000 };
  const handle = await env.startSession(request);
  expect(await failureType(handle.executeUpdate(createUpdate, { args: [request] }))).toBe(SbxErrorType.HostLost);
  expect(await env.info(handle)).toMatchObject({ state: 'failed', failureReason: 'host-lost' });

  const destroyed = await handle.executeUpdate(destroyUpdate);
  expect(destroyed.state).toBe('destroyed');
  expect(((await handle.result()) as SessionInfo).state).toBe('destroyed');
});

test('the fleet reporting the host lost fails the session; tool calls are refused and destroy leaves the host alone', async () => {
  const hostId = env.id('h');
  // The host's worker stays up (the fleet may have lost only its heartbeats): whatever the session
  // still sent it would show in the record. A destroy that waited for a really lost host would wait
  // hostTimeoutMs (a minute by default) for nothing.
  await env.startHost(hostId);
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId });

  await handle.signal(hostLostSignal, { hostId: env.id('other') });
  await handle.signal(hostLostSignal, { hostId });
  await eventually(
    () => env.info(handle),
    (i) => i.state === 'failed',
    'the session to fail',
  );
  expect((await env.info(handle)).failureReason).toBe('host-lost');
  expect(await failureType(handle.executeUpdate(execUpdate, exec('after-loss')))).toBe(SbxErrorType.InvalidState);

  expect((await handle.executeUpdate(destroyUpdate)).state).toBe('destroyed');
  await handle.result();
  await env.recordHistory(handle.workflowId, 'session-host-lost-destroy');
  expect(env.recorder.count('destroySandbox', sessionId)).toBe(0);
});

test('a host that stops picking up tool calls and health probes marks the session host-lost', async () => {
  const hostId = env.id('h');
  await env.startHost(hostId);
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, hostTimeoutMs: 1000 });
  await env.stopHost(hostId);

  expect(await failureType(handle.executeUpdate(execUpdate, exec('into-the-void')))).toBe(SbxErrorType.HostLost);
  expect(await env.info(handle)).toMatchObject({ state: 'failed', failureReason: 'host-lost' });
});

test('a host that answers health probes but has no free tool slot answers Busy and keeps the session', async () => {
  const hostId = env.id('h');
  // Only the lifecycle queue is served: tool calls find no slot.
  await env.startHost(hostId, undefined, { tools: false });
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, hostTimeoutMs: 1000 });

  expect(await failureType(handle.executeUpdate(execUpdate, exec('no-slot')))).toBe(SbxErrorType.Busy);
  expect((await env.info(handle)).state).toBe('active');
  expect(env.recorder.count('hostHealth')).toBeGreaterThan(0);
});
