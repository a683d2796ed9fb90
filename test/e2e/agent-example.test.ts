import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { examplePlan } from '../../examples/agent/plan.js';
import { startAgentWorker } from '../../examples/agent/worker.js';
import { agentWorkflow, nextSignal, progressQuery, type AgentReport } from '../../examples/agent/workflows.js';
import { ensureNexusEndpoint } from '../../src/nexus/endpoint.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { CALLER_NAMESPACE, testStack, uniqueNames } from '../harness/stack.js';

let sbx: SbxTestStack;
let connection: Connection;
let agents: Client;
let endpoint: string;
let agentWorker: Awaited<ReturnType<typeof startAgentWorker>>;
const names = uniqueNames(import.meta.url);
const taskQueue = `agent-${names.id}`;

const startWorker = () =>
  startAgentWorker({ address: testStack().temporalAddress, namespace: CALLER_NAMESPACE, taskQueue, sbx: sbx.client });

beforeAll(async () => {
  sbx = await startSbx(import.meta.url);
  connection = await Connection.connect({ address: testStack().temporalAddress });
  endpoint = `sbx-${names.id}`.replace(/-+$/, '');
  await ensureNexusEndpoint(connection, { name: endpoint, namespace: testStack().namespace, taskQueue: sbx.controlTaskQueue });
  agents = new Client({ connection, namespace: CALLER_NAMESPACE });
  agentWorker = await startWorker();
}, 180_000);

afterAll(async () => {
  await agentWorker?.stop();
  await connection?.close();
  await sbx?.stop();
});

/** Waits until the agent has finished `turns` turns and waits for `next`. */
async function atTurn(handle: WorkflowHandle<typeof agentWorkflow>, turns: number) {
  for (;;) {
    const progress = await handle.query(progressQuery);
    if (progress.turnsDone >= turns && progress.waiting) return progress;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('examples/agent: an agent workflow in namespace agents drives a session through Nexus', () => {
  it('runs three turns, rolls back a failed tool call, forks two plans, destroys, and runs no tool call twice', async () => {
    const sessionId = `agent-${Date.now().toString(36)}`;
    const handle = await agents.workflow.start(agentWorkflow, {
      taskQueue,
      workflowId: `agent-${sessionId}`,
      args: [{ ...examplePlan(sessionId), endpoint, stepThrough: true }],
    });
    const session = sbx.client.session(sessionId);
    const file = async (path: string, s = session) => (await s.readFile(path)).content;

    const one = await atTurn(handle, 1);
    expect(one.turns[0]!.ended).toEqual({ completed: 1 });
    expect(await file('NOTES.md')).toBe('turn 1\n');
    expect(await file('src/greet.sh')).toBe('echo "hello, $1"\n');
    const details = await sbx.client.temporal.workflow.getHandle(`sbx-session-${sessionId}`).describe();
    expect(await details.staticDetails()).toBe(`created through Nexus by workflow agent-${sessionId} in namespace ${CALLER_NAMESPACE}`);

    // Both workers go away and come back between turns: the run carries on where it was.
    await agentWorker.stop();
    await sbx.restartControl();
    agentWorker = await startWorker();
    await handle.signal(nextSignal);

    const two = await atTurn(handle, 2);
    expect(two.turns[1]!.ended).toEqual({ completed: 2 });
    expect(await file('NOTES.md')).toBe('turn 1\nturn 2\n');
    expect(await file('out.txt')).toBe('hello, world\n');
    await handle.signal(nextSignal);

    // Turn 3's test fails: the agent rolls back to turn 2, and its last tool call never runs.
    const three = await atTurn(handle, 3);
    expect(three.turns[2]!.ended).toMatchObject({ rolledBackTo: 2 });
    expect(three.turns[2]!.outcomes.map((o) => o.ok)).toEqual([true, true, false]);
    expect(await file('NOTES.md')).toBe('turn 1\nturn 2\n');
    expect(await file('src/greet.sh')).toBe('echo "hello, $1"\n');
    expect((await session.info()).turn).toBe(2);
    await handle.signal(nextSignal);

    // Two plans side by side: plan A in the session, plan B in a fork of turn 2.
    const forked = await atTurn(handle, 4);
    expect(forked.turns[3]!.ended).toEqual({ completed: 3 });
    expect(await file('NOTES.md')).toBe('turn 1\nturn 2\nplan A\n');
    const fork = sbx.client.session(`${sessionId}-alt`);
    expect(await file('NOTES.md', fork)).toBe('turn 1\nturn 2\nplan B\n');
    expect(await file('test.sh', fork)).toBe('test "$(sh src/greet.sh sbx)" = "hello, sbx"\n');
    await handle.signal(nextSignal);

    const report: AgentReport = await handle.result();
    expect(report.fork?.planB.outcomes.map((o) => o.output)).toEqual(['turn 1\nturn 2\nplan B\n', 'hello, world\n']);
    // The createSession operation the agent held ends with the session's final info.
    expect(report.final).toMatchObject({ sessionId, state: 'destroyed', turn: 3 });
    // Execs: 1 + 2 + 2 (the failing test) + 1 (plan A), each once, across both restarts.
    expect(report.final.toolCalls).toBe(6);
    expect((await fork.info()).state).toBe('destroyed');
  });
});

describe('examples/agent, second variant: the same agent through sandbox activities in its own worker', () => {
  it('runs the same plan with the same files and no tool call twice', async () => {
    const sessionId = `agent-act-${Date.now().toString(36)}`;
    const handle = await agents.workflow.start(agentWorkflow, {
      taskQueue,
      workflowId: `agent-${sessionId}`,
      args: [{ ...examplePlan(sessionId), via: 'activities', stepThrough: true }],
    });
    const session = sbx.client.session(sessionId);
    await atTurn(handle, 1);
    expect((await session.readFile('NOTES.md')).content).toBe('turn 1\n');
    const details = await sbx.client.temporal.workflow.getHandle(`sbx-session-${sessionId}`).describe();
    expect(await details.staticDetails()).toBe(`created by an activity of workflow agent-${sessionId}`);
    await agentWorker.stop();
    agentWorker = await startWorker();
    await handle.signal(nextSignal);
    await atTurn(handle, 2);
    await handle.signal(nextSignal);
    const three = await atTurn(handle, 3);
    expect(three.turns[2]!.ended).toMatchObject({ rolledBackTo: 2 });
    expect((await session.readFile('NOTES.md')).content).toBe('turn 1\nturn 2\n');
    await handle.signal(nextSignal);
    await atTurn(handle, 4);
    expect((await sbx.client.session(`${sessionId}-alt`).readFile('NOTES.md')).content).toBe('turn 1\nturn 2\nplan B\n');
    await handle.signal(nextSignal);
    const report = await handle.result();
    expect(report.final).toMatchObject({ sessionId, state: 'destroyed', turn: 3, toolCalls: 6 });
  });
});
