import { join } from 'node:path';
import { z } from 'zod';
import { CONTROL_TASK_QUEUE, FleetId, HostId } from '../common/names.js';
import { MiB, QuotaBytes } from '../common/sandbox.js';

const GiB = 1024 * MiB;

/** Everything `sbx host` takes from flags and environment, validated in one place. */
export const HostConfig = z
  .object({
    hostId: HostId,
    temporalAddress: z.string().min(1).default('localhost:7233'),
    namespace: z.string().min(1).default('default'),
    storage: z.enum(['zfs', 'local-disk']).default('zfs'),
    /** ZFS dataset under which sessions and templates live; default `sbx/<hostId>` in pool `sbx`. */
    zfsRoot: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/, 'zfsRoot must be a dataset name such as sbx/host-1')
      .optional(),
    /** Parent dataset of the default zfsRoot (`<zfsParent>/<hostId>`). */
    zfsParent: z.string().min(1).default('sbx'),
    /** Host directory for local-disk storage, runsc state and the ZFS root's mountpoint. */
    dataRoot: z.string().startsWith('/', 'dataRoot must be an absolute path').default('/var/lib/sbx'),
    runtime: z.enum(['gvisor', 'none']).default('gvisor'),
    runscPlatform: z.string().optional(),
    /** Directory holding the sbx-files helper mounted into every sandbox; default the bootstrap's build. */
    helperDir: z.string().startsWith('/', 'helperDir must be an absolute path').optional(),
    /** The runsc binary; default the pinned build the bootstrap made, else `runsc` on PATH. */
    runscPath: z.string().min(1).optional(),
    /** Creates beyond this many sessions on the host are refused. */
    maxSessions: z.number().int().positive().default(50),
    /** Quota for sessions whose create request sets none: every session has one. */
    defaultQuotaBytes: QuotaBytes.default(10 * GiB),
    /** Largest quota a create may ask for; larger requests are refused before anything is made. */
    maxQuotaBytes: QuotaBytes.default(100 * GiB),
    /** Pool space sessions cannot fill, kept for snapshots, clones and rollbacks (0: none). */
    reserveBytes: z
      .number()
      .int()
      .min(0)
      .default(256 * MiB),
    /** The machine-wide lock on zfs changes; default `<dataRoot>/zfs.lock`. Hosts sharing a zfs-fuse daemon share it. */
    zfsLockPath: z.string().startsWith('/', 'zfsLockPath must be an absolute path').optional(),
    /** Longest wait for the zfs lock before a change fails with Busy. */
    zfsLockWaitMs: z.number().int().min(1000).default(60_000),
    /** Longest run of one zfs or zpool command. */
    zfsTimeoutMs: z.number().int().min(1000).default(120_000),
    /** How often reconcile runs after the one at start (0: only at start). */
    reconcileIntervalMs: z
      .number()
      .int()
      .min(0)
      .default(5 * 60_000),
    /** How long a session no workflow claims is kept, quarantined, before it is deleted. */
    quarantineGraceMs: z
      .number()
      .int()
      .min(0)
      .default(24 * 3600_000),
    /** Slots for lifecycle work (create, start, snapshot, rollback, pause, resume, destroy) on `sbx-host-<hostId>`. */
    maxConcurrentActivities: z.number().int().positive().max(1000).default(32),
    /** Slots for tool calls (exec, files, processes) on `sbx-host-<hostId>.tools`; lifecycle work never waits for them. */
    maxConcurrentToolCalls: z.number().int().positive().max(1000).default(64),
    /** The most tool calls one sandbox may run here at once, whatever its session asks for. */
    maxToolCallsPerSession: z.number().int().positive().max(1000).default(16),
    /** How long a stopping worker lets activities in flight finish before cancelling them. */
    shutdownGraceMs: z.number().int().min(0).default(30_000),
    /** The fleet this host registers with and heartbeats to; none for a standalone host. */
    fleetId: FleetId.optional(),
    heartbeatMs: z.number().int().min(100).default(15_000),
    /** The control workers' task queue: the fleet workflow starts there if this host's heartbeat is the first. */
    controlTaskQueue: z.string().min(1).default(CONTROL_TASK_QUEUE),
    /** Import the busybox template at start when it is missing (development and test fleets). */
    ensureBusybox: z.boolean().default(false),
  })
  .refine((c) => c.defaultQuotaBytes <= c.maxQuotaBytes, {
    message: 'defaultQuotaBytes must not exceed maxQuotaBytes',
    path: ['defaultQuotaBytes'],
  });
export type HostConfig = z.output<typeof HostConfig>;

export function zfsRootOf(config: HostConfig): string {
  return config.zfsRoot ?? `${config.zfsParent}/${config.hostId}`;
}

export function zfsLockPathOf(config: HostConfig): string {
  return config.zfsLockPath ?? join(config.dataRoot, 'zfs.lock');
}
