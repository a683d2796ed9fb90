/**
 * How every Temporal dev server sbx starts is tuned (`sbx dev`, the test harness, the bench, chaos):
 * one definition, so the floor the bench measures is the floor users and tests get.
 */

/**
 * How often per second each history shard may read its task queues. Every activity task and every
 * workflow task after an activity passes through the transfer queue, and the default of 20 reads per
 * shard is a cluster-wide budget on a server with one shard (the dev server): past a short burst it
 * holds an update → activity → result round trip near 100 ms (10 per second) however idle the
 * machine is. Raised, the same round trip takes under 20 ms. `scripts/prod-stack.sh` applies these too.
 */
export const HISTORY_QUEUE_POLL_RATES: Readonly<Record<string, number>> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'history.timerProcessorMaxPollRPS': 1000,
  'history.visibilityProcessorMaxPollRPS': 1000,
  'history.outboundProcessorMaxPollRPS': 1000,
};

/**
 * One partition per task queue. With the default four, a task and its poller may sit on different
 * partitions, and the task waits to be forwarded to the root: on a single-node server that is only
 * latency on every workflow and activity task.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, unknown>> = {
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
  ...HISTORY_QUEUE_POLL_RATES,
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
