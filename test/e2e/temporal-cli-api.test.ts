import { readFileSync } from 'node:fs';
import { repoRoot } from '../../src/dev/paths.js';
import { SbxErrorType } from '../../src/client/errors.js';
import type { SessionInfo } from '../../src/protocol/messages.js';
import { recordHistory } from '../harness/histories.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { cliOutput, temporalCliLine } from '../harness/temporal-cli.js';

/**
 * Issue 14: the session workflow is a public API. The `temporal` CLI (the built binary, no sbx code on
 * the caller's side) drives a whole session with JSON alone, running the very lines docs/temporal-api.md
 * shows, so the documented contract is the one that works.
 */
describe('the temporal CLI drives a session with JSON only (real dev server, zfs-fuse, runsc)', () => {
  let sbx: SbxTestStack;
  const sessionId = 'cli-api';

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  }, 600_000);
  afterAll(async () => {
    await sbx?.stop();
  });

  /** The documented `sh` block, one command a line, for this test's session and task queue. */
  function documentedCommands(): string[] {
    const doc = readFileSync(`${repoRoot}/docs/temporal-api.md`, 'utf8');
    const block = /## With the `temporal` CLI\n\n```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    return block!
      .replace(/\\\n\s*/g, '')
      .trim()
      .split('\n')
      .map((line) => line.replace(/\bs1\b/g, sessionId).replace('--task-queue sbx-control', `--task-queue ${sbx.controlTaskQueue}`));
  }

  /** Runs one documented line as a user would type it, with the dev server's address and JSON output. */
  const run = async (line: string): Promise<unknown> => cliOutput(await temporalCliLine(line));

  const info = async (): Promise<SessionInfo> => {
    const out = (await run(`temporal workflow query --workflow-id sbx-session-${sessionId} --name info`)) as { queryResult: [SessionInfo] };
    return out.queryResult[0];
  };

  /** A signal has no reply: the test polls the info query, as a CLI user would, until the state moves. */
  async function waitForState(state: string): Promise<SessionInfo> {
    for (let i = 0; i < 600; i++) {
      const now = await info();
      if (now.state === state) return now;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`session ${sessionId} never became ${state}: ${JSON.stringify(await info())}`);
  }

  const result = (out: unknown) => (out as { result: unknown }).result;

  it('runs every documented line: create, exec, turnComplete, rollback, pause, resume, pauseNow, resumeNow, destroy', async () => {
    const lines = documentedCommands();
    const names = lines.map((line) => /--name (\w+)/.exec(line)?.[1] ?? line.split(' ')[2]);
    expect(names).toEqual([
      'start',
      'create',
      'exec',
      'turnComplete',
      'rollback',
      'pause',
      'info',
      'resume',
      'pauseNow',
      'resumeNow',
      'destroy',
    ]);
    const [start, create, exec, turnComplete, rollback, pause, query, resume, pauseNow, resumeNow, destroy] = lines as [
      string,
      ...string[],
    ];

    await run(start);
    expect(result(await run(create!))).toMatchObject({ sessionId, state: 'active', template: 'busybox' });
    expect(result(await run(exec!))).toMatchObject({ exitCode: 0, status: 'exited' });
    expect(result(await run(turnComplete!))).toMatchObject({ snapshotId: 'turn-000001', turn: 1 });
    expect(result(await run(rollback!))).toEqual({ snapshotId: 'turn-000001', turn: 1 });

    await run(pause!);
    await waitForState('paused');
    expect(((await run(query!)) as { queryResult: [SessionInfo] }).queryResult[0]).toMatchObject({
      state: 'paused',
      pauseMode: 'hibernate',
    });
    await run(resume!);
    await waitForState('active');

    // The update twins answer with the new state.
    expect(result(await run(pauseNow!))).toMatchObject({ state: 'paused', pauseMode: 'freeze' });
    expect(result(await run(resumeNow!))).toMatchObject({ state: 'active' });

    // What the exec wrote survived the rollback, hibernation and freeze.
    const cat = await run(
      `temporal workflow update execute --workflow-id sbx-session-${sessionId} --name exec --input '{"toolCallId":"call-2","command":"cat /workspace/hi.txt"}'`,
    );
    expect(result(cat)).toMatchObject({ exitCode: 0, stdout: 'hi\n' });

    expect(result(await run(destroy!))).toMatchObject({ sessionId, state: 'destroyed' });
    await recordHistory(sessionId, 'session-pause-resume-now');
  });

  it('records a pause signal it cannot use in info, and the pauseNow twin refuses it with InvalidArgument', async () => {
    const id = 'cli-bad-signal';
    const wf = `--workflow-id sbx-session-${id}`;
    await run(
      `temporal workflow start --type SessionWorkflow --task-queue ${sbx.controlTaskQueue} ${wf} --input '{"request":{"sessionId":"${id}"}}'`,
    );
    expect(result(await run(`temporal workflow update execute ${wf} --name create --input '{"sessionId":"${id}"}'`))).toMatchObject({
      state: 'active',
    });
    const query = async () => ((await run(`temporal workflow query ${wf} --name info`)) as { queryResult: [SessionInfo] }).queryResult[0];

    // What issue 14 found: both were dropped with a warning in a worker log, and nobody else saw it.
    for (const [input, reason] of [
      ['"hibernate"', 'invalid pause signal input: '],
      ['{"mode":"bogus"}', 'invalid pause signal input (mode): '],
    ] as const) {
      await run(`temporal workflow signal ${wf} --name pause --input '${input}'`);
      // A signal has no reply: poll until the session shows this one's refusal.
      let seen = await query();
      for (let i = 0; i < 300 && !seen.lastRejectedSignal?.reason.startsWith(reason); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        seen = await query();
      }
      expect(seen.state).toBe('active');
      expect(seen.lastRejectedSignal).toMatchObject({ name: 'pause', reason: expect.stringContaining(reason) });
      expect(Number.isNaN(Date.parse(seen.lastRejectedSignal!.at))).toBe(false);
    }

    await expect(run(`temporal workflow update execute ${wf} --name pauseNow --input '{"mode":"bogus"}'`)).rejects.toThrow(
      /invalid pauseNow request \(mode\)/,
    );
    await expect(run(`temporal workflow update execute ${wf} --name resumeNow`)).resolves.toMatchObject({ result: { state: 'active' } });
    expect(await query()).toMatchObject({ state: 'active' });
    expect(result(await run(`temporal workflow update execute ${wf} --name destroy`))).toMatchObject({ state: 'destroyed' });
    await recordHistory(id, 'session-rejected-signals');
  });

  it('gives the TypeScript client the update twins: pauseNow and resumeNow answer with the state, or a typed error', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'ts-now' });
    expect(await session.pauseNow('hibernate')).toMatchObject({ state: 'paused', pauseMode: 'hibernate' });
    expect(await session.resumeNow()).toMatchObject({ state: 'active' });
    // Already active: resumeNow is a no-op that says so, like the resume signal.
    expect(await session.resumeNow()).toMatchObject({ state: 'active' });
    await session.destroy();
    await expect(session.pauseNow()).rejects.toMatchObject({ type: SbxErrorType.SessionDestroyed });
  });
});
