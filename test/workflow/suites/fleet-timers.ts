import { expect, test } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import { SbxErrorType } from '../../../src/common/errors.js';
import { fleetWorkflowId } from '../../../src/common/names.js';
import type { FleetConfigInput } from '../../../src/protocol/fleet-config.js';
import {
  configureFleetSignal,
  fleetStatusQuery,
  hostHeartbeatSignal,
  placeUpdate,
  warmClaimedSignal,
  type FleetStatus,
} from '../../../src/protocol/messages.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';

/** Fast clocks: the fleet reconciles five times a second. */
const fast: Partial<FleetConfigInput> = { reconcileIntervalMs: 200, heartbeatIntervalMs: 500, heartbeatMissLimit: 2 };

async function startFleet(settings: Partial<FleetConfigInput>): Promise<{ fleet: WorkflowHandle; fleetId: string }> {
  const fleetId = env.id('f');
  const fleet = await env.startWorkflow('FleetWorkflow', fleetWorkflowId(fleetId), [{ fleetId }]);
  await fleet.signal(configureFleetSignal, { ...fast, ...settings, fleetId });
  return { fleet, fleetId };
}

const heartbeat = (fleet: WorkflowHandle, hostId: string, extra: { sessions?: number; instanceId?: string } = {}) =>
  fleet.signal(hostHeartbeatSignal, {
    hostId,
    maxSessions: 2,
    sessions: extra.sessions ?? 0,
    healthy: true,
    templates: [],
    instanceId: extra.instanceId,
  });

const status = (fleet: WorkflowHandle) => fleet.query(fleetStatusQuery);
const until = (fleet: WorkflowHandle, ok: (s: FleetStatus) => boolean, what: string) => eventually(() => status(fleet), ok, what);
/** The hosts launched for `fleetId`, in order. */
const launched = (fleetId: string) =>
  env.recorder.calls
    .filter((c) => c.activity === 'launchHost' && c.phase === 'end' && (c.input as { fleetId: string }).fleetId === fleetId)
    .map((c) => (c.input as { hostId: string }).hostId);

test('a fleet below minHosts launches a host, which turns ready when it heartbeats', async () => {
  const { fleet, fleetId } = await startFleet({ minHosts: 1, warmSlots: 0 });
  const booting = await until(fleet, (s) => s.hosts.length === 1, 'a host to be launched');
  expect(booting.hosts[0]).toMatchObject({ state: 'provisioning' });
  const hostId = booting.hosts[0]!.hostId;
  expect(
    await eventually(
      async () => launched(fleetId),
      (ids) => ids.length > 0,
      'the launch',
    ),
  ).toEqual([hostId]);

  await heartbeat(fleet, hostId);
  const ready = await until(fleet, (s) => s.hosts[0]?.state === 'ready', 'the host to be ready');
  expect(ready.counters.provisionsSucceeded).toBe(1);
  expect(ready.hosts).toHaveLength(1);
});

test('a placement waiting for capacity scales the fleet up and lands on the new host', async () => {
  const { fleet, fleetId } = await startFleet({ minHosts: 0, warmSlots: 0 });
  const sessionId = env.id('s');
  const placing = fleet.executeUpdate(placeUpdate, { args: [{ sessionId, template: 'busybox' }] });
  const hostId = (
    await eventually(
      async () => launched(fleetId),
      (ids) => ids.length > 0,
      'a launch for the waiting placement',
    )
  )[0]!;
  await heartbeat(fleet, hostId);
  expect(await placing).toEqual({ hostId });
  expect((await status(fleet)).hosts[0]?.sessions).toEqual([sessionId]);
});

test('a host that never heartbeats after launch is terminated at the provision timeout and replaced', async () => {
  const { fleet, fleetId } = await startFleet({ minHosts: 1, warmSlots: 0, provisionTimeoutMs: 1000 });
  const after = await until(
    fleet,
    (s) => (s.counters['terminations.provisionTimeout'] ?? 0) >= 1 && s.hosts.length === 1,
    'the provision timeout',
  );
  const first = launched(fleetId)[0]!;
  expect(env.recorder.inputOf('terminateHost', `i-${first}`)).toEqual({ instanceId: `i-${first}` });
  expect(after.hosts[0]?.hostId).not.toBe(first);
  expect(after.hosts[0]?.state).toBe('provisioning');
});

test('an idle host past the cooldown is drained and terminated', async () => {
  const { fleet } = await startFleet({ minHosts: 0, warmSlots: 0, idleCooldownMs: 1000 });
  const hostId = env.id('h');
  const instanceId = `i-${hostId}`;
  await heartbeat(fleet, hostId, { instanceId });
  await until(fleet, (s) => s.hosts[0]?.state === 'ready', 'the host to register');
  // Keep heartbeating so the host is idle, not lost.
  const beats = setInterval(() => void heartbeat(fleet, hostId, { instanceId }).catch(() => undefined), 200);
  try {
    const gone = await until(fleet, (s) => s.hosts.length === 0, 'the idle host to be scaled down');
    expect(gone.counters).toMatchObject({ drains: 1, 'terminations.drained': 1 });
    expect(env.recorder.inputOf('terminateHost', instanceId)).toEqual({ instanceId });
  } finally {
    clearInterval(beats);
  }
});

