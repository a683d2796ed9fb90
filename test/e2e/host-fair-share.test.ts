import { Client, Connection } from '@temporalio/client';
import { SbxError } from '../../src/client/errors.js';
import type { Session } from '../../src/client/session.js';
import type { ExecResult } from '../../src/common/sandbox.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { recordHistory } from '../harness/histories.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack } from '../harness/stack.js';

// PendingActivityState values in a workflow's description.
const SCHEDULED = 1;
const STARTED = 2;

type Outcome = { result: ExecResult } | { error: SbxError };

/** Starts tool calls without awaiting them; each settles into its result or its SbxError. */
function startSleeps(session: Session, prefix: string, count: number): { outcomes: Outcome[]; settled: Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  const calls = Array.from({ length: count }, (_, i) =>
    session.exec({ toolCallId: `${prefix}-${i}`, command: 'sleep 3600' }).then(
      (result) => outcomes[outcomes.push({ result }) - 1]!,
      (error: unknown) => {
        if (!(error instanceof SbxError)) throw error;
        return outcomes[outcomes.push({ error }) - 1]!;
      },
    ),
  );
  return { outcomes, settled: Promise.all(calls) };
}

const busy = (outcomes: Outcome[]) => outcomes.filter((o) => 'error' in o && o.error.type === 'Busy').length;

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * A session that starts many long tool calls takes only its own share of a host: its neighbours
 * still create, exec, snapshot and destroy, and nobody is declared lost because a call waited.
 */
describe('fair share of a host (real dev server, zfs-fuse, runsc)', () => {
  let sbx: SbxTestStack;
  let connection: Connection;
  let temporal: Client;
  // Unique ids: runsc names a sandbox's control socket after its container id, machine-wide.
  const suffix = Date.now().toString(36);
  const id = (name: string) => `${name}-${suffix}`;
  // Few slots, so the test fills them quickly: 4 for lifecycle work, 6 for tool calls.
  beforeAll(async () => {
    sbx = await startSbx(import.meta.url, { maxConcurrentActivities: 4, maxConcurrentToolCalls: 6 });
    connection = await Connection.connect({ address: testStack().temporalAddress });
    temporal = new Client({ connection, namespace: testStack().namespace });
  });
  afterAll(async () => {
    // After a failure, sleeps may still run: stop their sandboxes so no call outlives the stack.
    for (const name of ['hog', 'full-1', 'full-2']) await sbx?.host.runtime.destroy(id(name)).catch(() => undefined);
    await connection?.close();
    await sbx?.stop();
  });

  const request = { template: 'busybox', hostTimeoutMs: 5000 };
  /** A session's tool calls the host has picked up (started) and those still waiting for a slot (scheduled). */
  const toolCalls = async (sessionId: string) => {
    const { raw } = await temporal.workflow.getHandle(sessionWorkflowId(sessionId)).describe();
    const states = (raw.pendingActivities ?? []).map((a) => a.state);
    return {
      started: states.filter((state) => state === STARTED).length,
      waiting: states.filter((state) => state === SCHEDULED).length,
    };
  };
  it('keeps a neighbour working while one session starts 40 sleeps, and refuses the excess with Busy', async () => {
    const { session: hog } = await sbx.client.createSession({ sessionId: id('hog'), ...request });
    const hogCalls = startSleeps(hog, 'sleep', 40);
    await until('the hog to run its sleeps', async () => (await toolCalls(id('hog'))).started >= 4);

    const { session: neighbour, info } = await sbx.client.createSession({ sessionId: id('neighbour'), ...request });
    expect(info.state).toBe('active');
    expect(await neighbour.exec({ toolCallId: 'hello', command: 'echo hello > /workspace/f; cat /workspace/f' })).toMatchObject({
      exitCode: 0,
      stdout: 'hello\n',
    });
    expect(await neighbour.turnComplete()).toMatchObject({ turn: 1, snapshotId: 'turn-000001' });
    expect((await neighbour.destroy()).state).toBe('destroyed');

    // The hog runs its own share (maxToolCalls, 4 by default); the other 36 were refused at once.
    await until('the excess calls to be refused', () => hogCalls.outcomes.length >= 36);
    expect(busy(hogCalls.outcomes)).toBe(36);
    expect(await toolCalls(id('hog'))).toEqual({ started: 4, waiting: 0 });
    expect(await hog.info()).toMatchObject({ state: 'active' });

    // A destroy stops the running sleeps rather than waiting an hour for them.
    expect((await hog.destroy()).state).toBe('destroyed');
    const stopped = (await hogCalls.settled).filter((o) => 'error' in o && o.error.type === 'SessionDestroyed');
    expect(stopped).toHaveLength(4);
    await recordHistory(id('hog'), 'session-destroy-stops-tools');
  });

  it('answers Busy, not host-lost, when every tool slot is taken, and lifecycle work goes on', async () => {
    const [first, second] = await Promise.all(
      ['full-1', 'full-2'].map(async (name) => (await sbx.client.createSession({ sessionId: id(name), ...request })).session),
    );
    const firstCalls = startSleeps(first!, 'a', 4);
    await until('the first session to run its sleeps', async () => (await toolCalls(id('full-1'))).started === 4);
    // 2 of the host's 6 tool slots are left: two of these run, two wait for a slot that never frees.
    const secondCalls = startSleeps(second!, 'b', 4);
    await until('the second session to run two sleeps', async () => (await toolCalls(id('full-2'))).started === 2);
    expect(await toolCalls(id('full-2'))).toEqual({ started: 2, waiting: 2 });

    // With every tool slot taken, a session is still created, snapshotted and destroyed.
    const { session: third } = await sbx.client.createSession({ sessionId: id('full-3'), ...request });
    expect(await third.turnComplete()).toMatchObject({ turn: 1 });
    expect((await third.destroy()).state).toBe('destroyed');

    await until('the waiting calls to give up', () => secondCalls.outcomes.length >= 2);
    expect(busy(secondCalls.outcomes)).toBe(2);
    expect(await second!.info()).toMatchObject({ state: 'active' });
    expect(await first!.info()).toMatchObject({ state: 'active' });

    for (const session of [first!, second!]) expect((await session.destroy()).state).toBe('destroyed');
    await Promise.all([firstCalls.settled, secondCalls.settled]);
    await recordHistory(id('full-2'), 'session-tool-slot-busy');
  });
});
