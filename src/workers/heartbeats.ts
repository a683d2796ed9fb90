import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Storage } from '../activities/host/backends.js';
import { probeZfsFuse, type ZfsProbe } from '../activities/host/zfs-probe.js';
import { fleetWorkflowId } from '../common/names.js';
import { hostHeartbeatSignal } from '../protocol/messages.js';
import { zfsRootOf, type HostConfig } from './host-config.js';
import { heartbeatHealth } from './host-health.js';

/** Longest wait for each zfs-fuse probe request, and for the storage reads of one heartbeat. */
const PROBE_TIMEOUT_MS = 5_000;
const STORAGE_READ_TIMEOUT_MS = 10_000;

/**
 * Registers with the fleet and heartbeats on an interval (signal-with-start: the first host may
 * arrive before any control worker). A failed heartbeat is logged and retried at the next tick.
 * zfs-fuse is probed first, bounded: a hung daemon makes the host report itself unhealthy (the fleet
 * places nothing here) instead of falling silent (the fleet would declare it lost, and its sessions
 * with it). While zfs does not answer, the last session counts stand.
 */
export function startHeartbeats(
  config: HostConfig,
  storage: Storage,
  logger: Logger,
  // The pool itself is asked by storage.health() in the same beat: one `zpool list`, not two.
  probe: () => Promise<ZfsProbe> = () => probeZfsFuse({ root: zfsRootOf(config), timeoutMs: PROBE_TIMEOUT_MS, askPool: false }),
): { stop(): Promise<void> } {
  const fleetId = config.fleetId!;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let counts = { maxSessions: config.maxSessions, sessions: 0 };
  let wasHealthy = true;
  const connecting = Connection.connect({ address: config.temporalAddress });
  // One client for every beat (a client per beat was garbage for each tick).
  const client = connecting.then((connection) => new Client({ connection, namespace: config.namespace }));
  // Awaited only after the probe: a failed connect must not count as unhandled meanwhile (each beat reports it).
  client.catch(() => undefined);
  const readStorage = async () => {
    const [pool, sessions, quarantined] = await Promise.all([storage.health(), storage.listSandboxes(), storage.quarantined()]);
    // Quarantined sandboxes hold slots no session can use until reconcile deletes them.
    counts = { maxSessions: Math.max(0, config.maxSessions - quarantined.size), sessions: sessions.length - quarantined.size };
    return pool;
  };
  const beat = async () => {
    const zfs = storage.kind === 'zfs' ? await probe() : undefined;
    const pool = zfs && !zfs.answers ? undefined : await withTimeout(readStorage(), STORAGE_READ_TIMEOUT_MS);
    const health = heartbeatHealth({ probe: zfs, pool });
    if (health.healthy !== wasHealthy) {
      if (health.healthy) logger.info({ fleetId }, 'host healthy again: the fleet may place sessions here');
      else logger.error({ fleetId, reason: health.reason }, 'host unhealthy: the fleet places no sessions here until it recovers');
      wasHealthy = health.healthy;
    }
    await (
      await client
    ).workflow.signalWithStart('FleetWorkflow', {
      workflowId: fleetWorkflowId(fleetId),
      taskQueue: config.controlTaskQueue,
      args: [{ fleetId }],
      signal: hostHeartbeatSignal,
      signalArgs: [{ hostId: config.hostId, ...counts, healthy: health.healthy, templates: [] }],
    });
  };
  const tick = () => {
    inFlight = beat()
      .catch((err: Error) => logger.warn({ fleetId, error: err.message }, 'heartbeat failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, config.heartbeatMs);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      await (await connecting).close();
    },
  };
}

/** The value, or undefined when it takes longer than `ms` (the work itself goes on, bounded elsewhere). */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
