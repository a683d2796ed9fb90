import { z } from 'zod';
import { FleetId, TemplateName } from '../common/names.js';
import { DEFAULT_RESOURCES, QuotaBytes, Resources } from '../common/sandbox.js';
import { lazySchema } from '../common/lazy-schema.js';

/**
 * A warm pool's settings. Its sandboxes are made with these resources and quota; a session asking
 * for others is created cold.
 */
export const WarmPoolConfig = lazySchema(() =>
  z.object({
    fleetId: FleetId.default('default'),
    template: TemplateName.default('busybox'),
    /** Sandboxes kept created, started and unassigned; 0 empties the pool. */
    size: z.number().int().min(0, 'size must not be negative').max(1000, 'size must be at most 1000').default(0),
    resources: Resources.default(DEFAULT_RESOURCES),
    quotaBytes: QuotaBytes.optional(),
    /** Sandboxes being made at once, so a refill does not crowd out sessions' own creates. */
    maxConcurrentWarming: z.number().int().min(1).max(100).default(2),
    /** How long a host may take to pick up a task before the pool counts it as gone. */
    hostTimeoutMs: z.number().int().min(1000).default(60_000),
  }),
);
export type WarmPoolConfig = z.output<typeof WarmPoolConfig>;
export type WarmPoolConfigInput = z.input<typeof WarmPoolConfig>;