test('a host holding a session is not scaled down', async () => {
  const { fleet } = await startFleet({ minHosts: 0, warmSlots: 0, idleCooldownMs: 500 });
  const hostId = env.id('h');
  await heartbeat(fleet, hostId);
  await fleet.executeUpdate(placeUpdate, { args: [{ sessionId: env.id('s'), template: 'busybox' }] });
  const beats = setInterval(() => void heartbeat(fleet, hostId, { sessions: 1 }).catch(() => undefined), 200);
  try {
    // Three cooldowns pass.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const s = await status(fleet);
    expect(s.hosts).toHaveLength(1);
    expect(s.hosts[0]?.state).toBe('ready');
    expect(s.counters.drains).toBeUndefined();
  } finally {
    clearInterval(beats);
  }
});

test('a claim reported for a host the fleet is draining for idleness keeps the host', async () => {
  // The pool hands a warm sandbox out while the fleet, not yet told, drains its idle host: the
  // session that claimed it must not lose its host at the drain timeout.
  const { fleet } = await startFleet({ minHosts: 0, warmSlots: 0, idleCooldownMs: 500, drainTimeoutMs: 1500 });
  // The fleet drains a host holding only warm sandboxes when another host takes their place.
  const [hostId, spare] = [env.id('h'), env.id('h')];
  await heartbeat(fleet, hostId);
  const sandboxId = env.id('warm');
  await fleet.executeUpdate(placeUpdate, { args: [{ sessionId: sandboxId, template: 'busybox', warmPool: env.id('pool'), hostId }] });
  await heartbeat(fleet, spare);
  const beats = setInterval(() => {
    void heartbeat(fleet, hostId, { sessions: 1 }).catch(() => undefined);
    void heartbeat(fleet, spare).catch(() => undefined);
  }, 200);
  const held = (s: FleetStatus) => s.hosts.find((h) => h.hostId === hostId);
  try {
    await until(fleet, (s) => held(s)?.state === 'draining', 'the idle host to start draining');
    const sessionId = env.id('s');
    await fleet.signal(warmClaimedSignal, { sandboxId, hostId, sessionId });
    await until(fleet, (s) => held(s)?.state === 'ready' && held(s)!.sessions.includes(sandboxId), 'the drain to end, the slot kept');
    // Past the drain timeout, and more cooldowns: the host holds a session, so it stays.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const s = await status(fleet);
    expect([held(s)].map((h) => ({ hostId: h?.hostId, state: h?.state, sessions: h?.sessions }))).toEqual([
      { hostId, state: 'ready', sessions: [sandboxId] },
    ]);
    expect(s.counters['terminations.drainTimeout']).toBeUndefined();
  } finally {
    clearInterval(beats);
  }
});

test.each([null, undefined, 'claimed', { sandboxId: 7 }])(
  'a warmClaimed signal with input %p is ignored: the fleet goes on placing',
  async (input) => {
    // Anyone who can signal the fleet can send anything; a handler that threw would fail every workflow task after.
    const { fleet } = await startFleet({ minHosts: 0, warmSlots: 0 });
    const hostId = env.id('h');
    await heartbeat(fleet, hostId);
    await fleet.signal(warmClaimedSignal, input as never);
    const placing = fleet.executeUpdate(placeUpdate, { args: [{ sessionId: env.id('s'), template: 'busybox' }] });
    const wedged = new Promise((resolve) => setTimeout(() => resolve('no answer in 10 s'), 10_000));
    expect(await Promise.race([placing, wedged])).toEqual({ hostId });
  },
);

test('a placement finds no capacity within placeTimeoutMs when the fleet is at maxHosts', async () => {
  const { fleet, fleetId } = await startFleet({ minHosts: 0, maxHosts: 1, warmSlots: 0, placeTimeoutMs: 1000 });
  const hostId = env.id('h');
  await heartbeat(fleet, hostId);
  for (const n of [1, 2]) await fleet.executeUpdate(placeUpdate, { args: [{ sessionId: env.id(`s${n}`), template: 'busybox' }] });
  const beats = setInterval(() => void heartbeat(fleet, hostId, { sessions: 2 }).catch(() => undefined), 200);
  try {
    expect(await failureType(fleet.executeUpdate(placeUpdate, { args: [{ sessionId: env.id('s3'), template: 'busybox' }] }))).toBe(
      SbxErrorType.NoCapacity,
    );
    expect(launched(fleetId)).toEqual([]);
  } finally {
    clearInterval(beats);
  }
});

test('a host whose heartbeats stop is declared lost, and its sessions fail as host-lost', async () => {
  // A 4 s miss window: a loaded machine can hold the 200 ms beats back for a second while the session is made.
  const { fleet, fleetId } = await startFleet({ minHosts: 0, warmSlots: 0, heartbeatIntervalMs: 1000, heartbeatMissLimit: 4 });
  const hostId = env.id('h');
  await env.startHost(hostId);
  const beats = setInterval(() => void heartbeat(fleet, hostId, { sessions: 1 }).catch(() => undefined), 200);
  await heartbeat(fleet, hostId);
  env.placement = {
    placeSession: async (raw) => ({
      ...(await fleet.executeUpdate(placeUpdate, { args: [{ sessionId: raw.sessionId, template: raw.template }] })),
      fleetId,
    }),
  };
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, idleTimeoutMs: 0 }).finally(() => clearInterval(beats));

  const info = await eventually(
    () => env.info(handle),
    (i) => i.state === 'failed',
    'the session to learn its host is lost',
  );
  expect(info.failureReason).toBe('host-lost');
  const s = await status(fleet);
  expect(s.counters.hostsLost).toBe(1);
  expect(s.hosts.find((h) => h.hostId === hostId)).toBeUndefined();
});
