import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cli } from '../harness/cli.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack } from '../harness/stack.js';

let sbx: SbxTestStack;
let mcp: Client;
let stderr = '';

beforeAll(async () => {
  sbx = await startSbx(import.meta.url);
  const stack = testStack();
  // The MCP SDK's own client, spawning `sbx mcp` as an agent's MCP configuration would.
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, '--address', stack.temporalAddress, '--namespace', stack.namespace, 'mcp', '--task-queue', sbx.controlTaskQueue],
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  mcp = new Client({ name: 'sbx-test', version: '1.0.0' });
  await mcp.connect(transport);
}, 120_000);

afterAll(async () => {
  await mcp?.close();
  await sbx?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions read arbitrary tool results
async function call(name: string, args: Record<string, unknown>): Promise<{ ok: boolean; text: string; json?: any }> {
  const result = (await mcp.callTool({ name, arguments: args })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ok: !result.isError, text, json };
}

describe('sbx mcp, driven by the MCP SDK client over stdio', () => {
  it('lists the sandbox tools with JSON schemas from the client schemas', async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        'sandbox_create',
        'sandbox_destroy',
        'sandbox_exec',
        'sandbox_fork',
        'sandbox_list_dir',
        'sandbox_read_file',
        'sandbox_read_output',
        'sandbox_rollback',
        'sandbox_turn_complete',
        'sandbox_write_file',
      ].sort(),
    );
    const exec = tools.find((t) => t.name === 'sandbox_exec')!;
    expect(exec.inputSchema.type).toBe('object');
    expect(exec.inputSchema.required).toEqual(expect.arrayContaining(['sessionId', 'toolCallId', 'command']));
    expect(Object.keys(exec.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(['cwd', 'env', 'timeoutMs']));
  });

  it('runs create → exec → turn → rollback → read on one session', async () => {
    const sessionId = `mcp-${Date.now().toString(36)}`;
    const created = await call('sandbox_create', { sessionId });
    expect(created.ok).toBe(true);
    expect(created.json.state).toBe('active');
    expect((await call('sandbox_write_file', { sessionId, path: 'plan.md', content: 'turn one\n' })).ok).toBe(true);
    const exec = await call('sandbox_exec', { sessionId, toolCallId: 'c1', command: 'cat plan.md; echo built > out.txt' });
    expect(exec.json).toMatchObject({ exitCode: 0, stdout: 'turn one\n', status: 'exited' });
    expect((await call('sandbox_turn_complete', { sessionId })).json.turn).toBe(1);
    await call('sandbox_exec', { sessionId, toolCallId: 'c2', command: 'echo broken > out.txt; rm plan.md' });
    expect((await call('sandbox_rollback', { sessionId, turn: 1 })).json.turn).toBe(1);
    const read = await call('sandbox_read_file', { sessionId, path: 'out.txt' });
    expect(read.json.content).toBe('built\n');
    const listed = await call('sandbox_list_dir', { sessionId });
    expect(listed.json.entries.map((e: { name: string }) => e.name).sort()).toEqual(['out.txt', 'plan.md']);
    const fork = await call('sandbox_fork', { sessionId, newSessionId: `${sessionId}-b`, turn: 1 });
    expect(fork.json).toMatchObject({ sessionId: `${sessionId}-b` });
    const inFork = await call('sandbox_exec', { sessionId: `${sessionId}-b`, toolCallId: 'f1', command: 'cat out.txt' });
    expect(inFork.json.stdout).toBe('built\n');
    expect((await call('sandbox_destroy', { sessionId: `${sessionId}-b` })).json.state).toBe('destroyed');
    expect((await call('sandbox_destroy', { sessionId })).json.state).toBe('destroyed');
    // The session says where it came from.
    const details = await sbx.client.temporal.workflow.getHandle(`sbx-session-${sessionId}`).describe();
    expect(await details.staticDetails()).toMatch(/created through MCP/);
  });

  it('answers malformed arguments and sbx errors as tool errors and keeps serving', async () => {
    const bad = [
      await call('sandbox_exec', { toolCallId: 'x', command: 'true' }),
      await call('sandbox_exec', { sessionId: 'Bad Id', toolCallId: 'x', command: 'true' }),
      await call('sandbox_exec', { sessionId: 'nope', toolCallId: 7, command: ['a', 3] }),
      await call('sandbox_create', { sessionId: 'ok-id', resources: { cpus: 'many' } }),
      await call('sandbox_rollback', { sessionId: 'nope', turn: 1, snapshot: 'both' }),
      await call('sandbox_write_file', { sessionId: 'nope' }),
      await call('sandbox_teleport', { sessionId: 'nope' }),
    ];
    for (const r of bad) {
      expect(r.ok).toBe(false);
      expect(r.text).toMatch(/^InvalidArgument: /);
    }
    const missing = await call('sandbox_read_file', { sessionId: 'no-such-session', path: 'a' });
    expect(missing).toMatchObject({ ok: false });
    expect(missing.text).toMatch(/^SessionNotFound: /);
    // Still serving.
    expect((await mcp.listTools()).tools.length).toBe(10);
    expect(stderr).not.toMatch(/Error|uncaught/i);
  });
});
