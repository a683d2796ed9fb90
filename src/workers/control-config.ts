import { z } from 'zod';
import { CONTROL_TASK_QUEUE, FleetId, HostId, TemplateName } from '../common/names.js';
import { WarmPoolConfig } from '../protocol/warm-pool-config.js';
import { Ec2ProvisionerFields } from '../activities/control/ec2-provisioner-fields.js';

/** Bounds `sbx control`'s memory: past this many open sessions, the cache, not the session count, sets it. */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 40;

/** `--warm-pool busybox=2`: a template and how many sandboxes of it to keep warm. */
export const WarmPoolSpec = z
  .string()
  .regex(/^[^=]+=\d+$/, 'a warm pool is <template>=<size>, e.g. busybox=2')
  .transform((spec) => ({ template: spec.slice(0, spec.indexOf('=')), size: Number(spec.slice(spec.indexOf('=') + 1)) }))
  .pipe(z.object({ template: TemplateName, size: WarmPoolConfig.shape.size.unwrap() }));

/** Everything `sbx control` takes from flags and environment, validated in one place. */
export const ControlConfig = z.object({
  temporalAddress: z.string().min(1).default('localhost:7233'),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(CONTROL_TASK_QUEUE),
  defaultHostId: HostId.optional(),
  fleet: z
    .object({
      fleetId: FleetId.default('default'),
      provisioner: z.enum(['local', 'ec2', 'static']).default('local'),
      /** FleetConfig fields (min/max hosts, warm slots, …), validated by FleetConfig. */
      settings: z.record(z.string(), z.number()).default({}),
      localStateDir: z.string().default('/var/lib/sbx/fleet'),
      terminateGraceMs: z.number().int().positive().default(30_000),
      staticHosts: z.array(HostId).default([]),
      /** Warm pools of this fleet, one per template. */
      warmPools: z
        .array(WarmPoolSpec)
        .default([])
        .refine((pools) => new Set(pools.map((p) => p.template)).size === pools.length, 'give each template one warm pool'),
      ec2: Ec2ProvisionerFields.omit({ temporalAddress: true, temporalNamespace: true, controlTaskQueue: true }).optional(),
    })
    .optional(),
  /**
   * Session and fleet workflows kept in this worker's memory (about 1.6 MB each); an evicted one replays
   * its history on its next call. 0: no cache, every workflow task replays.
   */
  maxCachedWorkflows: z
    .number()
    .int()
    .min(0)
    .max(100_000)
    .refine((n) => n !== 1, 'max cached workflows is 0 (no cache) or at least 2')
    .default(DEFAULT_MAX_CACHED_WORKFLOWS),
  /** Prometheus metrics on this port (0: none). */
  metricsPort: z.number().int().min(0).max(65_535).default(0),
});
export type ControlConfig = z.output<typeof ControlConfig>;
