import { Client, Connection } from '@temporalio/client';
import type { ExecResult } from '../../src/common/sandbox.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import type { Session } from '../../src/client/session.js';
import { testStack } from '../harness/stack.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';

/** Turns (snapshots) the session takes; SBX_SIZE_TURNS lowers it on a slow machine. */
const TURNS = Number(process.env.SBX_SIZE_TURNS ?? 500);

const started = Date.now();
/** Progress, with the seconds since the file started: the measurements the report quotes. */
const note = (what: string) => console.log(`[size +${Math.round((Date.now() - started) / 1000)}s] ${what}`);

/** `seq 1 n` as the command prints it. */
const seq = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');

/** A stream read back in full through readOutput, page by page. */
async function readAll(session: Session, ref: string, stream: 'stdout' | 'stderr'): Promise<string> {
  let text = '';
  for (let offset: number | undefined = 0; offset !== undefined;) {
    const page = await session.readOutput(ref, { stream, offset, maxBytes: 256 * 1024 });
    expect(page.encoding).toBe('utf8');
    text += page.data;
    offset = page.nextOffset;
  }
  return text;
}

/**
 * A session that produces large outputs, hundreds of snapshots and a day-long exec beside steady
 * ones. The run's dev server suggests continue-as-new at 400 history events (test/harness/setup-stack.ts).
 */
describe('a session is never killed by its own size', () => {
  let sbx: SbxTestStack;
  let temporal: Client;
  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
    const stack = testStack();
    // A history page holding a few 1.5 MB results is larger than gRPC's default 4 MB message.
    const connection = await Connection.connect({
      address: stack.temporalAddress,
      channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    });
    temporal = new Client({ connection, namespace: stack.namespace });
  });
  afterAll(async () => {
    await temporal?.connection.close();
    await sbx?.stop();
  });

  it(
    'keeps 2 MB outputs readable, survives a day-long exec and hundreds of snapshots, and no workflow task fails',
    async () => {
      const { session } = await sbx.client.createSession({ sessionId: 'size-1', maxSnapshots: 1000 });
      const bigOut = seq(300_000); // about 2 MB
      const bigCommand = 'seq 1 300000; seq 1 20000 >&2';

      // A 2 MB result: its head inline, the whole of it on the host.
      const big = await session.exec({ toolCallId: 'big-1', command: bigCommand });
      expect(big).toMatchObject({ exitCode: 0, truncated: true });
      expect(bigOut.startsWith(big.stdout)).toBe(true);
      expect(big.fullOutput).toEqual({ ref: 'big-1', stdoutBytes: bigOut.length, stderrBytes: seq(20_000).length, complete: true });
      expect(await readAll(session, big.fullOutput!.ref, 'stdout')).toBe(bigOut);
      expect(await readAll(session, big.fullOutput!.ref, 'stderr')).toBe(seq(20_000));

      note('2 MB output read back');
      // Hundreds of snapshots, with steady execs and more 2 MB outputs between them.
      const steady: Promise<ExecResult>[] = [];
      let steadyCount = 0;
      const steadyExec = () => {
        const id = `steady-${steadyCount++}`;
        const call = session.exec({ toolCallId: id, command: `echo ${id} >> /workspace/steady.log` });
        steady.push(call);
        return call;
      };
      for (let turn = 1; turn <= TURNS; turn++) {
        void steadyExec();
        if (turn % 100 === 0) steady.push(session.exec({ toolCallId: `big-turn-${turn}`, command: bigCommand }));
        expect((await session.turnComplete()).turn).toBe(turn);
        if (turn % 50 === 0) note(`turn ${turn}, run ${(await session.info()).runs}`);
      }

      // A day-long command, not awaited (a turn waits for the tool calls in flight, so none is taken
      // now), beside steady execs until the session has continued as new at least once while it runs.
      const runsAtSleep = (await session.info()).runs;
      const sleeping = session.exec({ toolCallId: 'sleep-day', command: 'sleep 86400', timeoutMs: 24 * 3600_000 });
      while ((await session.info()).runs === runsAtSleep) await steadyExec();
      for (let i = 0; i < 20; i++) await steadyExec();
      const runsWhileSleeping = (await session.info()).runs;
      expect(runsWhileSleeping).toBeGreaterThan(runsAtSleep);
      // Every steady exec answered, each ran once.
      for (const result of await Promise.all(steady)) expect(result.exitCode).toBe(0);
      const log = await session.readFile('/workspace/steady.log');
      expect(log.content.split('\n').filter(Boolean).sort()).toEqual(Array.from({ length: steadyCount }, (_, i) => `steady-${i}`).sort());

      // A big result from an earlier run: its output was dropped when the session continued, its reference still reads it.
      const old = await session.exec({ toolCallId: 'big-1', command: bigCommand });
      expect(old).toMatchObject({ outputExpired: true, stdout: '', fullOutput: { ref: 'big-1' } });
      expect(await readAll(session, 'big-1', 'stdout')).toBe(bigOut);
      await expect(session.readOutput('never-ran')).rejects.toMatchObject({ type: 'OutputExpired' });

      // The day-long exec, resent across every continue-as-new, is still the one command: stopping it answers it.
      const sleeps = await session.exec({ toolCallId: 'count-sleeps', command: "ps | grep -c '[s]leep 86400'" });
      expect(sleeps.stdout.trim()).toBe('1');
      await session.exec({ toolCallId: 'stop-sleep', command: 'killall sleep' });
      const slept = await sleeping;
      expect(slept.exitCode).not.toBe(0);
      const info = await session.info();
      expect(info).toMatchObject({ state: 'active', turn: TURNS });
      expect(info.snapshots).toHaveLength(TURNS);

      // No run of the session failed a workflow task. The server refusing a continue-as-new because an
      // update arrived meanwhile (UnhandledCommand) is not a failure: the worker retries with the update.
      const workflowId = sessionWorkflowId('size-1');
      const failed: string[] = [];
      let runs = 0;
      for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
        runs++;
        const history = await temporal.workflow.getHandle(workflowId, run.runId).fetchHistory();
        for (const event of history.events ?? []) {
          const failure = event.workflowTaskFailedEventAttributes;
          if (failure && failure.failure?.message !== 'UnhandledCommand') failed.push(`${run.runId}: ${failure.failure?.message}`);
        }
      }
      expect(runs).toBeGreaterThan(1);
      expect(failed).toEqual([]);
      note(`done: ${TURNS} turns, ${steadyCount} steady execs, ${info.runs} runs (${runsWhileSleeping - runsAtSleep} while the sleep ran)`);
      await session.destroy();
    },
    90 * 60_000,
  );
});
