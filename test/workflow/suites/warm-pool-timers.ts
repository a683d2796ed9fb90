import { expect, test } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';
import { fleetWorkflowId, warmPoolWorkflowId } from '../../../src/common/names.js';
import { DEFAULT_RESOURCES } from '../../../src/common/sandbox.js';
import { CLAIM_NOTICE_DELAY_MS } from '../../../src/workflows/warm-pool-rules.js';
import type { HostActivities } from '../../../src/activities/host/activities.js';
import type { WarmPoolConfigInput } from '../../../src/protocol/warm-pool-config.js';
import {
  claimUpdate,
  configureWarmPoolSignal,
  evictHostSignal,
  hostLostSignal,
  warmPoolStatusQuery,
  type WarmPoolStatus,
} from '../../../src/protocol/messages.js';
import { eventually } from '../harness/env.js';
import { env } from '../harness/current.js';
import { hostRefuses } from '../harness/stubs.js';
import { SbxErrorType } from '../../../src/common/errors.js';

/** A warm pool (and its fleet, which only receives slot releases here) placing on one stub host. */
async function startPool(settings: Partial<WarmPoolConfigInput>, host: () => Partial<HostActivities> = () => ({})) {
  const fleetId = env.id('f');
  const hostId = env.id('h');
  await env.startHost(hostId, host);
  env.placement = { placeWarmSandbox: async () => ({ hostId, fleetId }) };
  await env.startWorkflow('FleetWorkflow', fleetWorkflowId(fleetId), [{ fleetId }]);
  const pool = await env.startWorkflow('WarmPoolWorkflow', warmPoolWorkflowId(fleetId, 'busybox'), [{ fleetId, template: 'busybox' }]);
  await pool.signal(configureWarmPoolSignal, { hostTimeoutMs: 1000, ...settings });
  return { pool, hostId, fleetId };
}

const until = (pool: WorkflowHandle, ok: (s: WarmPoolStatus) => boolean, what: string) =>
  eventually(() => pool.query(warmPoolStatusQuery), ok, what);

test('a pool fills to its size with created, started sandboxes', async () => {
  const { pool, hostId } = await startPool({ size: 2 });
  const full = await until(pool, (s) => s.ready === 2, 'the pool to fill');
  expect(full.sandboxes.every((s) => s.hostId === hostId && s.state === 'ready')).toBe(true);
  for (const { sandboxId } of full.sandboxes)
    expect(env.recorder.started(sandboxId)).toEqual(['placeWarmSandbox', 'createSandbox', 'startSandbox']);
});

test('a claim hands a ready sandbox to the session and the pool refills behind it', async () => {
  const { pool, hostId } = await startPool({ size: 1 });
  const [ready] = (await until(pool, (s) => s.ready === 1, 'the pool to fill')).sandboxes;
  const sessionId = env.id('s');
  const claim = await pool.executeUpdate(claimUpdate, { args: [{ sessionId, resources: DEFAULT_RESOURCES }] });
  expect(claim).toMatchObject({ sandboxId: ready!.sandboxId, hostId });
  // The claim answers first; the host records the session as the owner right after.
  const handed = await eventually(async () => env.recorder.inputOf('transferSandbox', ready!.sandboxId), Boolean, 'the hand-over');
  expect(handed).toEqual({ sandboxId: ready!.sandboxId, sessionId });

  const refilled = await until(pool, (s) => s.ready === 1 && s.claimed === 1, 'the refill');
  expect(refilled.sandboxes.find((s) => s.state === 'ready')?.sandboxId).not.toBe(ready!.sandboxId);
});

