import { setFlagsFromString } from 'node:v8';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createFleetActivities } from '../activities/control/fleet-activities.js';
import { createPlacementActivities } from '../activities/control/placement.js';
import { fleetWorkflowId, WARM_POOL_WORKFLOW, warmPoolWorkflowId } from '../common/names.js';
import { createSbxNexusHandler } from '../nexus/handler.js';
import { FleetConfig } from '../protocol/fleet-config.js';
import { configureFleetSignal, configureWarmPoolSignal } from '../protocol/messages.js';
import { WarmPoolConfig } from '../protocol/warm-pool-config.js';
import type { ControlConfig } from './control-config.js';
import { installTemporalLogging } from './logger.js';
import { startMetrics, type MetricsServer } from './metrics.js';
import { currentWorkflowBundle, workflowPreloadModules, workflowsPath } from './workflow-bundle.js';
import { workflowInterceptorModules } from './workflow-interceptors.js';
import { createProvisioner } from './provisioner-factory.js';

export { ControlConfig } from './control-config.js';

const HEAP_GROWING_PERCENT = 50;
const WORKFLOW_SEMI_SPACE_MB = 4;

export interface RunningControl {
  worker: Worker;
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts a control worker: the workflows, control activities and Nexus service on `sbx-control`. With a fleet it
 * also starts (or reconfigures) the fleet workflow and its warm pools, and exports their metrics.
 */
export async function startControlWorker(
  config: ControlConfig,
  logger: Logger,
  options: { workflowBundlePath?: string } = {},
): Promise<RunningControl> {
  installTemporalLogging(logger);
  const clientConnection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection: clientConnection, namespace: config.namespace });
  const fleet = config.fleet;
  const warmTemplates = fleet?.warmPools.map((p) => p.template) ?? [];
  const metrics: MetricsServer | undefined =
    config.metricsPort > 0
      ? await startMetrics(config.metricsPort, client, fleet && { fleetId: fleet.fleetId, warmTemplates }, logger)
      : undefined;
  let activities: object = createPlacementActivities({
    defaultHostId: config.defaultHostId,
    fleet: fleet && { fleetId: fleet.fleetId, client, warmTemplates },
    onPlaced: metrics?.observePlacement,
  });
  if (fleet) {
    const settings = FleetConfig.parse({ ...fleet.settings, fleetId: fleet.fleetId, provisioner: fleet.provisioner });
    activities = { ...activities, ...createFleetActivities(await createProvisioner(config, fleet)) };
    await client.workflow.signalWithStart('FleetWorkflow', {
      workflowId: fleetWorkflowId(fleet.fleetId),
      taskQueue: config.taskQueue,
      args: [{ fleetId: fleet.fleetId }],
      signal: configureFleetSignal,
      signalArgs: [settings],
      staticSummary: `sbx fleet ${fleet.fleetId} (${fleet.provisioner} provisioner)`,
    });
    logger.info({ fleetId: fleet.fleetId, provisioner: fleet.provisioner, settings }, 'fleet configured');
    for (const pool of fleet.warmPools) {
      const poolConfig = WarmPoolConfig.parse({ ...pool, fleetId: fleet.fleetId });
      await client.workflow.signalWithStart(WARM_POOL_WORKFLOW, {
        workflowId: warmPoolWorkflowId(fleet.fleetId, pool.template),
        taskQueue: config.taskQueue,
        args: [{ fleetId: fleet.fleetId, template: pool.template }],
        signal: configureWarmPoolSignal,
        signalArgs: [poolConfig],
        staticSummary: `sbx warm pool: ${pool.template} on fleet ${fleet.fleetId}`,
      });
      logger.info({ fleetId: fleet.fleetId, template: pool.template, size: pool.size }, 'warm pool configured');
    }
  }

  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  // Every evicted workflow leaves its own copy of the workflow modules as garbage, and V8 lets a heap
  // grow to several times its live size before collecting: 440 MB RSS at 200 sessions, 250 MB of it
  // garbage. Growing by at most half the live size keeps RSS near the cache's true cost.
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  // The workflow thread's isolate, made by Worker.create below, takes this; its young generation
  // otherwise grows to 32 MB under the churn of module evaluation.
  setFlagsFromString(`--max-semi-space-size=${WORKFLOW_SEMI_SPACE_MB}`);
  // A bundle holds the workflow interceptors already; bundling at start adds them.
  const bundlePath = options.workflowBundlePath ?? currentWorkflowBundle(logger);
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(bundlePath
      ? { workflowBundle: { codePath: bundlePath } }
      : {
          workflowsPath: workflowsPath(),
          interceptors: { workflowModules: workflowInterceptorModules() },
          bundlerOptions: { preloadModules: workflowPreloadModules() },
        }),
    activities,
    // Each cached workflow holds its own copy of the workflow modules (reuseV8Context); the cap bounds memory.
    maxCachedWorkflows: config.maxCachedWorkflows,
    // The SDK's default of 40 task slots may not exceed the cache (when there is one).
    ...(config.maxCachedWorkflows > 0 && config.maxCachedWorkflows < 40
      ? { maxConcurrentWorkflowTaskExecutions: config.maxCachedWorkflows }
      : {}),
    // The Nexus service sbx.sandbox.v1: agent workflows in other namespaces drive sessions through it.
    nexusServices: [createSbxNexusHandler()],
  });
  const done = worker.run().finally(async () => {
    await metrics?.close();
    await connection.close();
    await clientConnection.close();
  });
  logger.info({ taskQueue: config.taskQueue, defaultHostId: config.defaultHostId, fleet: fleet?.fleetId }, 'control worker ready');
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
