import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ExecResult } from '../../../src/common/sandbox.js';
import { execUpdate, turnCompleteUpdate } from '../../../src/protocol/messages.js';
import { WorkflowTestEnv } from '../harness/env.js';
import { startDevServer } from '../harness/server.js';

// A server of its own that suggests continue-as-new after a few dozen events, so a session continues
// within a handful of tool calls (the shared server keeps the default and other tests never continue).
describe('continue-as-new', () => {
  let server: TestWorkflowEnvironment;
  let env: WorkflowTestEnv;
  beforeAll(async () => {
    server = await startDevServer(['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40']);
    env = await WorkflowTestEnv.start(import.meta.url, { address: server.address, namespace: server.namespace ?? 'default' });
  });
  afterAll(async () => {
    await env?.teardown();
    await server?.teardown();
  });

  test('a repeated toolCallId after continue-as-new answers from the record instead of running again', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 0 });
    const turn = await handle.executeUpdate(turnCompleteUpdate);

    const results = new Map<string, ExecResult>();
    const call = async (toolCallId: string) =>
      results.set(
        toolCallId,
        await handle.executeUpdate(execUpdate, { args: [{ toolCallId, command: ['true'] }], updateId: `${toolCallId}-a` }),
      );
    await call('call-0');
    const runsBefore = (await env.info(handle)).runs;
    for (let i = 1; (await env.info(handle)).runs === runsBefore; i++) {
      if (i > 40) throw new Error('the session never continued as new');
      await call(`call-${i}`);
    }

    // A client retrying its first call (a new update id: update ids de-duplicate only within one run).
    const again = await handle.executeUpdate(execUpdate, { args: [{ toolCallId: 'call-0', command: ['true'] }], updateId: 'call-0-b' });
    expect(again).toEqual(results.get('call-0'));
    const ranCall0 = env.recorder.calls.filter(
      (c) =>
        c.phase === 'start' &&
        c.activity === 'execCommand' &&
        (c.input as { request: { toolCallId: string } }).request.toolCallId === 'call-0',
    );
    expect(ranCall0).toHaveLength(1);

    const info = await env.info(handle);
    expect(info.state).toBe('active');
    expect(info.turn).toBe(turn.turn);
    expect(info.toolCalls).toBe(results.size);
  });
});
