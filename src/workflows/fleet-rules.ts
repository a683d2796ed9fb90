import type { FleetConfig } from '../protocol/fleet-config.js';

/**
 * Pure decisions of the fleet workflow. One notion of capacity serves placement, scale-up and
 * scale-down: free slots on ready, healthy hosts plus the expected slots of hosts still provisioning.
 */

export type HostState = 'provisioning' | 'ready' | 'draining' | 'terminating' | 'lost';

export interface FleetHost {
  hostId: string;
  state: HostState;
  instanceId?: string;
  maxSessions: number;
  /** Slots taken here, by sandbox id (reserved at placement, released at destroy). */
  sessions: string[];
  /**
   * Sandboxes the host reports holding beyond `sessions`: ones the fleet forgot (the host was lost and
   * came back, its sessions' workflows still running). They take slots until the host lets them go.
   */
  untracked?: number;
  /** Of those, warm sandboxes no session has claimed yet, each with its pool's workflow id. */
  warm?: Record<string, string>;
  /** Claimed warm sandboxes: sandbox id → the session that claimed it. */
  claimed?: Record<string, string>;
  /** Workflow time (ms) of the last heartbeat; undefined until the first. */
  lastHeartbeat?: number;
  healthy: boolean;
  templates: string[];
  /** When this host entered its current state (ms). */
  since: number;
  /** When it last had no sessions (ms), for the idle cooldown. */
  idleSince?: number;
  /** Set while the fleet drains it for idleness (not an operator's drain): a claim there ends the drain. */
  idleDrain?: boolean;
}

export function freeSlots(host: FleetHost): number {
  return host.state === 'ready' && host.healthy ? Math.max(0, host.maxSessions - host.sessions.length - (host.untracked ?? 0)) : 0;
}

export function warmCount(host: FleetHost): number {
  return Object.keys(host.warm ?? {}).length;
}

/** Slots held by sessions (the untracked ones too): a host holding only warm sandboxes is idle. */
export function busySlots(host: FleetHost): number {
  return host.sessions.length - warmCount(host) + (host.untracked ?? 0);
}

export function expectedSlots(host: FleetHost): number {
  return host.state === 'provisioning' ? host.maxSessions : 0;
}

export function capacity(hosts: FleetHost[]): number {
  return hosts.reduce((sum, host) => sum + freeSlots(host) + expectedSlots(host), 0);
}

/**
 * The host for a new session: ready, healthy, with a free slot and the template (a host that reports
 * no templates accepts any); most free slots first, ties to the one idle longest, then by id.
 */
export function chooseHost(hosts: FleetHost[], template: string): FleetHost | undefined {
  return hosts
    .filter((h) => freeSlots(h) > 0 && (h.templates.length === 0 || h.templates.includes(template)))
    .sort(
      (a, b) => freeSlots(b) - freeSlots(a) || (a.idleSince ?? Infinity) - (b.idleSince ?? Infinity) || a.hostId.localeCompare(b.hostId),
    )[0];
}

/** Hosts that count against maxHosts: everything not yet gone. */
function liveHosts(hosts: FleetHost[]): FleetHost[] {
  return hosts.filter((h) => h.state !== 'lost' && h.state !== 'terminating');
}

/**
 * How many hosts to provision now: enough, at once, to cover the warm-slot deficit (plus placements
 * waiting for capacity) and the minimum host count — never past maxHosts or the concurrent-provision
 * limit. Hosts still provisioning count with their expected slots, so boots never overshoot.
 */
export function hostsToProvision(hosts: FleetHost[], config: FleetConfig, waitingPlacements: number): number {
  const live = liveHosts(hosts);
  const deficit = config.warmSlots + waitingPlacements - capacity(hosts);
  const forSlots = deficit > 0 ? Math.ceil(deficit / config.maxSessionsPerHost) : 0;
  const forMin = Math.max(0, config.minHosts - live.length);
  const wanted = Math.max(forSlots, forMin);
  const provisioning = hosts.filter((h) => h.state === 'provisioning').length;
  return Math.max(0, Math.min(wanted, config.maxHosts - live.length, config.maxConcurrentProvisions - provisioning));
}

/**
 * Idle hosts to drain: ready, holding no session (warm sandboxes move elsewhere), idle past the
 * cooldown, while the fleet keeps minHosts and the warm slots without them, after re-homing their
 * warm sandboxes. The longest idle go first.
 */
export function hostsToDrain(hosts: FleetHost[], config: FleetConfig, now: number): string[] {
  let remaining = capacity(hosts);
  let live = liveHosts(hosts).filter((h) => h.state !== 'draining').length;
  const drain: string[] = [];
  const idle = hosts
    .filter((h) => h.state === 'ready' && busySlots(h) === 0 && h.idleSince !== undefined && now - h.idleSince >= config.idleCooldownMs)
    .sort((a, b) => a.idleSince! - b.idleSince! || a.hostId.localeCompare(b.hostId));
  for (const host of idle) {
    const lost = freeSlots(host) + warmCount(host);
    if (live - 1 < config.minHosts || remaining - lost < config.warmSlots) break;
    drain.push(host.hostId);
    remaining -= lost;
    live--;
  }
  return drain;
}

export function heartbeatLimitMs(config: FleetConfig): number {
  return config.heartbeatIntervalMs * config.heartbeatMissLimit;
}

/**
 * Ready or draining hosts whose heartbeats stopped for `interval × missLimit`. Silence before
 * `watchingSince` (when the fleet itself came back after being away) does not count: hosts that
 * restarted with it get a full miss limit to heartbeat again.
 */
export function hostsLost(hosts: FleetHost[], config: FleetConfig, now: number, watchingSince = 0): string[] {
  return hosts
    .filter(
      (h) =>
        (h.state === 'ready' || h.state === 'draining') &&
        h.lastHeartbeat !== undefined &&
        now - Math.max(h.lastHeartbeat, watchingSince) > heartbeatLimitMs(config),
    )
    .map((h) => h.hostId);
}

/** Hosts to terminate: draining ones that emptied or hit the drain timeout, and provisions that never heartbeat. */
export function hostsToTerminate(hosts: FleetHost[], config: FleetConfig, now: number): string[] {
  return hosts
    .filter(
      (h) =>
        (h.state === 'draining' && ((h.sessions.length === 0 && !h.untracked) || now - h.since >= config.drainTimeoutMs)) ||
        (h.state === 'provisioning' && now - h.since >= config.provisionTimeoutMs),
    )
    .map((h) => h.hostId);
}
