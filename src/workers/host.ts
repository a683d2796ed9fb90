import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { createHostActivities } from '../activities/host/activities.js';
import { hostTaskQueue, sessionWorkflowId } from '../common/names.js';
import { createRuntime, createStorage } from './backends.js';
import type { HostConfig } from './host-config.js';
import { installTemporalLogging } from './logger.js';
import { planReconcile, type ReconcilePlan } from './reconcile-plan.js';

export interface RunningHost {
  worker: Worker;
  storage: Storage;
  runtime: Runtime;
  report: ReconcilePlan;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts a host worker: reconciles what the host holds against Temporal (sessions whose workflow is
 * closed or unknown are removed, the rest kept), then serves host activities on `sbx-host-<hostId>`.
 */
export async function startHostWorker(config: HostConfig, logger: Logger): Promise<RunningHost> {
  installTemporalLogging(logger);
  const storage = await createStorage(config, logger);
  const runtime = createRuntime(config, logger);
  const report = await reconcile(config, storage, runtime, logger);

  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: hostTaskQueue(config.hostId),
    activities: createHostActivities({
      hostId: config.hostId,
      storage,
      runtime,
      maxSessions: config.maxSessions,
      defaultQuotaBytes: config.defaultQuotaBytes,
    }),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    shutdownGraceTime: config.shutdownGraceMs,
  });
  const done = worker.run().finally(() => connection.close());
  logger.info(
    { hostId: config.hostId, taskQueue: hostTaskQueue(config.hostId), storage: storage.kind, runtime: runtime.kind },
    'host worker ready',
  );
  return {
    worker,
    storage,
    runtime,
    report,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

async function reconcile(config: HostConfig, storage: Storage, runtime: Runtime, logger: Logger): Promise<ReconcilePlan> {
  const [datasets, containers] = await Promise.all([storage.listSessions(), runtime.list()]);
  const connection = await Connection.connect({ address: config.temporalAddress });
  try {
    const client = new Client({ connection, namespace: config.namespace });
    const running = new Set<string>();
    for (const id of datasets) {
      try {
        const description = await client.workflow.getHandle(sessionWorkflowId(id)).describe();
        if (description.status.name === 'RUNNING') running.add(id);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    const plan = planReconcile(datasets, containers, running);
    for (const id of plan.removeSessions) {
      await runtime.destroy(id);
      await storage.destroySession(id);
    }
    for (const id of plan.removeContainers) await runtime.destroy(id);
    logger.info(
      { kept: plan.keep, removedSessions: plan.removeSessions, removedContainers: plan.removeContainers },
      `reconciled: ${plan.keep.length} session(s) kept, ${plan.removeSessions.length} removed, ${plan.removeContainers.length} stray container(s) removed`,
    );
    return plan;
  } finally {
    await connection.close();
  }
}
