/**
 * What Temporal says of the owner of a sandbox on this host: its workflow runs (`claimed`), closed
 * (`closed`: it ended and its data may go), or nobody knows it (`unknown`: a wrong namespace, a reset
 * server, a stray). Only `closed` is proof enough to delete at once.
 */
export type OwnerClaim = 'claimed' | 'closed' | 'unknown';

export interface ReconcileInput {
  datasets: string[];
  containers: string[];
  /** Every dataset's claim; a dataset missing here counts as claimed (nothing is done to it). */
  claims: ReadonlyMap<string, OwnerClaim>;
  /** Datasets already quarantined, and since when (epoch ms). */
  quarantined: ReadonlyMap<string, number>;
  now: number;
  graceMs: number;
}

/** What a host does with the sandboxes it finds. Every list is sorted. */
export interface ReconcilePlan {
  keep: string[];
  /** Quarantined earlier and claimed again (the right server is back): the mark is cleared. */
  release: string[];
  /** Unknown and not yet quarantined: marked, sandbox stopped, data kept for the grace period. */
  quarantine: string[];
  /** Quarantined and still unknown, not yet past the grace period: when each may be deleted (epoch ms). */
  held: Array<{ sandboxId: string; deleteAfter: number }>;
  /** Datasets (and containers) to delete: the owner closed, or the quarantine outlived its grace. */
  removeSessions: string[];
  /** Containers without a dataset: leftovers of a crash between destroy steps. */
  removeContainers: string[];
}

export function planReconcile({ datasets, containers, claims, quarantined, now, graceMs }: ReconcileInput): ReconcilePlan {
  const plan: ReconcilePlan = { keep: [], release: [], quarantine: [], held: [], removeSessions: [], removeContainers: [] };
  for (const id of [...datasets].sort()) {
    const claim = claims.get(id) ?? 'claimed';
    const since = quarantined.get(id);
    if (claim === 'claimed') {
      plan.keep.push(id);
      if (since !== undefined) plan.release.push(id);
    } else if (claim === 'closed') {
      plan.removeSessions.push(id);
    } else if (since === undefined) {
      plan.quarantine.push(id);
    } else if (now - since >= graceMs) {
      plan.removeSessions.push(id);
    } else {
      plan.held.push({ sandboxId: id, deleteAfter: since + graceMs });
    }
  }
  plan.removeContainers = containers.filter((id) => !datasets.includes(id)).sort();
  return plan;
}

/**
 * The owner to check for each sandbox on a host. A session's own sandbox belongs to its session; a
 * warm sandbox (`warm-…`) belongs to its pool while unclaimed, then to the session that claimed it.
 * Without the pools' answer (`undefined`: no control worker to ask) warm sandboxes are kept: removing
 * a live session's sandbox is worse than keeping a stray one until the next pass.
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
