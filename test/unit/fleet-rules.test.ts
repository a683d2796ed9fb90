import { FleetConfig } from '../../src/protocol/fleet-config.js';
import {
  busySlots,
  capacity,
  chooseHost,
  freeSlots,
  hostsLost,
  hostsToDrain,
  hostsToProvision,
  hostsToTerminate,
  warmCount,
  type FleetHost,
} from '../../src/workflows/fleet-rules.js';

const config = FleetConfig.parse({ minHosts: 1, maxHosts: 5, maxSessionsPerHost: 4, warmSlots: 3, maxConcurrentProvisions: 3 });

function host(hostId: string, patch: Partial<FleetHost> = {}): FleetHost {
  return {
    hostId,
    state: 'ready',
    maxSessions: 4,
    sessions: [],
    healthy: true,
    templates: [],
    since: 0,
    lastHeartbeat: 0,
    idleSince: 0,
    ...patch,
  };
}

describe('capacity: one notion for placement, scale-up and scale-down', () => {
  it('counts free slots on ready healthy hosts and expected slots of provisioning ones, nothing else', () => {
    const hosts = [
      host('a', { sessions: ['s1'] }),
      host('b', { state: 'provisioning' }),
      host('c', { healthy: false }),
      host('d', { state: 'draining' }),
      host('e', { state: 'lost' }),
    ];
    expect(capacity(hosts)).toBe(3 + 4);
  });
});

describe('freeSlots', () => {
  it('counts the sandboxes a host reports holding beyond those placed there', () => {
    expect(freeSlots(host('a', { sessions: ['s1'], untracked: 2 }))).toBe(1);
    expect(freeSlots(host('a', { sessions: ['s1', 's2'], untracked: 5 }))).toBe(0);
    expect(capacity([host('a', { untracked: 4 })])).toBe(0);
  });

  it('never drains or terminates a host for empty while it holds sandboxes the fleet forgot', () => {
    expect(busySlots(host('a', { untracked: 1 }))).toBe(1);
    expect(hostsToDrain([host('a', { untracked: 1 }), host('b')], config, 10 * config.idleCooldownMs)).not.toContain('a');
    expect(hostsToTerminate([host('a', { state: 'draining', since: 0, untracked: 1 })], config, 1)).toEqual([]);
  });
});

describe('chooseHost', () => {
  it('picks the host with the most free slots, ties to the longest idle', () => {
    const hosts = [host('a', { sessions: ['x'] }), host('b', { idleSince: 50 }), host('c', { idleSince: 10 })];
    expect(chooseHost(hosts, 'busybox')!.hostId).toBe('c');
  });

  it('never routes to a host that is still booting, unhealthy, draining or full (original defect 7)', () => {
    const hosts = [
      host('booting', { state: 'provisioning' }),
      host('sick', { healthy: false }),
      host('leaving', { state: 'draining' }),
      host('full', { sessions: ['1', '2', '3', '4'] }),
    ];
    expect(chooseHost(hosts, 'busybox')).toBeUndefined();
  });

  it('respects the templates a host reports', () => {
    expect(chooseHost([host('a', { templates: ['debian'] })], 'busybox')).toBeUndefined();
    expect(chooseHost([host('a', { templates: ['debian', 'busybox'] })], 'busybox')!.hostId).toBe('a');
  });
});

describe('hostsToProvision', () => {
  it('provisions enough hosts at once to cover the deficit', () => {
    const full = [host('a', { sessions: ['1', '2', '3', '4'] })];
    expect(hostsToProvision(full, config, 0)).toBe(1);
    expect(hostsToProvision(full, config, 6)).toBe(3);
  });

  it('counts hosts still booting, so the warm pool never overshoots while they boot (original defect 7)', () => {
    const booting = [host('a', { sessions: ['1', '2', '3', '4'] }), host('b', { state: 'provisioning' })];
    expect(hostsToProvision(booting, config, 0)).toBe(0);
    expect(capacity(booting)).toBeLessThanOrEqual(config.warmSlots + config.maxSessionsPerHost);
  });

  it('stays within maxHosts and the concurrent-provision limit', () => {
    const four = ['a', 'b', 'c', 'd'].map((id) => host(id, { sessions: ['1', '2', '3', '4'] }));
    expect(hostsToProvision(four, config, 100)).toBe(1);
    expect(hostsToProvision([], config, 100)).toBe(3);
  });

  it('brings the fleet up to minHosts even with enough slots', () => {
    expect(hostsToProvision([], FleetConfig.parse({ minHosts: 2, warmSlots: 0 }), 0)).toBe(2);
  });
});

