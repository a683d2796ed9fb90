import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ExecResult } from '../../../src/common/sandbox.js';
import { execUpdate, turnCompleteUpdate } from '../../../src/protocol/messages.js';
import { WorkflowTestEnv, eventually, failureType } from '../harness/env.js';
import { startDevServer } from '../harness/server.js';
import { gate, heldBy } from '../harness/stubs.js';

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
    // As a client does: a call the run hands over (ContinuedAsNew) is sent again, same toolCallId.
    const call = async (toolCallId: string) => {
      for (let attempt = 0; ; attempt++) {
        const update = handle.executeUpdate(execUpdate, {
          args: [{ toolCallId, command: ['true'] }],
          updateId: `${toolCallId}-${attempt}`,
        });
        try {
          results.set(toolCallId, await update);
          return;
        } catch (err) {
          if (attempt > 5 || (await failureType(Promise.reject(err))) !== 'ContinuedAsNew') throw err;
        }
      }
    };
    const untilContinued = async (prefix: string) => {
      const runsBefore = (await env.info(handle)).runs;
      for (let i = 0; (await env.info(handle)).runs === runsBefore; i++) {
        if (i > 40) throw new Error('the session never continued as new');
        await call(`${prefix}-${i}`);
      }
    };
    // call-0 starts a fresh run, so it ends well before that run continues as new.
    await untilContinued('warm');
    await call('call-0');
    await untilContinued('call');

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

  test('a day-long tool call does not hold continue-as-new back; resent, it is answered on the new run', async () => {
    const hostId = env.id('h');
    const long = gate();
    // The host keeps the command running across runs (its journal re-attaches a resent toolCallId): the stub
    // holds every attempt at 'long' on the same gate.
    await env.startHost(hostId, () => ({
      execCommand: async (raw) => {
        if (raw.request.toolCallId === 'long') await heldBy(long);
        return { exitCode: 0, stdout: raw.request.toolCallId, stderr: '', truncated: false, status: 'exited', durationMs: 1 };
      },
    }));
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 0 });
    const longArgs = { args: [{ toolCallId: 'long', command: ['sleep', '86400'] }] as [{ toolCallId: string; command: string[] }] };
    const first = handle.executeUpdate(execUpdate, { ...longArgs, updateId: 'long-a' });
    const longRuns = async () =>
      env.recorder.calls.filter(
        (c) =>
          c.phase === 'start' &&
          c.activity === 'execCommand' &&
          (c.input as { request: { toolCallId: string } }).request.toolCallId === 'long',
      ).length;
    await eventually(longRuns, (n) => n === 1, 'the long exec to reach the host');

    const runsBefore = (await env.info(handle)).runs;
    for (let i = 0; (await env.info(handle)).runs === runsBefore; i++) {
      if (i > 60) throw new Error('the session never continued as new while the long call ran');
      // A call refused while continue-as-new is pending left no trace: the same call is sent again.
      await handle
        .executeUpdate(execUpdate, { args: [{ toolCallId: `steady-${i}`, command: ['true'] }] })
        .catch(async (err) => expect(await failureType(Promise.reject(err))).toBe('ContinuedAsNew'));
    }
    // The call in flight is answered with a typed error saying to send it again: nothing was lost.
    expect(await failureType(first)).toBe('ContinuedAsNew');
    const resent = handle.executeUpdate(execUpdate, { ...longArgs, updateId: 'long-b' });
    await eventually(longRuns, (n) => n === 2, 'the resent long exec to reach the host');
    long.open();
    expect((await resent).stdout).toBe('long');
    expect((await env.info(handle)).state).toBe('active');
  });
});
