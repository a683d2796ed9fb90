/** What a host does at start with the sessions it finds, given which session workflows still run. */
export interface ReconcilePlan {
  keep: string[];
  /** Datasets (and containers) of sessions whose workflow is closed or unknown. */
  removeSessions: string[];
  /** Containers without a dataset: leftovers of a crash between destroy steps. */
  removeContainers: string[];
}

export function planReconcile(datasets: string[], containers: string[], running: ReadonlySet<string>): ReconcilePlan {
  const keep = datasets.filter((id) => running.has(id));
  const removeSessions = datasets.filter((id) => !running.has(id));
  const removeContainers = containers.filter((id) => !datasets.includes(id));
  return { keep: keep.sort(), removeSessions: removeSessions.sort(), removeContainers: removeContainers.sort() };
}

/**
 * The owner to check for each sandbox on a host. A session's own sandbox belongs to its session; a
 * warm sandbox (`warm-…`) belongs to its pool while unclaimed, then to the session that claimed it.
 * Without the pools' answer (`undefined`: no control worker to ask) warm sandboxes are kept: removing
 * a live session's sandbox is worse than keeping a stray one until the next start.
 */
export type SandboxOwner = { kind: 'session'; sessionId: string } | { kind: 'pool' } | { kind: 'unknown' } | { kind: 'keep' };

export function sandboxOwner(
  sandboxId: string,
  warmPrefix: string,
  pools: ReadonlyArray<{ sandboxId: string; state: string; sessionId?: string }> | undefined,
): SandboxOwner {
  if (!sandboxId.startsWith(warmPrefix)) return { kind: 'session', sessionId: sandboxId };
  if (!pools) return { kind: 'keep' };
  const entry = pools.find((s) => s.sandboxId === sandboxId);
  if (!entry) return { kind: 'unknown' };
  return entry.state === 'claimed' && entry.sessionId ? { kind: 'session', sessionId: entry.sessionId } : { kind: 'pool' };
}
