import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { examplePlan } from '../../examples/agent/plan.js';
import { startAgentWorker } from '../../examples/agent/worker.js';
import { agentWorkflow } from '../../examples/agent/workflows.js';
import { freePort } from '../../src/dev/net.js';
import { spawnSbx, type SbxProcess } from '../harness/cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/** Out of the box: under `sbx dev`, the example agent in namespace `agents` reaches sbx through endpoint `sbx`. */
describe('sbx dev serves the Nexus service', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const dataDir = mkdtempSync(join(stack.scratch, 'dev-nexus-'));
  let dev: SbxProcess | undefined;

  afterAll(async () => {
    dev?.child.kill('SIGINT');
    await dev?.child;
  });

  it('registers the endpoint sbx and the namespace agents, and the example agent runs on them', async () => {
    const port = await freePort();
    const args = ['dev', '--no-demo', '--data-dir', dataDir, '--port', String(port), '--ui-port', String(await freePort())];
    dev = await spawnSbx([...args, '--zfs-root', `${stack.zfsRoot}/${id}`], 'sbx is up', 120_000);
    const address = `127.0.0.1:${port}`;
    const worker = await startAgentWorker({ address, namespace: 'agents', taskQueue: 'agent-example' });
    const connection = await Connection.connect({ address });
    try {
      const sessionId = 'dev-agent';
      const report = await new Client({ connection, namespace: 'agents' }).workflow.execute(agentWorkflow, {
        taskQueue: 'agent-example',
        workflowId: `agent-${sessionId}`,
        args: [examplePlan(sessionId)],
      });
      expect(report.turns.map((t) => t.ended)).toEqual([
        { completed: 1 },
        { completed: 2 },
        expect.objectContaining({ rolledBackTo: 2 }),
        { completed: 3 },
      ]);
      expect(report.final).toMatchObject({ sessionId, state: 'destroyed', toolCalls: 6 });
    } finally {
      await worker.stop();
      await connection.close();
    }
  }, 400_000);
});
