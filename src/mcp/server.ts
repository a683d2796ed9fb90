import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { SandboxClient } from '../client/sandbox-client.js';
import { sbxTools, toolError, toolInputSchema } from './tools.js';

/**
 * The MCP server of `sbx mcp`: one tool per session operation. A failed call, whatever failed (bad
 * arguments, an sbx error, Temporal out of reach), is a tool result with `isError` naming the sbx error
 * type, so the agent reads why and the server carries on.
 */
export async function serveMcp(client: SandboxClient, transport: Transport, version: string): Promise<Server> {
  const tools = sbxTools(client);
  const byName = new Map(tools.map((t) => [t.name, t]));
  const server = new Server({ name: 'sbx', version }, { capabilities: { tools: {} } });

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools.map((t) => ({ name: t.name, description: t.description, inputSchema: toolInputSchema(t) })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const tool = byName.get(request.params.name);
    if (!tool) {
      return failed('InvalidArgument', `no tool ${request.params.name}; the tools are ${tools.map((t) => t.name).join(', ')}`);
    }
    try {
      const result = await tool.run(request.params.arguments ?? {});
      return { content: [{ type: 'text', text: JSON.stringify(result ?? {}, null, 2) }] };
    } catch (err) {
      const { type, message } = toolError(err);
      return failed(type, message);
    }
  });

  await server.connect(transport);
  return server;
}

function failed(type: string, message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${type}: ${message}` }], structuredContent: { error: { type, message } } };
}
