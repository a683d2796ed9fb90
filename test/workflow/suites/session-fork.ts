import { expect, test } from '@jest/globals';
import { WorkflowNotFoundError } from '@temporalio/client';
import { SbxErrorType } from '../../../src/common/errors.js';
import { createUpdate, forkUpdate, turnCompleteUpdate } from '../../../src/protocol/messages.js';
import type { HostActivities } from '../../../src/activities/host/activities.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';
import { hostRefuses } from '../harness/stubs.js';

/** A session with one turn, placed by a fleet (so a fork reserves a slot) on a host of its own. */
async function sourceSession(host: () => Partial<HostActivities> = () => ({})) {
  const hostId = env.id('h');
  await env.startHost(hostId, host);
  env.placement = { placeSession: async () => ({ hostId, fleetId: env.id('f') }) };
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, idleTimeoutMs: 0 });
  await handle.executeUpdate(turnCompleteUpdate);
  return { handle, sessionId, hostId };
}

test("a fork is a new active session on its source's host, made from the snapshot", async () => {
  const { handle, sessionId, hostId } = await sourceSession();
  const newSessionId = env.id('fork');
  expect(await handle.executeUpdate(forkUpdate, { args: [{ newSessionId, turn: 1 }] })).toEqual({
    sessionId: newSessionId,
    fromSnapshot: 'turn-000001',
  });

  // Active by the time the fork answers: the copy made and started its sandbox, so the new session
  // calls no host itself.
  const info = await env.info(env.handle(newSessionId));
  expect(info).toMatchObject({ state: 'active', hostId, forkedFrom: { sessionId, snapshot: 'turn-000001' } });
  expect(env.recorder.started(newSessionId)).toEqual(['reserveSlot', 'createSandbox']);
  // The source's copy also starts the fork's sandbox, with the session's resources.
  expect(env.recorder.inputOf('createSandbox', newSessionId)).toMatchObject({
    origin: { kind: 'snapshot', sandboxId: sessionId, snapshot: 'turn-000001' },
    start: { cpus: expect.any(Number), memoryMb: expect.any(Number) },
  });
  expect(env.recorder.inputOf('reserveSlot', newSessionId)).toMatchObject({ hostId });
});

test("a fork with no fleet slot on the source's host fails with NoCapacity and starts nothing", async () => {
  const { handle, sessionId } = await sourceSession();
  env.placement = { reserveSlot: hostRefuses(SbxErrorType.NoCapacity, 'the host is full') };
  const newSessionId = env.id('fork');
  expect(await failureType(handle.executeUpdate(forkUpdate, { args: [{ newSessionId, turn: 1 }] }))).toBe(SbxErrorType.NoCapacity);

  await expect(env.handle(newSessionId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect(env.recorder.started(newSessionId)).toEqual(['reserveSlot']);
  expect((await env.info(handle)).state).toBe('active');
  expect(env.recorder.count('createSandbox', sessionId)).toBe(1);
});

test('a fork into an existing session id fails with SessionExists and copies nothing', async () => {
  const { handle } = await sourceSession();
  const other = env.id('s');
  const { info: before } = await env.createSession({ sessionId: other, idleTimeoutMs: 0 });
  expect(before.state).toBe('active');
  expect(await failureType(handle.executeUpdate(forkUpdate, { args: [{ newSessionId: other, turn: 1 }] }))).toBe(
    SbxErrorType.SessionExists,
  );
  expect(env.recorder.count('createSandbox', other)).toBe(1);
  expect((await env.info(handle)).state).toBe('active');
});

test("a fork whose copy fails answers the host's error, and the new session ends failed", async () => {
  const { handle } = await sourceSession(() => ({
    createSandbox: async (raw) => {
      if (raw.origin.kind === 'snapshot') return hostRefuses(SbxErrorType.NoSpace, 'no space for the copy')();
      return { hostId: 'x', usedBytes: 0 };
    },
  }));
  const newSessionId = env.id('fork');
  expect(await failureType(handle.executeUpdate(forkUpdate, { args: [{ newSessionId, turn: 1 }] }))).toBe(SbxErrorType.NoSpace);

  const child = env.handle(newSessionId);
  const info = await eventually(
    () => env.info(child),
    (i) => i.state !== 'creating',
    'the fork to give up',
  );
  expect(info).toMatchObject({ state: 'failed', failureReason: 'create-failed' });
  expect(
    await failureType(child.executeUpdate(createUpdate, { args: [{ sessionId: newSessionId, hostId: info.hostId, idleTimeoutMs: 0 }] })),
  ).toBe(SbxErrorType.CreateFailed);
  expect((await env.info(handle)).state).toBe('active');
});
