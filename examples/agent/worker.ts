/**
 * The example agent's own worker, in the platform's namespace (`agents` under `sbx dev`), not sbx's.
 *   node --import tsx examples/agent/worker.ts   (TEMPORAL_ADDRESS, AGENT_NAMESPACE, AGENT_TASK_QUEUE, SBX_NAMESPACE)
 * It also runs the sandbox activities, for the variant of the agent that uses them instead of Nexus.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSandboxActivities } from '../../src/agent-activities/index.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';

export const AGENT_TASK_QUEUE = 'agent-example';

export interface AgentWorkerOptions {
  address: string;
  namespace: string;
  taskQueue?: string;
  /** For the activities variant: a client of sbx's namespace, whose sandbox activities this worker runs. */
  sbx?: SandboxClient;
}

/** Bundles the agent workflow (its imports of sbx are the Nexus service definition only) and runs it. */
export async function startAgentWorker(
  options: AgentWorkerOptions,
): Promise<{ worker: Worker; done: Promise<void>; stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: options.address });
  const worker = await Worker.create({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? AGENT_TASK_QUEUE,
    workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
    ...(options.sbx ? { activities: createSandboxActivities(options.sbx) } : {}),
  });
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const address = process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const sbx = await SandboxClient.connect({ address, namespace: process.env.SBX_NAMESPACE ?? 'default' });
  const running = await startAgentWorker({
    address,
    namespace: process.env.AGENT_NAMESPACE ?? 'agents',
    taskQueue: process.env.AGENT_TASK_QUEUE,
    sbx,
  });
  process.once('SIGINT', () => void running.stop());
  process.once('SIGTERM', () => void running.stop());
  await running.done;
  await sbx.close();
}
