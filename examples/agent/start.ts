/**
 * Starts one run of the example agent and prints its report.
 *   node --import tsx examples/agent/start.ts [sessionId] [nexus|activities]
 */
import { Client, Connection } from '@temporalio/client';
import { examplePlan } from './plan.js';
import { AGENT_TASK_QUEUE } from './worker.js';

const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
const client = new Client({ connection, namespace: process.env.AGENT_NAMESPACE ?? 'agents' });
const sessionId = process.argv[2] ?? `agent-${Date.now().toString(36)}`;
const report = await client.workflow.execute('agentWorkflow', {
  taskQueue: process.env.AGENT_TASK_QUEUE ?? AGENT_TASK_QUEUE,
  workflowId: `agent-${sessionId}`,
  args: [{ ...examplePlan(sessionId), via: process.argv[3] === 'activities' ? 'activities' : 'nexus' }],
});
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
await connection.close();
