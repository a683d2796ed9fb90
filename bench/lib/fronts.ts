import { fileURLToPath } from 'node:url';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ensureNexusEndpoint } from '../../src/nexus/endpoint.js';
import type { BenchStack } from './stack.js';
import type { Recorder } from './stats.js';

export const CALLER_NAMESPACE = 'agents';

/**
 * One exec (`true`) on the same session through each front, in rounds so none always runs on a warmer
 * machine: SandboxClient, `sbx mcp` driven by the MCP SDK client over stdio, and the Nexus service from a
 * caller workflow in another namespace (timed inside the workflow: Date.now() advances per workflow task).
 */
export async function frontsExec(
  stack: BenchStack,
  rec: Recorder,
  o: { tag: string; rounds: number; perRound: number; warmupRounds: number },
): Promise<void> {
  const connection = await Connection.connect({ address: stack.server.address });
  const endpoint = `sbx-bench-${o.tag}`;
  await ensureNexusEndpoint(connection, { name: endpoint, namespace: 'default', taskQueue: stack.taskQueue });
  const callerQueue = `bench-caller-${o.tag}`;
  const workerConnection = await NativeConnection.connect({ address: stack.server.address });
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: CALLER_NAMESPACE,
    taskQueue: callerQueue,
    workflowsPath: fileURLToPath(new URL('./fronts-workflows.ts', import.meta.url)),
  });
  const running = worker.run();
  const mcp = new McpClient({ name: 'sbx-bench', version: '1' });
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  await mcp.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', cli, '--address', stack.server.address, 'mcp', '--task-queue', stack.taskQueue],
    }),
  );
  const sessionId = `b${o.tag}-fronts`;
  try {
    const { session } = await stack.client.createSession({ sessionId });
    const callers = new Client({ connection, namespace: CALLER_NAMESPACE });
    for (let round = 0; round < o.warmupRounds + o.rounds; round++) {
      const discard = round < o.warmupRounds;
      for (let i = 0; i < o.perRound; i++) {
        await rec.time('exec via SandboxClient', () => session.exec({ toolCallId: `c${round}-${i}`, command: 'true' }), discard);
      }
      for (let i = 0; i < o.perRound; i++) {
        const result = await rec.time(
          'exec via MCP',
          () => mcp.callTool({ name: 'sandbox_exec', arguments: { sessionId, toolCallId: `m${round}-${i}`, command: 'true' } }),
          discard,
        );
        if (result.isError) throw new Error(`MCP exec failed: ${JSON.stringify(result.content)}`);
      }
      const times = await callers.workflow.execute('nexusExecLoop', {
        taskQueue: callerQueue,
        workflowId: `bench-nexus-${o.tag}-${round}`,
        args: [{ endpoint, sessionId, prefix: `n${round}`, n: o.perRound }],
      });
      for (const ms of times as number[]) rec.add('exec via Nexus', ms, discard);
    }
    await session.destroy();
  } finally {
    await mcp.close();
    worker.shutdown();
    await running;
    await workerConnection.close();
    await connection.close();
  }
}
