import { expect, test } from '@jest/globals';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { SbxErrorType } from '../../../src/common/errors.js';
import {
  createUpdate,
  destroyUpdate,
  execUpdate,
  hostLostSignal,
  rollbackUpdate,
  turnCompleteUpdate,
  type SessionInfo,
} from '../../../src/protocol/messages.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';

/** What a call the host never picked up answers on a created session: nothing ran, the session is kept. */
const keptSession = { type: SbxErrorType.HostLost, message: expect.stringMatching(/nothing ran.*session .* is kept/) };

/** The typed failure a client sees for a failed update. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause;
  throw new Error(`expected a failed update, got ${String(err)}`);
}

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

test('a host that stops picking up tool calls and health probes fails the call as HostLost, keeps the session, and serves it once back', async () => {
  const hostId = env.id('h');
  await env.startHost(hostId);
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, hostTimeoutMs: 1000 });
  await env.stopHost(hostId);

  expect(await failureOf(handle.executeUpdate(execUpdate, exec('into-the-void')))).toMatchObject(keptSession);
  expect(await env.info(handle)).toMatchObject({ state: 'active' });

  // The host restarts with the sandbox intact: the same call runs there.
  await env.startHost(hostId);
  expect((await handle.executeUpdate(execUpdate, exec('into-the-void'))).exitCode).toBe(0);
  expect(env.recorder.count('execCommand', sessionId)).toBe(1);
});

test('a host restarting for longer than hostTimeoutMs fails turnComplete and rollback as HostLost, keeps the session, and serves them once back', async () => {
  const hostId = env.id('h');
  await env.startHost(hostId);
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, hostTimeoutMs: 1000 });
  expect((await handle.executeUpdate(turnCompleteUpdate)).turn).toBe(1);
  await env.stopHost(hostId);

  expect(await failureOf(handle.executeUpdate(turnCompleteUpdate))).toMatchObject(keptSession);
  expect(await failureOf(handle.executeUpdate(rollbackUpdate, { args: [{ turn: 1 }] }))).toMatchObject(keptSession);
  expect(await env.info(handle)).toMatchObject({ state: 'active', turn: 1 });

  await env.startHost(hostId);
  expect((await handle.executeUpdate(turnCompleteUpdate)).turn).toBe(2);
  expect(await handle.executeUpdate(rollbackUpdate, { args: [{ turn: 1 }] })).toMatchObject({ turn: 1 });
  expect((await handle.executeUpdate(destroyUpdate)).state).toBe('destroyed');
  await handle.result();
  await env.recordHistory(handle.workflowId, 'session-host-timeout-keeps-session');
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
