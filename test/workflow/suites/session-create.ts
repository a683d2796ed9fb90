import { describe, expect, test } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { SbxErrorType } from '../../../src/common/errors.js';
import { fleetWorkflowId } from '../../../src/common/names.js';
import {
  createUpdate,
  destroyUpdate,
  execUpdate,
  fleetStatusQuery,
  hostHeartbeatSignal,
  placeUpdate,
  type CreateSessionInput,
} from '../../../src/protocol/messages.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';
import { hostRefuses } from '../harness/stubs.js';

/** Starts a session and returns its create's failure type and the session's info afterwards. */
async function failedCreate(request: CreateSessionInput & { sessionId: string }) {
  const handle = await env.startSession(request);
  const type = await failureType(handle.executeUpdate(createUpdate, { args: [request] }));
  return { type, info: await env.info(handle), handle };
}

describe('the create saga undoes what each failing step made', () => {
  test('placement fails: nothing reaches a host', async () => {
    env.placement = { placeSession: hostRefuses(SbxErrorType.NoCapacity, 'no host had a free slot') };
    const sessionId = env.id('s');
    const { type, info } = await failedCreate({ sessionId });
    expect(type).toBe(SbxErrorType.CreateFailed);
    expect(info).toMatchObject({ state: 'failed', failureReason: 'create-failed' });
    expect(env.recorder.started(sessionId)).toEqual(['claimWarmSandbox', 'placeSession']);
  });

  test('createSandbox fails: the half-made sandbox is destroyed, nothing is stopped', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({ createSandbox: hostRefuses(SbxErrorType.NoSpace, 'the pool is full') }));
    const sessionId = env.id('s');
    const { type, info } = await failedCreate({ sessionId, hostId });
    expect(type).toBe(SbxErrorType.CreateFailed);
    expect(info).toMatchObject({ state: 'failed', failureReason: 'create-failed' });
    expect(env.recorder.started(sessionId)).toEqual(['placeSession', 'createSandbox', 'destroySandbox']);
  });

  test('one host call makes and starts the sandbox', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sessionId = env.id('s');
    const { handle, info } = await env.createSession({ sessionId, hostId, resources: { cpus: 1, memoryMb: 256 } });
    expect(info.state).toBe('active');
    expect(env.recorder.started(sessionId)).toEqual(['placeSession', 'createSandbox']);
    expect(env.recorder.inputOf('createSandbox', sessionId)).toMatchObject({ start: { cpus: 1, memoryMb: 256 } });
    await handle.executeUpdate(destroyUpdate);
    await handle.result();
    await env.recordHistory(handle.workflowId, 'session-create-starts-sandbox');
  });

  test('the sandbox fails to start: what was made is destroyed, nothing else runs', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({ createSandbox: hostRefuses(SbxErrorType.CommandMissing, 'runsc is not installed') }));
    const sessionId = env.id('s');
    const { type, info } = await failedCreate({ sessionId, hostId });
    expect(type).toBe(SbxErrorType.CreateFailed);
    expect(info.state).toBe('failed');
    expect(env.recorder.started(sessionId)).toEqual(['placeSession', 'createSandbox', 'destroySandbox']);
  });

  test('a create whose host call failed part-way is retried and finishes', async () => {
    const hostId = env.id('h');
    let failures = 1;
    await env.startHost(hostId, () =>
      failures > 0
        ? {
            createSandbox: async () => {
              failures--;
              throw new Error('the host worker lost its zfs daemon mid-way');
            },
          }
        : {},
    );
    const sessionId = env.id('s');
    const { info } = await env.createSession({ sessionId, hostId });
    expect(info.state).toBe('active');
    expect(env.recorder.timeline(sessionId).filter((step) => !step.startsWith('placeSession'))).toEqual([
      'createSandbox:start',
      'createSandbox:fail',
      'createSandbox:start',
      'createSandbox:end',
    ]);
  });

  test("a sandbox that already exists is not destroyed: it may be another session's", async () => {
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({ createSandbox: hostRefuses(SbxErrorType.AlreadyExists, 'the dataset exists') }));
    const sessionId = env.id('s');
    const { type } = await failedCreate({ sessionId, hostId });
    expect(type).toBe(SbxErrorType.CreateFailed);
    expect(env.recorder.started(sessionId)).toEqual(['placeSession', 'createSandbox']);
  });

  test('a request the host refuses as invalid keeps its type, so the caller knows to change it', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({
      createSandbox: hostRefuses(SbxErrorType.InvalidArgument, 'quotaBytes is more than the host allows'),
    }));
    const { type } = await failedCreate({ sessionId: env.id('s'), hostId, quotaBytes: 1 << 30 });
    expect(type).toBe(SbxErrorType.InvalidArgument);
  });

  test('a failed create gives its fleet slot back', async () => {
    const fleetId = env.id('f');
    const hostId = env.id('h');
    const fleet = await env.startWorkflow('FleetWorkflow', fleetWorkflowId(fleetId), [{ fleetId }]);
    await fleet.signal(hostHeartbeatSignal, { hostId, maxSessions: 2, sessions: 0, healthy: true, templates: [] });
    // Placement as the control worker does it with a fleet: the fleet's place update reserves the slot.
    env.placement = {
      placeSession: async (raw) => {
        const placed = await fleet.executeUpdate(placeUpdate, { args: [{ sessionId: raw.sessionId, template: raw.template }] });
        return { hostId: placed.hostId, fleetId };
      },
    };
    await env.startHost(hostId, () => ({ createSandbox: hostRefuses(SbxErrorType.NoSpace, 'no space to start') }));
    const sessionId = env.id('s');
    await failedCreate({ sessionId });
    const status = await eventually(
      () => fleet.query(fleetStatusQuery),
      (s) => s.hosts[0]?.sessions.length === 0,
      'the fleet slot to be released',
    );
    expect(status.hosts[0]?.hostId).toBe(hostId);
  });
});

