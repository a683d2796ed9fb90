import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { z } from 'zod';
import { createPlacementActivities } from '../activities/control/placement.js';
import { CONTROL_TASK_QUEUE, HostId } from '../common/names.js';
import { installTemporalLogging } from './logger.js';

export const ControlConfig = z.object({
  temporalAddress: z.string().min(1).default('localhost:7233'),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(CONTROL_TASK_QUEUE),
  defaultHostId: HostId.optional(),
});
export type ControlConfig = z.output<typeof ControlConfig>;

/** The workflows' entry: compiled JavaScript under dist/, TypeScript when run from source. */
function workflowsPath(): string {
  const js = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

export interface RunningControl {
  worker: Worker;
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/** Starts a control worker: session workflows and control activities on `sbx-control`. */
export async function startControlWorker(config: ControlConfig, logger: Logger): Promise<RunningControl> {
  installTemporalLogging(logger);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    workflowsPath: workflowsPath(),
    activities: createPlacementActivities({ defaultHostId: config.defaultHostId }),
  });
  const done = worker.run().finally(() => connection.close());
  logger.info({ taskQueue: config.taskQueue, defaultHostId: config.defaultHostId }, 'control worker ready');
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
