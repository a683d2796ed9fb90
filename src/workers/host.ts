import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { createHostActivities } from '../activities/host/activities.js';
import { lifecycleActivities, toolActivities } from '../activities/host/activity-guards.js';
import { warmPoolStatuses } from '../client/warm-pools.js';
import { fleetWorkflowId, hostTaskQueue, hostToolsTaskQueue, sessionWorkflowId, WARM_PREFIX } from '../common/names.js';
import { importBusyboxTemplate } from '../dev/busybox-rootfs.js';
import { hostHeartbeatSignal } from '../workflows/messages.js';
import { createRuntime, createStorage } from './backends.js';
import type { HostConfig } from './host-config.js';
import { installTemporalLogging } from './logger.js';
import { planReconcile, sandboxOwner, type ReconcilePlan } from './reconcile-plan.js';

const POOL_QUERY_DEADLINE_MS = 10_000;

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
 * Starts a host worker: reconciles what the host holds against Temporal (sandboxes whose session
 * workflow is closed or unknown, or that no warm pool knows, are removed; the rest kept), then serves
 * host activities on `sbx-host-<hostId>` (lifecycle) and `sbx-host-<hostId>.tools` (tool calls).
 */
export async function startHostWorker(config: HostConfig, logger: Logger): Promise<RunningHost> {
  installTemporalLogging(logger);
  const storage = await createStorage(config, logger);
  const runtime = createRuntime(config, logger);
  const report = await reconcile(config, storage, runtime, logger);
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
      await connection.close();
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

async function reconcile(config: HostConfig, storage: Storage, runtime: Runtime, logger: Logger): Promise<ReconcilePlan> {
  const [datasets, containers] = await Promise.all([storage.listSessions(), runtime.list()]);
  const connection = await Connection.connect({ address: config.temporalAddress });
  try {
    const client = new Client({ connection, namespace: config.namespace });
    const sessionRunning = async (sessionId: string) => {
      try {
        return (await client.workflow.getHandle(sessionWorkflowId(sessionId)).describe()).status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    };
    const pools = datasets.some((id) => id.startsWith(WARM_PREFIX))
      ? await connection
          .withDeadline(Date.now() + POOL_QUERY_DEADLINE_MS, () => warmPoolStatuses(client))
          .then((statuses) => statuses.flatMap((p) => p.sandboxes))
          .catch((err: Error) => {
            logger.warn({ error: err.message }, 'could not ask the warm pools; keeping every warm sandbox');
            return undefined;
          })
      : [];
    const running = new Set<string>();
    for (const id of datasets) {
      const owner = sandboxOwner(id, WARM_PREFIX, pools);
      if (owner.kind === 'keep' || owner.kind === 'pool' || (owner.kind === 'session' && (await sessionRunning(owner.sessionId)))) {
        running.add(id);
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

/**
 * Registers with the fleet and heartbeats on an interval (signal-with-start: the first host may
 * arrive before any control worker). A failed heartbeat is logged and retried at the next tick.
 */
function startHeartbeats(config: HostConfig, storage: Storage, logger: Logger): { stop(): Promise<void> } {
  const fleetId = config.fleetId!;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const connecting = Connection.connect({ address: config.temporalAddress });
  const beat = async () => {
    const connection = await connecting;
    const client = new Client({ connection, namespace: config.namespace });
    const [health, sessions] = await Promise.all([storage.health(), storage.listSessions()]);
    await client.workflow.signalWithStart('FleetWorkflow', {
      workflowId: fleetWorkflowId(fleetId),
      taskQueue: config.controlTaskQueue,
      args: [{ fleetId }],
      signal: hostHeartbeatSignal,
      signalArgs: [
        {
          hostId: config.hostId,
          maxSessions: config.maxSessions,
          sessions: sessions.length,
          healthy: health.status !== 'unhealthy',
          templates: [],
        },
      ],
    });
  };
  const tick = () => {
    inFlight = beat()
      .catch((err: Error) => logger.warn({ fleetId, error: err.message }, 'heartbeat failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, config.heartbeatMs);
      });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      await (await connecting).close();
    },
  };
}