describe('warm claims', () => {
  const warmSandboxId = (hostId: string) => `warm-${hostId}`.slice(0, 63);

  test('a claimed warm sandbox makes the session active without creating anything; destroy removes that sandbox', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sandboxId = warmSandboxId(hostId);
    env.placement = {
      claimWarmSandbox: async () => ({
        hostId,
        warm: { sandboxId, hostId, readyAt: new Date(0).toISOString(), pool: 'sbx-warmpool-none' },
      }),
    };
    const sessionId = env.id('s');
    const { handle, info } = await env.createSession({ sessionId });
    expect(info).toMatchObject({ state: 'active', hostId, sandboxId, warmClaim: { pool: 'sbx-warmpool-none' } });
    expect(env.recorder.started(sandboxId)).toEqual([]);
    expect(env.recorder.started(sessionId)).toEqual(['claimWarmSandbox']);

    await handle.executeUpdate(execUpdate, { args: [{ toolCallId: 'on-warm', command: ['true'] }] });
    await handle.executeUpdate(destroyUpdate);
    // The destroy answers once the sandbox is killed; its removal follows before the workflow closes.
    await handle.result();
    expect(env.recorder.started(sandboxId)).toEqual(['execCommand', 'stopSandbox', 'destroySandbox']);
  });

  test('a claim that fails falls back to placement, which asks the pool again and gets the same sandbox', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sandboxId = warmSandboxId(hostId);
    const warm = { hostId, warm: { sandboxId, hostId, readyAt: new Date(0).toISOString(), pool: 'sbx-warmpool-none' } };
    env.placement = {
      // The claim may have landed before its answer was lost.
      claimWarmSandbox: async () => {
        throw ApplicationFailure.nonRetryable('the answer was lost', 'Lost');
      },
      placeSession: async (raw) => (raw.claim ? warm : { hostId }),
    };
    const sessionId = env.id('s');
    const { info } = await env.createSession({ sessionId });
    expect(info).toMatchObject({ state: 'active', sandboxId, warmClaim: { pool: 'sbx-warmpool-none' } });
    expect(env.recorder.inputOf('placeSession', sessionId)).toMatchObject({ sessionId, claim: true });
    expect(env.recorder.count('createSandbox', sandboxId) + env.recorder.count('createSandbox', sessionId)).toBe(0);
  });

  test('a failed claim that finds no warm sandbox creates the session cold', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    env.placement = {
      claimWarmSandbox: async () => {
        throw ApplicationFailure.nonRetryable('the pool is unreachable', 'Lost');
      },
      placeSession: async () => ({ hostId }),
    };
    const sessionId = env.id('s');
    const { info } = await env.createSession({ sessionId });
    expect(info).toMatchObject({ state: 'active', sandboxId: sessionId });
    expect(info.warmClaim).toBeUndefined();
    expect(env.recorder.started(sessionId)).toEqual(['claimWarmSandbox', 'placeSession', 'createSandbox']);
  });

  test('a claim that answers with a host but no warm sandbox (no fleet) places the cold create: no placement activity', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    env.placement = { claimWarmSandbox: async () => ({ hostId }) };
    const sessionId = env.id('s');
    const { info } = await env.createSession({ sessionId });
    expect(info).toMatchObject({ state: 'active', hostId, sandboxId: sessionId });
    expect(info.warmClaim).toBeUndefined();
    expect(env.recorder.started(sessionId)).toEqual(['claimWarmSandbox', 'createSandbox']);
  });

  test('an empty pool is not asked twice: placement is told not to claim', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    env.placement = { placeSession: async () => ({ hostId }) };
    const sessionId = env.id('s');
    const { info } = await env.createSession({ sessionId });
    expect(info.state).toBe('active');
    expect(env.recorder.inputOf('placeSession', sessionId)).toMatchObject({ sessionId, claim: false });
  });
});
