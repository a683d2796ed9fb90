import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ensureNexusEndpoint } from '../../src/nexus/endpoint.js';
import type { SbxTestStack } from './sbx.js';
import { CALLER_NAMESPACE, testStack, uniqueNames } from './stack.js';

export interface NexusCaller {
  /** The endpoint routing to the test's sbx control queue. */
  endpoint: string;
  /** A client in the caller namespace. */
  client: Client;
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * A Nexus endpoint of the test's own that routes to `sbx`'s control queue, and a worker in the caller
 * namespace running the test bundle's workflows (the Nexus callers among them).
 */
export async function startNexusCaller(sbx: SbxTestStack, testFileUrl: string): Promise<NexusCaller> {
  const stack = testStack();
  const names = uniqueNames(testFileUrl);
  const endpoint = `sbx-${names.id}`.replace(/[^a-zA-Z0-9-]/g, '-').replace(/-+$/, '');
  const connection = await Connection.connect({ address: stack.temporalAddress });
  await ensureNexusEndpoint(connection, { name: endpoint, namespace: stack.namespace, taskQueue: sbx.controlTaskQueue });
  const taskQueue = `caller-${names.id}`;
  const workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: CALLER_NAMESPACE,
    taskQueue,
    workflowBundle: { codePath: stack.workflowBundlePath },
  });
  const running = worker.run();
  return {
    endpoint,
    client: new Client({ connection, namespace: CALLER_NAMESPACE }),
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await workerConnection.close();
      await connection.close();
    },
  };
}
