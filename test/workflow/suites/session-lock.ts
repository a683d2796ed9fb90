import { expect, test } from '@jest/globals';
import { WorkflowUpdateStage } from '@temporalio/client';
import { execUpdate, rollbackUpdate, turnCompleteUpdate } from '../../../src/protocol/messages.js';
import { eventually } from '../harness/env.js';
import { env } from '../harness/current.js';
import { gate, heldBy, type Gate } from '../harness/stubs.js';

const execArgs = (toolCallId: string) => ({ args: [{ toolCallId, command: ['true'] }] as [{ toolCallId: string; command: string[] }] });
const done = { exitCode: 0, stdout: '', stderr: '', truncated: false, status: 'exited' as const, durationMs: 1 };
/** Long enough for a call that did not wait to reach the stub host. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

/** A session whose host holds the exec `held` and any rollback while `rollbackHeld` is set. */
async function sessionWithGates(gates: { exec?: Record<string, Gate>; rollback?: Gate }) {
  const hostId = env.id('h');
  await env.startHost(hostId, () => ({
    execCommand: async (raw) => {
      const held = gates.exec?.[raw.request.toolCallId];
      if (held) await heldBy(held);
      return done;
    },
    rollbackSandbox: async () => {
      if (gates.rollback) await heldBy(gates.rollback);
    },
  }));
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 0 });
  await handle.executeUpdate(turnCompleteUpdate);
  return { handle, sessionId };
}

test('a rollback waits for the tool call in flight, and a tool call sent meanwhile waits for the rollback', async () => {
  const first = gate();
  const { handle, sessionId } = await sessionWithGates({ exec: { first } });
  const inFlight = handle.executeUpdate(execUpdate, execArgs('first'));
  await eventually(
    async () => env.recorder.count('execCommand', sessionId),
    (n) => n === 1,
    'the first exec to reach the host',
  );

  const rollback = await handle.startUpdate(rollbackUpdate, { args: [{ turn: 1 }], waitForStage: WorkflowUpdateStage.ACCEPTED });
  const later = await handle.startUpdate(execUpdate, { ...execArgs('later'), waitForStage: WorkflowUpdateStage.ACCEPTED });
  await settle();
  expect(env.recorder.started(sessionId)).not.toContain('rollbackSandbox');
  expect(env.recorder.count('execCommand', sessionId)).toBe(1);

  first.open();
  await inFlight;
  expect(await rollback.result()).toEqual({ snapshotId: 'turn-000001', turn: 1 });
  await later.result();
  const timeline = env.recorder.timeline(sessionId).filter((e) => /^(execCommand|rollbackSandbox):/.test(e));
  expect(timeline).toEqual([
    'execCommand:start',
    'execCommand:end',
    'rollbackSandbox:start',
    'rollbackSandbox:end',
    'execCommand:start',
    'execCommand:end',
  ]);
});

test('tool calls sent during a rollback run after it', async () => {
  const rollbackGate = gate();
  const { handle, sessionId } = await sessionWithGates({ rollback: rollbackGate });
  const rollback = handle.executeUpdate(rollbackUpdate, { args: [{ turn: 1 }] });
  await eventually(
    async () => env.recorder.count('rollbackSandbox', sessionId),
    (n) => n === 1,
    'the rollback to reach the host',
  );

  const calls = await Promise.all(
    ['a', 'b'].map((id) => handle.startUpdate(execUpdate, { ...execArgs(id), waitForStage: WorkflowUpdateStage.ACCEPTED })),
  );
  await settle();
  expect(env.recorder.count('execCommand', sessionId)).toBe(0);

  rollbackGate.open();
  await rollback;
  await Promise.all(calls.map((c) => c.result()));
  const timeline = env.recorder.timeline(sessionId);
  const firstExec = timeline.indexOf('execCommand:start');
  expect(timeline.indexOf('rollbackSandbox:end')).toBeLessThan(firstExec);
  expect(env.recorder.count('execCommand', sessionId)).toBe(2);
});

test('concurrent turnCompletes each get their own turn and snapshot', async () => {
  const hostId = env.id('h');
  const firstSnapshot = gate();
  let snapshots = 0;
  await env.startHost(hostId, () => ({
    snapshotSandbox: async (raw) => {
      // The first holds the lock while the others queue up behind it and are woken together.
      if (++snapshots === 1) await heldBy(firstSnapshot);
      return { name: raw.name, createTxg: snapshots, usedBytes: 0, referencedBytes: 0 };
    },
  }));
  const sessionId = env.id('s');
  const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 0 });

  const first = handle.executeUpdate(turnCompleteUpdate);
  await eventually(
    async () => snapshots,
    (n) => n === 1,
    'the first snapshot to reach the host',
  );
  const rest = await Promise.all(
    [1, 2, 3].map(() => handle.startUpdate(turnCompleteUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED })),
  );
  firstSnapshot.open();
  const results = [await first, ...(await Promise.all(rest.map((u) => u.result())))];

  expect(results.map((r) => r.turn).sort()).toEqual([1, 2, 3, 4]);
  expect(new Set(results.map((r) => r.snapshotId)).size).toBe(4);
  const info = await env.info(handle);
  expect(info.turn).toBe(4);
  expect(info.snapshots.map((s) => s.turn)).toEqual([1, 2, 3, 4]);
});
