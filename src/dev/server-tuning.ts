/**
 * How every Temporal dev server sbx starts is tuned (`sbx dev`, the test harness, the bench, chaos):
 * one definition, so the floor the bench measures is the floor users and tests get.
 */

/**
 * One partition per task queue. With the default four, a task and its poller may sit on different
 * partitions, and the task waits to be forwarded to the root: on a single-node server that is only
 * latency on every workflow and activity task.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = {
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

/**
 * SQLite settings for a server that keeps its state in a file. In the default rollback-journal mode
 * every transaction syncs the disk several times (a workflow round trip makes several transactions).
 * A write-ahead log synced at checkpoints survives a crash of the server or of sbx; only a power loss
 * may take the last transactions.
 */
export const DEV_SERVER_SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'wal',
  synchronous: 'normal',
};

/** `temporal server start-dev` flags for the above, plus `extra` dynamic config (which wins). */
export function devServerTuningArgs(options: { persistent: boolean; dynamicConfig?: Record<string, unknown> }): string[] {
  const config = { ...DEV_SERVER_DYNAMIC_CONFIG, ...options.dynamicConfig };
  return [
    ...Object.entries(config).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
    ...(options.persistent
      ? Object.entries(DEV_SERVER_SQLITE_PRAGMAS).flatMap(([key, value]) => ['--sqlite-pragma', `${key}=${value}`])
      : []),
  ];
}