describe('hostsToDrain', () => {
  const cfg = FleetConfig.parse({ minHosts: 1, maxSessionsPerHost: 4, warmSlots: 4, idleCooldownMs: 1000 });

  it('drains idle hosts past the cooldown while min hosts and warm slots remain', () => {
    const hosts = [host('a', { idleSince: 0 }), host('b', { idleSince: 100 }), host('c', { idleSince: 5000 })];
    expect(hostsToDrain(hosts, cfg, 2000)).toEqual(['a', 'b']);
    expect(hostsToDrain(hosts, { ...cfg, warmSlots: 5 }, 2000)).toEqual(['a']);
    expect(hostsToDrain(hosts, { ...cfg, minHosts: 3 }, 2000)).toEqual([]);
  });

  it('keeps hosts with sessions and those inside the cooldown', () => {
    const hosts = [host('a', { sessions: ['s'], idleSince: undefined }), host('b', { idleSince: 1500 }), host('c', { idleSince: 1800 })];
    expect(hostsToDrain(hosts, cfg, 2000)).toEqual([]);
  });
});

describe('warm sandboxes on a host', () => {
  /** A host holding the given unclaimed warm sandboxes (as slots and `warm` entries), plus `patch.sessions`. */
  const warmHost = (hostId: string, warmIds: string[], patch: Partial<FleetHost> = {}) =>
    host(hostId, {
      ...patch,
      sessions: [...warmIds, ...(patch.sessions ?? [])],
      warm: Object.fromEntries(warmIds.map((id) => [id, 'sbx-warmpool-default-busybox'])),
    });

  it('warmCount counts unclaimed warm sandboxes, 0 without any', () => {
    expect(warmCount(host('a'))).toBe(0);
    expect(warmCount(warmHost('a', ['warm-1', 'warm-2']))).toBe(2);
    expect(warmCount(host('a', { sessions: ['warm-1'], claimed: { 'warm-1': 's1' } }))).toBe(0);
  });

  it('busySlots counts slots held by sessions, not by unclaimed warm sandboxes', () => {
    expect(busySlots(host('a'))).toBe(0);
    expect(busySlots(host('a', { sessions: ['s1', 's2'] }))).toBe(2);
    expect(busySlots(warmHost('a', ['warm-1', 'warm-2']))).toBe(0);
    expect(busySlots(warmHost('a', ['warm-1'], { sessions: ['s1'] }))).toBe(1);
    // A claimed warm sandbox is a session's now.
    expect(busySlots(host('a', { sessions: ['warm-1'], claimed: { 'warm-1': 's1' } }))).toBe(1);
  });

  it('warm sandboxes still take slots for placement and capacity', () => {
    const hosts = [warmHost('a', ['warm-1', 'warm-2', 'warm-3'])];
    expect(capacity(hosts)).toBe(1);
    expect(chooseHost([warmHost('a', ['warm-1', 'warm-2', 'warm-3', 'warm-4'])], 'busybox')).toBeUndefined();
  });

  describe('hostsToDrain', () => {
    const cfg = FleetConfig.parse({ minHosts: 1, maxSessionsPerHost: 4, warmSlots: 4, idleCooldownMs: 1000 });

    it('drains a host holding only unclaimed warm sandboxes, as idle', () => {
      const hosts = [warmHost('a', ['warm-1', 'warm-2'], { idleSince: 0 }), host('b', { idleSince: 5000 }), host('c', { idleSince: 5000 })];
      expect(hostsToDrain(hosts, cfg, 2000)).toEqual(['a']);
    });

    it('counts its warm sandboxes against the warm slots it would take away', () => {
      // capacity 2 (a) + 4 (b) = 6; draining a takes its 2 free slots and 2 more to re-home its warm sandboxes.
      const hosts = [warmHost('a', ['warm-1', 'warm-2'], { idleSince: 0 }), host('b', { idleSince: 5000 })];
      expect(hostsToDrain(hosts, cfg, 2000)).toEqual([]);
      expect(hostsToDrain(hosts, { ...cfg, warmSlots: 2 }, 2000)).toEqual(['a']);
    });

    it('counts warm sandboxes across several drained hosts', () => {
      // capacity 3 + 3 + 4 = 10; each of a, b costs 4; warmSlots 2 allows a (→6) and b (→2).
      const hosts = [
        warmHost('a', ['warm-1'], { idleSince: 0 }),
        warmHost('b', ['warm-2'], { idleSince: 10 }),
        host('c', { idleSince: 5000 }),
      ];
      expect(hostsToDrain(hosts, { ...cfg, warmSlots: 2 }, 2000)).toEqual(['a', 'b']);
      expect(hostsToDrain(hosts, { ...cfg, warmSlots: 3 }, 2000)).toEqual(['a']);
    });

    it('keeps a host with a session or a claimed warm sandbox beside its warm ones', () => {
      const hosts = [
        warmHost('a', ['warm-1'], { sessions: ['s1'], idleSince: 0 }),
        host('b', {
          sessions: ['warm-2', 'warm-3'],
          warm: { 'warm-3': 'sbx-warmpool-default-busybox' },
          claimed: { 'warm-2': 's2' },
          idleSince: 0,
        }),
        host('c', { idleSince: 5000 }),
        host('d', { idleSince: 5000 }),
      ];
      expect(hostsToDrain(hosts, { ...cfg, warmSlots: 0 }, 2000)).toEqual([]);
    });

    it('keeps a warm-only host inside the cooldown', () => {
      const hosts = [warmHost('a', ['warm-1'], { idleSince: 1500 }), host('b', { idleSince: 5000 }), host('c', { idleSince: 5000 })];
      expect(hostsToDrain(hosts, { ...cfg, warmSlots: 0 }, 2000)).toEqual([]);
    });
  });
});

