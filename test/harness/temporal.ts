import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { testStack } from './stack.js';

/** A client on the run's dev server; close the connection in afterAll. */
export async function connectClient(): Promise<{ client: Client; connection: Connection }> {
  const stack = testStack();
  const connection = await Connection.connect({ address: stack.temporalAddress });
  return { client: new Client({ connection, namespace: stack.namespace }), connection };
}

let runtimeInstalled = false;

/** Workers log only warnings in tests: jest output stays readable. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Another test file in this jest worker installed it already.
  }
}

/** A worker on the run's dev server using the workflow bundle built once in global setup. */
export async function createTestWorker(
  options: Omit<WorkerOptions, 'connection' | 'namespace' | 'workflowBundle' | 'workflowsPath'> & { workflows?: boolean },
): Promise<{ worker: Worker; connection: NativeConnection }> {
  installQuietRuntime();
  const stack = testStack();
  const connection = await NativeConnection.connect({ address: stack.temporalAddress });
  const { workflows = true, ...rest } = options;
  const worker = await Worker.create({
    ...rest,
    connection,
    namespace: stack.namespace,
    ...(workflows ? { workflowBundle: { codePath: stack.workflowBundlePath } } : {}),
  });
  return { worker, connection };
}
