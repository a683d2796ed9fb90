import type { Client } from '@temporalio/client';
import { warmPoolStatusQuery, type WarmPoolStatus } from '../protocol/messages.js';
import { WARM_POOL_WORKFLOW } from '../common/names.js';

/**
 * The status of every running warm pool (of one fleet when `fleetId` is given). Pools are found
 * through visibility and asked by query, so a control worker must be running to answer.
 */
export async function warmPoolStatuses(client: Client, fleetId?: string): Promise<WarmPoolStatus[]> {
  const statuses: WarmPoolStatus[] = [];
  for await (const pool of client.workflow.list({ query: `WorkflowType = '${WARM_POOL_WORKFLOW}' AND ExecutionStatus = 'Running'` })) {
    const status = await client.workflow.getHandle(pool.workflowId).query(warmPoolStatusQuery);
    if (fleetId === undefined || status.fleetId === fleetId) statuses.push(status);
  }
  return statuses.sort((a, b) => a.fleetId.localeCompare(b.fleetId) || a.template.localeCompare(b.template));
}