describe('host loss and termination', () => {
  it('marks hosts lost after heartbeatInterval × missLimit without a heartbeat', () => {
    const cfg = FleetConfig.parse({ heartbeatIntervalMs: 1000, heartbeatMissLimit: 3 });
    const hosts = [
      host('fresh', { lastHeartbeat: 9000 }),
      host('stale', { lastHeartbeat: 6000 }),
      host('booting', { state: 'provisioning', lastHeartbeat: undefined }),
    ];
    expect(hostsLost(hosts, cfg, 10_000)).toEqual(['stale']);
  });

  it('gives hosts a fresh miss limit when the fleet itself was away, then loses the silent ones', () => {
    const cfg = FleetConfig.parse({ heartbeatIntervalMs: 1000, heartbeatMissLimit: 3 });
    // Everyone went quiet at 1000 while the control plane was down until 60_000.
    const hosts = [host('a', { lastHeartbeat: 1000 }), host('b', { lastHeartbeat: 1000 })];
    expect(hostsLost(hosts, cfg, 60_000)).toEqual(['a', 'b']);
    expect(hostsLost(hosts, cfg, 60_000, 60_000)).toEqual([]);
    expect(hostsLost(hosts, cfg, 62_500, 60_000)).toEqual([]);
    hosts[0]!.lastHeartbeat = 62_000;
    expect(hostsLost(hosts, cfg, 63_500, 60_000)).toEqual(['b']);
  });

  it('terminates drained-empty hosts, drain timeouts and provisions that never heartbeat', () => {
    const cfg = FleetConfig.parse({ drainTimeoutMs: 1000, provisionTimeoutMs: 500 });
    const hosts = [
      host('empty', { state: 'draining', since: 900 }),
      host('busy', { state: 'draining', sessions: ['s'], since: 900 }),
      host('overdue', { state: 'draining', sessions: ['s'], since: 0 }),
      host('stuck', { state: 'provisioning', since: 0 }),
      host('booting', { state: 'provisioning', since: 900 }),
    ];
    expect(hostsToTerminate(hosts, cfg, 1000)).toEqual(['empty', 'overdue', 'stuck']);
  });
});

describe('FleetConfig', () => {
  it('has the original defaults and refuses nonsense', () => {
    expect(FleetConfig.parse({})).toMatchObject({
      minHosts: 1,
      maxHosts: 50,
      maxSessionsPerHost: 10,
      heartbeatIntervalMs: 15_000,
      heartbeatMissLimit: 3,
    });
    expect(FleetConfig.safeParse({ minHosts: 5, maxHosts: 2 }).success).toBe(false);
    expect(FleetConfig.safeParse({ heartbeatIntervalMs: -1 }).success).toBe(false);
  });
});
