import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { createHostActivities } from '../activities/host/activities.js';
import { ExecOutputStore } from '../activities/host/exec-output-store.js';
import { ToolCallJournal } from '../activities/host/tool-call-journal.js';
import { lifecycleActivities, toolActivities } from '../activities/host/activity-guards.js';
import { hostTaskQueue, hostToolsTaskQueue } from '../common/names.js';
import { SandboxOwners, type AskRun } from '../activities/host/ownership.js';
import { importBusyboxTemplate } from '../activities/host/busybox-template.js';
import { createRuntime, createStorage } from './backend-factory.js';
import type { HostConfig } from './host-config.js';
import { startHeartbeats } from './heartbeats.js';
import { installTemporalLogging } from './logger.js';
import type { ReconcilePlan } from './reconcile-plan.js';
import { createReconciler, reconcilePeriodically } from './reconcile.js';

export interface RunningHost {
  /** Serves lifecycle work on `sbx-host-<hostId>`. */
  worker: Worker;
  /** Serves tool calls on `sbx-host-<hostId>.tools`. */
  toolWorker: Worker;
  storage: Storage;
  runtime: Runtime;
  report: ReconcilePlan;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts a host worker: reconciles what the host holds against Temporal (see createReconciler: closed
 * sessions removed, unknown ones quarantined), then serves host activities on `sbx-host-<hostId>`
 * (lifecycle) and `sbx-host-<hostId>.tools` (tool calls), and reconciles again every
 * `reconcileIntervalMs`.
 */
export async function startHostWorker(config: HostConfig, logger: Logger): Promise<RunningHost> {
  installTemporalLogging(logger);
  const storage = await createStorage(config, logger);
  const runtime = createRuntime(config, logger);
  const runs = runAsker(config);
  const owners = new SandboxOwners(join(config.dataRoot, 'owners'), (sandboxId) => storage.sandboxExists(sandboxId), runs.askRun);
  await owners.init();
  const reconcileConnection = await Connection.connect({ address: config.temporalAddress });
  const reconciler = createReconciler(config, reconcileConnection, storage, runtime, logger, owners);
  const report = await reconciler.run().catch(async (err: unknown) => {
    await reconcileConnection.close();
    await runs.close();
    throw err;
  });
  if (config.ensureBusybox && !(await storage.templateExists('busybox'))) {
    logger.info('importing the busybox template');
    await importBusyboxTemplate(storage, 'busybox');
  }

  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const activities = createHostActivities({
    hostId: config.hostId,
    storage,
    runtime,
    maxSessions: config.maxSessions,
    defaultQuotaBytes: config.defaultQuotaBytes,
    maxQuotaBytes: config.maxQuotaBytes,
    journal: new ToolCallJournal(join(config.dataRoot, 'tool-calls')),
    outputs: new ExecOutputStore(join(config.dataRoot, 'tool-outputs')),
    owners,
  });
  // Two queues with their own slots: tool calls (which may run for hours) can fill theirs, never the
  // lifecycle slots that creates, snapshots and destroys need. Both serve every activity, so a session
  // recorded before the split still finds its tool calls on the lifecycle queue.
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: hostTaskQueue(config.hostId),
    activities: lifecycleActivities(activities),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    shutdownGraceTime: config.shutdownGraceMs,
  });
  const toolWorker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: hostToolsTaskQueue(config.hostId),
    activities: toolActivities(activities, config.maxToolCallsPerSession),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentToolCalls,
    shutdownGraceTime: config.shutdownGraceMs,
  });
  const heartbeats = config.fleetId ? startHeartbeats(config, storage, logger) : undefined;
  const reconciling = reconcilePeriodically(reconciler, config.reconcileIntervalMs, logger);
  // Either worker stopping (a fatal error or a shutdown) stops the other: the host serves both or neither.
  const stopBoth = () => {
    for (const w of [worker, toolWorker]) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const done = Promise.allSettled([worker.run().finally(stopBoth), toolWorker.run().finally(stopBoth)])
    .then(([lifecycle, tools]) => {
      for (const result of [lifecycle, tools]) if (result.status === 'rejected') throw result.reason;
    })
    .finally(async () => {
      await heartbeats?.stop();
      await reconciling.stop();
      await reconcileConnection.close();
      await connection.close();
      await runs.close();
    });
  logger.info(
    {
      hostId: config.hostId,
      taskQueue: hostTaskQueue(config.hostId),
      toolsTaskQueue: hostToolsTaskQueue(config.hostId),
      storage: storage.kind,
      runtime: runtime.kind,
    },
    'host worker ready',
  );
  return {
    worker,
    toolWorker,
    storage,
    runtime,
    report,
    done,
    async shutdown() {
      stopBoth();
      await done;
    },
  };
}

/**
 * Tells which chain of runs (continue-as-new keeps it, a new start under the same id does not) a run
 * belongs to, and whether it still runs, by asking Temporal; connects at the first question.
 */
function runAsker(config: HostConfig): { askRun: AskRun; close(): Promise<void> } {
  let client: Promise<Client> | undefined;
  return {
    async askRun(workflowId, runId) {
      client ??= Connection.connect({ address: config.temporalAddress }).then(
        (connection) => new Client({ connection, namespace: config.namespace }),
      );
      client.catch(() => (client = undefined));
      const description = await (await client).workflow.getHandle(workflowId, runId).describe();
      return { chain: description.raw.workflowExecutionInfo?.firstRunId || undefined, running: description.status.name === 'RUNNING' };
    },
    async close() {
      await (await client?.catch(() => undefined))?.connection.close();
    },
  };
}
