import type { Connection } from '@temporalio/client';

export interface NexusEndpointTarget {
  /** Endpoint name callers put in their workflows (`sbx` by default). */
  name: string;
  /** Where sbx's control workers run. */
  namespace: string;
  taskQueue: string;
}

/**
 * Makes the endpoint `name` route to sbx's control queue: created when absent, retargeted when it points
 * elsewhere, left alone when it is right. The same as `temporal operator nexus endpoint create`.
 */
export async function ensureNexusEndpoint(connection: Connection, target: NexusEndpointTarget): Promise<void> {
  const operator = connection.operatorService;
  const spec = {
    name: target.name,
    target: { worker: { namespace: target.namespace, taskQueue: target.taskQueue } },
  };
  const { endpoints } = await operator.listNexusEndpoints({ name: target.name, pageSize: 1 });
  const existing = endpoints?.find((e) => e.spec?.name === target.name);
  if (!existing) {
    await operator.createNexusEndpoint({ spec });
    return;
  }
  const worker = existing.spec?.target?.worker;
  if (worker?.namespace === target.namespace && worker.taskQueue === target.taskQueue) return;
  await operator.updateNexusEndpoint({ id: existing.id, version: existing.version, spec });
}
