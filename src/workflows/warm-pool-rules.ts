import type { Resources } from '../common/sandbox.js';
import type { WarmSandboxState } from '../protocol/messages.js';
import type { WarmPoolConfig } from '../protocol/warm-pool-config.js';

/** Pure decisions of the warm-pool workflow. */

/**
 * How long a claimed sandbox's replacement waits. Making one (zfs clone, runsc create and start) is
 * the heaviest work a host does, and started at once it doubled the claimed session's first command.
 * A pool left with no ready sandbox refills at once: its next create would be cold.
 */
export const REFILL_DELAY_MS = 1000;

/**
 * How long the pool waits after a hand-over before it tells the fleet of the claim. The notice costs
 * a workflow task in the fleet and another in the pool, on the control worker that is running the
 * claimed session's first command. Until it lands the fleet counts the slot as warm; a drain it
 * starts for idleness in that time ends when the notice comes.
 */
export const CLAIM_NOTICE_DELAY_MS = 1000;

export interface WarmSandbox {
  sandboxId: string;
  state: WarmSandboxState;
  /** What the sandbox was made with (see `specOf`); only a matching request may claim it. */
  spec: string;
  hostId?: string;
  /** Workflow time (ms) it became ready. */
  readyAt?: number;
  sessionId?: string;
  /** Workflow time (ms) it was claimed; its replacement waits REFILL_DELAY_MS from then. */
  claimedAt?: number;
}

/** A stable key for what a sandbox was made with. */
export function specOf(resources: Resources, quotaBytes: number | undefined): string {
  return JSON.stringify([resources.cpus, resources.memoryMb, resources.maxPids, quotaBytes ?? null]);
}

const counts = (sandboxes: WarmSandbox[], spec: string, state: WarmSandboxState) =>
  sandboxes.filter((s) => s.state === state && s.spec === spec).length;

/** Claimed sandboxes whose replacement still waits at `now`; none while the pool has no ready sandbox. */
function settling(sandboxes: WarmSandbox[], spec: string, now: number): WarmSandbox[] {
  if (counts(sandboxes, spec, 'ready') === 0) return [];
  return sandboxes.filter(
    (s) => s.state === 'claimed' && s.spec === spec && s.claimedAt !== undefined && now < s.claimedAt + REFILL_DELAY_MS,
  );
}

/**
 * How many sandboxes to start making now: up to the size, within the concurrency limit. Given `now`,
 * a sandbox claimed less than REFILL_DELAY_MS ago still counts, unless the pool has no ready one.
 */
export function sandboxesToWarm(sandboxes: WarmSandbox[], config: WarmPoolConfig, now?: number): number {
  const spec = specOf(config.resources, config.quotaBytes);
  const waiting = now === undefined ? 0 : settling(sandboxes, spec, now).length;
  const have = counts(sandboxes, spec, 'ready') + counts(sandboxes, spec, 'warming') + waiting;
  const warming = sandboxes.filter((s) => s.state === 'warming').length;
  return Math.max(0, Math.min(config.size - have, config.maxConcurrentWarming - warming));
}

/** Milliseconds until a refill held back by a recent claim may start; 0 when none is held back. */
export function refillWaitMs(sandboxes: WarmSandbox[], config: WarmPoolConfig, now: number): number {
  if (sandboxesToWarm(sandboxes, config, now) >= sandboxesToWarm(sandboxes, config)) return 0;
  const spec = specOf(config.resources, config.quotaBytes);
  return Math.min(...settling(sandboxes, spec, now).map((s) => s.claimedAt! + REFILL_DELAY_MS - now));
}

/**
 * Ready sandboxes to remove: those made with settings the pool no longer has, and those beyond the
 * size (the newest go first, so the oldest keep serving claims).
 */
export function sandboxesToTrim(sandboxes: WarmSandbox[], config: WarmPoolConfig): string[] {
  const spec = specOf(config.resources, config.quotaBytes);
  const ready = sandboxes.filter((s) => s.state === 'ready');
  const stale = ready.filter((s) => s.spec !== spec);
  const current = ready.filter((s) => s.spec === spec).sort((a, b) => a.readyAt! - b.readyAt! || a.sandboxId.localeCompare(b.sandboxId));
  const warming = counts(sandboxes, spec, 'warming');
  const excess = Math.max(0, current.length + warming - config.size);
  const extra = excess > 0 ? current.slice(-Math.min(excess, current.length)) : [];
  return [...stale, ...extra].map((s) => s.sandboxId);
}

/** The sandbox a claim gets: ready, made as the session asks, the longest ready first. */
export function chooseForClaim(sandboxes: WarmSandbox[], spec: string, unusableHosts: ReadonlySet<string>): WarmSandbox | undefined {
  return sandboxes
    .filter((s) => s.state === 'ready' && s.spec === spec && !unusableHosts.has(s.hostId!))
    .sort((a, b) => a.readyAt! - b.readyAt! || a.sandboxId.localeCompare(b.sandboxId))[0];
}

/** Pause before the next refill after consecutive failures: 1 s doubling to 1 min. */
export function refillBackoffMs(consecutiveFailures: number): number {
  return consecutiveFailures === 0 ? 0 : Math.min(60_000, 1000 * 2 ** (consecutiveFailures - 1));
}
