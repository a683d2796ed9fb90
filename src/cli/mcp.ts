import { readFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Command, Option } from 'commander';
import { SandboxClient } from '../client/sandbox-client.js';
import { CONTROL_TASK_QUEUE } from '../common/names.js';
import { serveMcp } from '../mcp/server.js';
import type { GlobalOptions } from './connect.js';

/** `sbx mcp`: an MCP server on stdin/stdout for agents that speak MCP; nothing else goes to stdout. */
export function mcpCommand(globals: () => GlobalOptions): Command {
  return new Command('mcp')
    .description('serve sbx sessions to an MCP client over stdio (tools sandbox_create, sandbox_exec, …)')
    .addOption(
      new Option('--task-queue <name>', 'task queue of the control workers').env('SBX_CONTROL_TASK_QUEUE').default(CONTROL_TASK_QUEUE),
    )
    .action(async (o: { taskQueue: string }) => {
      const g = globals();
      let client: SandboxClient;
      try {
        client = await SandboxClient.connect({ address: g.address, namespace: g.namespace, taskQueue: o.taskQueue });
      } catch (err) {
        process.stderr.write(`sbx mcp: cannot reach Temporal at ${g.address}: ${(err as Error).message}\n`);
        process.exit(1);
      }
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
      await serveMcp(client, transport, packageVersion());
      process.stdin.once('end', () => void transport.close());
      await closed;
      await client.close();
    });
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
