import { execa } from 'execa';
import type { Session } from '../../src/client/session.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { sessionClosed } from '../harness/session-closed.js';

async function sh(session: Session, toolCallId: string, command: string): Promise<string> {
  const result = await session.exec({ toolCallId, command });
  expect({ status: result.status, exitCode: result.exitCode, stderr: result.stderr }).toEqual({
    status: 'exited',
    exitCode: 0,
    stderr: '',
  });
  return result.stdout;
}

/** Rollback with a hard stop, forks as clones: what a user sees through the client (real dev server, zfs-fuse, runsc). */
describe('rollback and fork end to end', () => {
  let sbx: SbxTestStack;
  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  });
  afterAll(async () => {
    await sbx?.stop();
  });

  const sessionsRoot = () => `${sbx.hostConfig.zfsRoot}/sessions`;
  /** Every dataset and snapshot under the host's sessions whose name starts with `prefix`. */
  const tree = async (prefix: string) =>
    (await execa('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', sessionsRoot()])).stdout
      .split('\n')
      .map((name) => name.slice(sessionsRoot().length + 1))
      .filter((name) => name.startsWith(prefix))
      .sort();

  /** A session with turns 1 ('one') and 2 ('two') in /workspace/f, and `<id>-fork` made from turn 2. */
  const forkedAtTurnTwo = async (sessionId: string) => {
    const { session: source } = await sbx.client.createSession({ sessionId });
    await sh(source, 'w1', 'echo one > /workspace/f');
    await source.turnComplete();
    await sh(source, 'w2', 'echo two > /workspace/f');
    await source.turnComplete();
    const fork = await source.fork({ newSessionId: `${sessionId}-fork`, turn: 2 });
    expect(await sh(fork, 'read', 'cat /workspace/f')).toBe('two\n');
    return { source, fork };
  };

  it('rolls back a session with a program running: the files are the snapshot, the session works on', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'rb-hard' });
    await sh(session, 'w1', 'echo one > /workspace/f; mkdir -p /workspace/d; echo a > /workspace/d/a');
    await session.turnComplete();
    await sh(session, 'w2', 'echo two > /workspace/f; rm -r /workspace/d; echo new > /workspace/g');
    await session.launchProcess({ processId: 'busy', command: 'while true; do echo tick >> /workspace/ticks; sleep 0.1; done' });
    expect(await session.rollback({ turn: 1 })).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    expect(await sh(session, 'after', 'cat /workspace/f /workspace/d/a; ls /workspace')).toBe('one\na\nd\nf\n');
    // The old sandbox is gone with everything it ran; the new one runs commands and takes turns.
    expect(await sh(session, 'ps', 'ps -o args | grep -c "[t]ick" || true')).toBe('0\n');
    await sh(session, 'w3', 'echo three > /workspace/f');
    expect(await session.turnComplete()).toMatchObject({ turn: 2 });
    expect(await session.destroy()).toMatchObject({ state: 'destroyed' });
  });

  it('rolls a source back past a fork destroyed a moment ago: the fork no longer holds it', async () => {
    const { source, fork } = await forkedAtTurnTwo('src-gone');
    // The destroy answers before the fork's dataset is removed; the rollback right after must not be refused for it.
    expect(await fork.destroy()).toMatchObject({ state: 'destroyed' });
    expect(await source.rollback({ turn: 1 })).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    expect(await sh(source, 'after', 'cat /workspace/f')).toBe('one\n');
    expect(await source.destroy()).toMatchObject({ state: 'destroyed' });
  });

  it('keeps forks working when their source rolls back and is destroyed, down a fork of a fork', async () => {
    const { source, fork } = await forkedAtTurnTwo('src-a');

    // Back before the fork point would destroy the fork: refused, naming it, and the source runs on.
    await sh(source, 'w3', 'echo three > /workspace/f');
    const refused = await source.rollback({ turn: 1 }).catch((err: Error) => err);
    expect(refused).toMatchObject({ type: 'InvalidState', message: expect.stringContaining('src-a-fork') });
    expect(await sh(source, 'after-refusal', 'cat /workspace/f')).toBe('three\n');
    // Back to the fork point itself is fine.
    await source.rollback({ turn: 2 });
    expect(await sh(source, 'read', 'cat /workspace/f')).toBe('two\n');
    expect(await sh(fork, 'read-2', 'cat /workspace/f')).toBe('two\n');

    // A fork of the fork, then the source and the first fork are destroyed.
    await sh(fork, 'w3', 'echo three > /workspace/f');
    await fork.turnComplete();
    const grandchild = await fork.fork({ newSessionId: 'src-a-fork2', turn: 1 });
    expect(await source.destroy()).toMatchObject({ state: 'destroyed' });
    expect(await fork.destroy()).toMatchObject({ state: 'destroyed' });

    // The last fork still works as any session, and destroying it leaves nothing of the three.
    expect(await sh(grandchild, 'read', 'cat /workspace/f')).toBe('three\n');
    await sh(grandchild, 'w4', 'echo four > /workspace/f');
    await grandchild.turnComplete();
    await sh(grandchild, 'w5', 'echo five > /workspace/f');
    await grandchild.rollback({ turn: 1 });
    expect(await sh(grandchild, 'read-2', 'cat /workspace/f')).toBe('four\n');
    expect(await grandchild.destroy()).toMatchObject({ state: 'destroyed' });
    for (const id of ['src-a', 'src-a-fork', 'src-a-fork2']) await sessionClosed(sbx.client, id);
    expect(await tree('src-a')).toEqual([]);
  }, 300_000);
});
