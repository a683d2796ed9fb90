import type { PoolHealth } from '../common/sandbox.js';
import type { ZfsProbe } from '../activities/host/zfs-probe.js';

/**
 * What a host tells its fleet about itself: unhealthy hosts get no new sessions (fleet-rules
 * freeSlots) while their heartbeats keep them from being declared lost, so their sessions stay.
 */
export interface HostHealth {
  healthy: boolean;
  /** Why not, for the host's log. */
  reason?: string;
}

/**
 * The health a heartbeat reports. `probe` is the zfs-fuse probe (absent for storage without it);
 * `pool` is the pool's state, absent when it could not be read in time.
 */
export function heartbeatHealth(input: { probe?: ZfsProbe; pool?: PoolHealth }): HostHealth {
  if (input.probe && !input.probe.answers)
    return { healthy: false, reason: `zfs-fuse does not answer: ${input.probe.detail ?? 'no detail'}` };
  if (!input.pool) return { healthy: false, reason: 'the storage state could not be read in time' };
  if (input.pool.status === 'unhealthy') return { healthy: false, reason: `the pool is ${input.pool.state}` };
  return { healthy: true };
}
