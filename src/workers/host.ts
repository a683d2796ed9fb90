import { join } from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { createHostActivities } from '../activities/host/activities.js';
import { SandboxOwners, type ChainOf } from '../activities/host/ownership.js';
import { warmPoolStatuses } from '../client/warm-pools.js';
import { fleetWorkflowId, hostTaskQueue, sessionWorkflowId, WARM_PREFIX, warmPoolWorkflowId } from '../common/names.js';
import { importBusyboxTemplate } from '../dev/busybox-rootfs.js';
import { hostHeartbeatSignal } from '../workflows/messages.js';
import { createRuntime, createStorage } from './backends.js';
import type { HostConfig } from './host-config.js';
import { installTemporalLogging } from './logger.js';
import { planReconcile, sandboxOwner, type ReconcilePlan } from './reconcile-plan.js';

const POOL_QUERY_DEADLINE_MS = 10_000;

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
 * Starts a host worker: reconciles what the host holds against Temporal (sandboxes whose session
 * workflow is closed or unknown, or that no warm pool knows, are removed; the rest kept), then serves
 * host activities on `sbx-host-<hostId>`.
 */
export async function startHostWorker(config: HostConfig, logger: Logger): Promise<RunningHost> {
  installTemporalLogging(logger);
  const storage = await createStorage(config, logger);
  const runtime = createRuntime(config, logger);
  const chains = runChains(config);
  const owners = new SandboxOwners(join(config.dataRoot, 'owners'), (sandboxId) => storage.sessionExists(sandboxId), chains.chainOf);
  await owners.init();
  const report = await reconcile(config, storage, runtime, owners, logger);
  if (config.ensureBusybox && !(await storage.templateExists('busybox'))) {
    logger.info('importing the busybox template');
    await importBusyboxTemplate(storage, 'busybox');
  }

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
      owners,
    }),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    shutdownGraceTime: config.shutdownGraceMs,
  });
  const heartbeats = config.fleetId ? startHeartbeats(config, storage, logger) : undefined;
  const done = worker.run().finally(async () => {
    await heartbeats?.stop();
    await connection.close();
    await chains.close();
  });
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

async function reconcile(config: HostConfig, storage: Storage, runtime: Runtime, owners: SandboxOwners, logger: Logger): Promise<ReconcilePlan> {
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
          .then((statuses) => statuses.flatMap((p) => p.sandboxes.map((s) => ({ ...s, pool: warmPoolWorkflowId(p.fleetId, p.template) }))))
          .catch((err: Error) => {
            logger.warn({ error: err.message }, 'could not ask the warm pools; keeping every warm sandbox');
            return undefined;
          })
      : [];
    const running = new Set<string>();
    // Warm sandboxes made before owners were recorded get the owner their pool reports.
    const reported = new Map<string, string>();
    for (const id of datasets) {
      const owner = sandboxOwner(id, WARM_PREFIX, pools);
      if (owner.kind === 'keep' || owner.kind === 'pool' || (owner.kind === 'session' && (await sessionRunning(owner.sessionId)))) {
        running.add(id);
      }
      const pool = pools?.find((s) => s.sandboxId === id)?.pool;
      if (owner.kind === 'pool' && pool) reported.set(id, pool);
      if (owner.kind === 'session' && id.startsWith(WARM_PREFIX)) reported.set(id, sessionWorkflowId(owner.sessionId));
    }
    const plan = planReconcile(datasets, containers, running);
    for (const id of plan.removeSessions) {
      await runtime.destroy(id);
      await storage.destroySession(id);
    }
    for (const id of plan.removeContainers) await runtime.destroy(id);
    await owners.reconcile(plan.keep, reported);
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

/**
 * Tells which chain of runs (continue-as-new keeps it, a new start under the same id does not) a
 * calling run belongs to, by asking Temporal; connects at the first question.
 */
function runChains(config: HostConfig): { chainOf: ChainOf; close(): Promise<void> } {
  let client: Promise<Client> | undefined;
  return {
    async chainOf(workflowId, runId) {
      client ??= Connection.connect({ address: config.temporalAddress }).then((connection) => new Client({ connection, namespace: config.namespace }));
      client.catch(() => (client = undefined));
      const description = await (await client).workflow.getHandle(workflowId, runId).describe();
      return description.raw.workflowExecutionInfo?.firstRunId || undefined;
    },
    async close() {
      await (await client?.catch(() => undefined))?.connection.close();
    },
  };
}
