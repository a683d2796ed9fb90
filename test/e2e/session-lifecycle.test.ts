import { execa } from 'execa';
import { containerId } from '../../src/activities/host/runsc.js';
import { SbxError } from '../../src/client/errors.js';
import { runscPath } from '../../src/dev/paths.js';
import type { Session } from '../../src/client/session.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { recordHistory } from '../harness/histories.js';
import { sessionClosed } from '../harness/session-closed.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';

async function sh(session: Session, toolCallId: string, command: string): Promise<string> {
  const result = await session.exec({ toolCallId, command });
  expect({ status: result.status, exitCode: result.exitCode, stderr: result.stderr }).toEqual({
    status: 'exited',
    exitCode: 0,
    stderr: '',
  });
  return result.stdout;
}

async function errorOf(promise: Promise<unknown>): Promise<SbxError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SbxError) return err;
    throw err;
  }
  throw new Error('expected an SbxError');
}

describe('session lifecycle end to end (real dev server, zfs-fuse, runsc)', () => {
  let sbx: SbxTestStack;
  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  });
  afterAll(async () => {
    await sbx?.stop();
  });

  const dataset = (id: string) => `${sbx.hostConfig.zfsRoot}/sessions/${id}`;
  const datasetExists = async (id: string) => (await execa('zfs', ['list', dataset(id)], { reject: false })).exitCode === 0;
  const containerState = async (id: string) => {
    const state = await execa(runscPath(), ['--root', `${sbx.hostConfig.dataRoot}/runsc`, 'state', containerId(id)], { reject: false });
    return state.exitCode === 0 ? (JSON.parse(state.stdout) as { status: string }).status : 'absent';
  };

  it('creates, runs turns, rolls back, forks, pauses, resumes and destroys', async () => {
    const { session, info } = await sbx.client.createSession({ sessionId: 'life-1' });
    expect(info).toMatchObject({ sessionId: 'life-1', state: 'active', hostId: sbx.hostId, template: 'busybox', turn: 0 });
    expect(await containerState('life-1')).toBe('running');

    for (const turn of [1, 2, 3]) {
      await sh(session, `t${turn}-exec`, `echo "turn ${turn}" > /workspace/story.txt; echo ${turn} >> /workspace/log.txt`);
      await session.writeFiles([{ path: `notes/turn-${turn}.md`, content: `# notes of turn ${turn}\n` }]);
      const result = await session.turnComplete();
      expect(result).toMatchObject({ turn, snapshotId: `turn-00000${turn}` });
    }
    expect((await session.listSnapshots()).map((s) => s.name)).toEqual(['turn-000001', 'turn-000002', 'turn-000003']);

    // The sandbox reads the file before the rollback, so a stale cached copy would show after it.
    expect(await sh(session, 'read-before', 'cat /workspace/story.txt')).toBe('turn 3\n');
    const rolled = await session.rollback({ turn: 1 });
    expect(rolled).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    expect(await sh(session, 'after-rollback', 'cat /workspace/story.txt /workspace/log.txt; ls /workspace/notes')).toBe(
      'turn 1\n1\nturn-1.md\n',
    );
    expect((await session.listSnapshots()).map((s) => s.name)).toEqual(['turn-000001']);

    // Rollback removed the later turns (as zfs rollback -r); a new turn 2 grows from turn 1.
    await sh(session, 't2b-exec', 'echo "turn 2, second branch" > /workspace/story.txt');
    expect(await session.turnComplete()).toMatchObject({ turn: 2 });
    await sh(session, 't3b-exec', 'echo "turn 3, second branch" > /workspace/story.txt');

    const fork = await session.fork({ newSessionId: 'life-1-fork', turn: 2 });
    expect(await sh(fork, 'fork-read', 'cat /workspace/story.txt')).toBe('turn 2, second branch\n');
    await sh(fork, 'fork-write', 'echo "only in the fork" > /workspace/story.txt');
    expect(await sh(session, 'source-read', 'cat /workspace/story.txt')).toBe('turn 3, second branch\n');
    expect(await fork.info()).toMatchObject({ state: 'active', forkedFrom: { sessionId: 'life-1', snapshot: 'turn-000002' } });

    await session.pause('freeze');
    expect(await session.info()).toMatchObject({ state: 'paused', pauseMode: 'freeze' });
    expect(await containerState('life-1')).toBe('paused');
    const refused = await errorOf(session.exec({ toolCallId: 'while-paused', command: 'true' }));
    expect(refused.type).toBe('SessionPaused');
    await session.resume();
    expect(await sh(session, 'after-resume', 'cat /workspace/story.txt')).toBe('turn 3, second branch\n');

    for (const s of [session, fork]) {
      const destroyed = await s.destroy();
      expect(destroyed.state).toBe('destroyed');
      // Answered once the sandbox is killed; the dataset goes after, before the workflow closes.
      expect(await containerState(s.id)).toBe('absent');
    }
    await sessionClosed(sbx.client, 'life-1');
    await sessionClosed(sbx.client, 'life-1-fork');
    expect(await datasetExists('life-1')).toBe(false);
    expect(await datasetExists('life-1-fork')).toBe(false);
    const description = await sbx.client.temporal.workflow.getHandle(sessionWorkflowId('life-1')).describe();
    expect(description.status.name).toBe('COMPLETED');
    const afterDestroy = await errorOf(session.exec({ toolCallId: 'after-destroy', command: 'true' }));
    expect(afterDestroy.type).toBe('SessionDestroyed');
    await recordHistory('life-1', 'session-lifecycle');
    await recordHistory('life-1-fork', 'session-fork');
  });

  it('resumes a paused session on the next tool call when created with autoResume', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'auto-1', autoResume: true });
    await sh(session, 'before', 'echo kept > /workspace/k.txt');
    await session.pause('freeze');
    expect(await sh(session, 'auto', 'cat /workspace/k.txt')).toBe('kept\n');
    expect((await session.info()).state).toBe('active');
    await session.destroy();
    await recordHistory('auto-1', 'session-auto-resume');
  });

  it('makes one session of two concurrent creates, and runs a repeated toolCallId once', async () => {
    const [a, b] = await Promise.all([
      sbx.client.createSession({ sessionId: 'twice-1' }),
      sbx.client.createSession({ sessionId: 'twice-1' }),
    ]);
    expect(a.info.createdAt).toBe(b.info.createdAt);
    const runs = await sbx.client.temporal.workflow.list({ query: `WorkflowId = '${sessionWorkflowId('twice-1')}'` });
    let count = 0;
    for await (const _ of runs) count++;
    expect(count).toBe(1);

    const session = a.session;
    const [first, second] = await Promise.all([
      session.exec({ toolCallId: 'append-once', command: 'echo x >> /workspace/once.txt; wc -l < /workspace/once.txt' }),
      session.exec({ toolCallId: 'append-once', command: 'echo x >> /workspace/once.txt; wc -l < /workspace/once.txt' }),
    ]);
    const third = await session.exec({ toolCallId: 'append-once', command: 'echo x >> /workspace/once.txt; wc -l < /workspace/once.txt' });
    expect([first.stdout, second.stdout, third.stdout].map((s) => s.trim())).toEqual(['1', '1', '1']);
    expect(await sh(session, 'count', 'wc -l < /workspace/once.txt')).toBe('1\n');
    expect((await session.info()).toolCalls).toBe(2);
    await session.destroy();

    const reuse = await errorOf(sbx.client.createSession({ sessionId: 'twice-1' }));
    expect(reuse.type).toBe('SessionDestroyed');
  });

  it('runs long-lived processes inside the sandbox: launch, status, output, exit code, kill', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'procs' });
    const ticker = await session.launchProcess({ processId: 'ticker', command: 'while :; do echo tick; sleep 0.2; done' });
    expect(ticker).toMatchObject({ processId: 'ticker', status: 'running' });
    expect((await session.launchProcess({ processId: 'ticker', command: 'true' })).pid).toBe(ticker.pid);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await session.processStatus('ticker')).outputTail).toMatch(/tick\ntick\n/);
    expect(await session.killProcess('ticker')).toMatchObject({ status: 'exited' });
    expect(await sh(session, 'no-ticker', `ps | grep -c "[s]leep 0.2" || true`)).toBe('0\n');

    await session.launchProcess({ processId: 'short', command: 'echo done; exit 3' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await session.processStatus('short')).toMatchObject({ status: 'exited', exitCode: 3, outputTail: 'done\n' });

    const missing = await errorOf(session.processStatus('nope'));
    expect(missing.type).toBe('ProcessNotFound');
    const badId = await errorOf(session.launchProcess({ processId: 'Bad Id', command: 'true' }));
    expect(badId.type).toBe('InvalidArgument');
    await session.destroy();
  });

  it('refuses bad input with typed errors and leaves no session stuck', async () => {
    const badId = await errorOf(sbx.client.createSession({ sessionId: 'Bad/Id' }));
    expect(badId.type).toBe('InvalidArgument');
    expect(badId.message).toMatch(/sessionId must be/);

    const { session } = await sbx.client.createSession({ sessionId: 'bad-input' });
    const negative = await errorOf(session.exec({ toolCallId: 'neg', command: 'true', timeoutMs: -5 }));
    expect(negative).toMatchObject({ type: 'InvalidArgument' });
    expect(negative.message).toMatch(/timeoutMs must be positive/);

    const unknown = await errorOf(session.rollback({ snapshot: 'nope' }));
    expect(unknown.type).toBe('SnapshotNotFound');
    await session.turnComplete();
    const future = await errorOf(session.rollback({ turn: 5 }));
    expect(future.type).toBe('InvalidArgument');
    expect(future.message).toMatch(/turn 5 is in the future/);
    const reserved = await errorOf(session.snapshot('turn-000009'));
    expect(reserved.type).toBe('InvalidArgument');
    const different = await errorOf(sbx.client.createSession({ sessionId: 'bad-input', template: 'other' }));
    expect(different.type).toBe('SessionExists');

    // The workflow goes on: the rejected updates left nothing behind.
    expect(await sh(session, 'still-fine', 'echo ok')).toBe('ok\n');
    await session.destroy();

    const missing = await errorOf(sbx.client.session('never-created').info());
    expect(missing.type).toBe('SessionNotFound');
    const unknownTemplate = await errorOf(sbx.client.createSession({ sessionId: 'no-template', template: 'missing' }));
    expect(unknownTemplate.type).toBe('CreateFailed');
    expect(unknownTemplate.message).toMatch(/missing/);
    expect(await datasetExists('no-template')).toBe(false);
    expect(await sbx.client.session('no-template').info()).toMatchObject({ state: 'failed', failureReason: 'create-failed' });
    expect((await sbx.client.session('no-template').destroy()).state).toBe('destroyed');
    await recordHistory('bad-input', 'session-rejected-input');
    await recordHistory('no-template', 'session-create-failed');
  });
});