test('a claim whose hand-over the host refuses removes the sandbox and fails the session that got it', async () => {
  const { pool, hostId, fleetId } = await startPool({ size: 1 }, () => ({
    transferSandbox: hostRefuses(SbxErrorType.NotOwner, 'the record belongs to another workflow'),
  }));
  const [ready] = (await until(pool, (s) => s.ready === 1, 'the pool to fill')).sandboxes;
  env.placement.claimWarmSandbox = async (input) => {
    const claim = await pool.executeUpdate(claimUpdate, { args: [{ sessionId: input.sessionId, resources: DEFAULT_RESOURCES }] });
    return claim && { hostId: claim.hostId, fleetId, warm: { ...claim, pool: pool.workflowId } };
  };
  const sessionId = env.id('s');
  const { handle, info } = await env.createSession({ sessionId });
  expect(info).toMatchObject({ state: 'active', sandboxId: ready!.sandboxId, hostId });
  await eventually(
    () => env.info(handle),
    (i) => i.state === 'failed',
    'the session to learn its sandbox is gone',
  );
  const after = await until(pool, (s) => !s.sandboxes.some((x) => x.sandboxId === ready!.sandboxId), 'the removal');
  expect(after.counters.handoverFailures).toBe(1);
  expect(env.recorder.started(ready!.sandboxId)).toContain('destroySandbox');
});

/** The pool's events from accepting the claim `updateId` on: its timers and the refills it scheduled, in order. */
async function eventsAfterClaim(pool: WorkflowHandle, updateId: string): Promise<string[]> {
  const events = (await pool.fetchHistory()).events ?? [];
  const claimed = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId === updateId);
  expect(claimed).toBeGreaterThanOrEqual(0);
  return events.slice(claimed + 1).flatMap((e) => {
    if (e.timerStartedEventAttributes) return ['timer started'];
    if (e.timerFiredEventAttributes) return ['timer fired'];
    return e.activityTaskScheduledEventAttributes?.activityType?.name === 'placeWarmSandbox' ? ['refill'] : [];
  });
}

test('a claim that leaves a ready sandbox refills after a pause, so the new sandbox does not compete with the first command', async () => {
  const { pool } = await startPool({ size: 2 });
  await until(pool, (s) => s.ready === 2, 'the pool to fill');
  await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }], updateId: 'first' });
  await until(pool, (s) => s.ready === 2 && s.claimed === 1, 'the refill');
  const after = await eventsAfterClaim(pool, 'first');
  expect(after.indexOf('refill')).toBeGreaterThan(after.indexOf('timer fired'));
  expect(after.indexOf('timer fired')).toBeGreaterThan(after.indexOf('timer started'));
  expect(after.indexOf('timer started')).toBeGreaterThanOrEqual(0);
});

test('a claim that empties the pool refills at once: the next create would be cold', async () => {
  const { pool } = await startPool({ size: 2 });
  await until(pool, (s) => s.ready === 2, 'the pool to fill');
  await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }], updateId: 'first' });
  await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }], updateId: 'second' });
  await until(pool, (s) => s.ready === 2 && s.claimed === 2, 'the refill');
  const after = await eventsAfterClaim(pool, 'second');
  expect(after.indexOf('refill')).toBeGreaterThanOrEqual(0);
  expect(after.slice(0, after.indexOf('refill'))).not.toContain('timer fired');
});

test('the fleet hears of a claim a moment after the hand-over, not during the first command', async () => {
  const { pool } = await startPool({ size: 1 });
  await until(pool, (s) => s.ready === 1, 'the pool to fill');
  await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }], updateId: 'claim' });
  const notice = await eventually(
    async () => {
      const events = (await pool.fetchHistory()).events ?? [];
      const accepted = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId === 'claim');
      const told = events.find((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'warmClaimed');
      return accepted && told && tsToMs(told.eventTime) - tsToMs(accepted.eventTime);
    },
    (ms) => ms !== undefined,
    'the notice to the fleet',
  );
  expect(notice).toBeGreaterThanOrEqual(CLAIM_NOTICE_DELAY_MS);
});

