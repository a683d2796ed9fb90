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
