import type { PoolHealth } from '../../src/common/sandbox.js';
import { heartbeatHealth } from '../../src/workers/host-health.js';
import { chooseHost, hostsLost, type FleetHost } from '../../src/workflows/fleet-rules.js';
import { FleetConfig } from '../../src/protocol/fleet-config.js';

const pool = (status: PoolHealth['status'], state = 'ONLINE'): PoolHealth => ({
  status,
  state,
  capacity: 10,
  sizeBytes: 100,
  freeBytes: 90,
});

describe('the health a host reports in its heartbeat', () => {
  it('is healthy when zfs-fuse answers and the pool is online, degraded included (reserve lent out)', () => {
    expect(heartbeatHealth({ probe: { answers: true }, pool: pool('healthy') })).toEqual({ healthy: true });
    expect(heartbeatHealth({ probe: { answers: true }, pool: pool('degraded') })).toEqual({ healthy: true });
    expect(heartbeatHealth({ pool: pool('healthy') })).toEqual({ healthy: true });
  });

  it('is unhealthy, saying why, when zfs-fuse does not answer, the pool cannot be read in time, or is faulted', () => {
    expect(
      heartbeatHealth({ probe: { answers: false, detail: 'zpool list sbx did not answer within 5 s' }, pool: pool('healthy') }),
    ).toEqual({
      healthy: false,
      reason: 'zfs-fuse does not answer: zpool list sbx did not answer within 5 s',
    });
    expect(heartbeatHealth({ probe: { answers: true } })).toMatchObject({
      healthy: false,
      reason: expect.stringMatching(/not be read in time/),
    });
    expect(heartbeatHealth({ probe: { answers: true }, pool: pool('unhealthy', 'FAULTED') })).toEqual({
      healthy: false,
      reason: 'the pool is FAULTED',
    });
  });

  it('keeps new sessions off an unhealthy host that still heartbeats, without declaring it lost', () => {
    const config = FleetConfig.parse({ heartbeatIntervalMs: 1000, heartbeatMissLimit: 3 });
    const base = { state: 'ready' as const, maxSessions: 4, templates: [], since: 0, lastHeartbeat: 10_000, idleSince: 0 };
    const hung: FleetHost = { ...base, hostId: 'a', sessions: ['s1'], healthy: heartbeatHealth({ probe: { answers: false } }).healthy };
    const fine: FleetHost = { ...base, hostId: 'b', sessions: ['s2', 's3'], healthy: true };
    expect(chooseHost([hung, fine], 'busybox')?.hostId).toBe('b');
    expect(chooseHost([hung], 'busybox')).toBeUndefined();
    expect(hostsLost([hung, fine], config, 11_000)).toEqual([]);
  });
});