test('a claim asking for other resources gets null: the session is made cold', async () => {
  const { pool } = await startPool({ size: 1 });
  await until(pool, (s) => s.ready === 1, 'the pool to fill');
  const claim = await pool.executeUpdate(claimUpdate, {
    args: [{ sessionId: env.id('s'), resources: { ...DEFAULT_RESOURCES, cpus: DEFAULT_RESOURCES.cpus + 1 } }],
  });
  expect(claim).toBeNull();
  expect((await pool.query(warmPoolStatusQuery)).ready).toBe(1);
});

test('a refill that fails backs off, cleans up, and fills the pool once the host recovers', async () => {
  let failures = 1;
  const { pool, hostId } = await startPool({ size: 1, maxConcurrentWarming: 1 }, () =>
    failures > 0 ? { createSandbox: async () => (failures--, hostRefuses(SbxErrorType.NoSpace, 'the pool is full')()) } : {},
  );
  const full = await until(pool, (s) => s.ready === 1, 'the pool to fill after the failures');
  expect(full.counters.warmFailures).toBe(1);
  const failed = env.recorder.calls
    .filter((c) => c.where === hostId && c.activity === 'createSandbox' && c.phase === 'fail')
    .map((c) => (c.input as { sandboxId: string }).sandboxId);
  expect(failed).toHaveLength(1);
  for (const sandboxId of failed) expect(env.recorder.started(sandboxId)).toEqual(['placeWarmSandbox', 'createSandbox', 'destroySandbox']);
});

test('a pool shrunk to zero removes its ready sandboxes', async () => {
  const { pool } = await startPool({ size: 2 });
  const full = await until(pool, (s) => s.ready === 2, 'the pool to fill');
  await pool.signal(configureWarmPoolSignal, { hostTimeoutMs: 1000, size: 0 });
  const empty = await until(pool, (s) => s.sandboxes.length === 0, 'the pool to empty');
  expect(empty.counters.removed).toBe(2);
  for (const { sandboxId } of full.sandboxes) expect(env.recorder.count('destroySandbox', sandboxId)).toBe(1);
});

test.each([
  ['drained', evictHostSignal, 1],
  ['lost', hostLostSignal, 0],
] as const)('a host %s and then placed on again holds warm sandboxes again', async (_, leave, removed) => {
  const { pool, hostId } = await startPool({ size: 1 });
  await until(pool, (s) => s.ready === 1, 'the pool to fill');
  await pool.signal(leave, { hostId });
  // The fleet places the refill there: the host came back (a lost one heartbeats again, a drain ended).
  const refilled = await until(pool, (s) => s.ready === 1, 'the pool to fill on the host again');
  expect(refilled.sandboxes.map((s) => ({ hostId: s.hostId, state: s.state }))).toEqual([{ hostId, state: 'ready' }]);
  expect(refilled.counters.removed ?? 0).toBe(removed);
  const claim = await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }] });
  expect(claim?.hostId).toBe(hostId);
});

test('a sandbox placed before its host was evicted is removed once made; the next placement there is kept', async () => {
  const { pool, hostId, fleetId } = await startPool({ size: 1 });
  await until(pool, (s) => s.ready === 1, 'the pool to fill');
  let placeNow!: () => void;
  const placing = new Promise<void>((resolve) => (placeNow = resolve));
  env.placement = { placeWarmSandbox: async () => placing.then(() => ({ hostId, fleetId })) };
  // The claim empties the pool, whose refill asks for a placement at once; the eviction overtakes the answer.
  await pool.executeUpdate(claimUpdate, { args: [{ sessionId: env.id('s'), resources: DEFAULT_RESOURCES }] });
  await until(pool, (s) => s.warming === 1, 'the refill to ask for a placement');
  await pool.signal(evictHostSignal, { hostId });
  placeNow();
  const after = await until(pool, (s) => s.ready === 1, 'the pool to fill again');
  expect(after.counters.removed).toBe(1);
  expect(after.counters.warmed).toBe(3);
});
