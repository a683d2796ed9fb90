import { z } from 'zod';
import { FleetId } from '../common/names.js';
import { lazySchema } from '../common/lazy-schema.js';

const ms = (what: string) => z.number().int(`${what} must be whole milliseconds`).positive(`${what} must be positive`);

/** A fleet's settings; defaults are the original system's (SEED-NOTES). */
export const FleetConfig = lazySchema(() =>
  z
    .object({
      fleetId: FleetId.default('default'),
      provisioner: z.enum(['local', 'ec2', 'static']).default('local'),
      minHosts: z.number().int().min(0).default(1),
      maxHosts: z.number().int().min(1).max(10_000).default(50),
      maxSessionsPerHost: z.number().int().min(1).max(10_000).default(10),
      /** Free slots to keep ready (or coming) beyond the sessions placed. */
      warmSlots: z.number().int().min(0).default(2),
      heartbeatIntervalMs: ms('heartbeatIntervalMs').default(15_000),
      heartbeatMissLimit: z.number().int().min(1).default(3),
      idleCooldownMs: ms('idleCooldownMs').default(10 * 60_000),
      drainTimeoutMs: ms('drainTimeoutMs').default(30 * 60_000),
      provisionTimeoutMs: ms('provisionTimeoutMs').default(5 * 60_000),
      maxConcurrentProvisions: z.number().int().min(1).default(3),
      reconcileIntervalMs: ms('reconcileIntervalMs').default(5_000),
      /** How long a `place` waits for capacity before failing. */
      placeTimeoutMs: ms('placeTimeoutMs').default(5 * 60_000),
    })
    .refine((c) => c.minHosts <= c.maxHosts, 'minHosts must not exceed maxHosts'),
);
export type FleetConfig = z.output<typeof FleetConfig>;
export type FleetConfigInput = z.input<typeof FleetConfig>;
