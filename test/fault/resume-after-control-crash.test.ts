import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { freePort } from '../../src/dev/net.js';
import { temporalCliPath } from '../../src/dev/paths.js';
import { startDevServer, type DevServer } from '../../src/dev/temporal-server.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { historiesDir } from '../harness/histories.js';
import { testStack, uniqueNames } from '../harness/stack.js';

const replayer = fileURLToPath(new URL('../replay/replay-histories.ts', import.meta.url));

/**
 * The control worker dies while a hibernated session resumes. The new worker answers `info` queries
 * before it has taken the workflow task with the resume's result, and the next exec arrives while
 * that task is still pending: with sdk-core 1.24 this used to record a history that no worker could
 * replay (TMPRL1100 "Update machine does not handle this event"), and every later task of the
 * session failed. All processes are real; kills are SIGKILL.
 */
describe('a control worker killed while a session resumes', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const hostId = `resume-${id}`.slice(0, 40).replace(/-+$/, '');
  const dir = join(stack.scratch, 'fault', id);
  const hostStorage = ['--host-id', hostId, '--zfs-root', `${stack.zfsRoot}/${hostId}`, '--data-root', join(dir, 'host')];
  let server: DevServer;
  const children: SbxProcess[] = [];

  const startControl = async () => {
    const child = await spawnSbx(['control', '--temporal-address', server.address, '--default-host', hostId], 'control worker ready');
    children.push(child);
    return child;
  };
  const kill = async ({ child }: SbxProcess) => {
    child.kill('SIGKILL');
    await child;
  };
  const history = async (sessionId: string) =>
    (
      await execa(temporalCliPath(), [
        'workflow',
        'show',
        '--workflow-id',
        sessionWorkflowId(sessionId),
        '--address',
        server.address,
        '--output',
        'json',
      ])
    ).stdout;
  /** Waits until the session's workflow has scheduled an activity of this type. */
  const waitForEvent = async (sessionId: string, activityType: string) => {
    while (!(await history(sessionId)).includes(`"${activityType}"`)) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  /** The session's history as `temporal workflow show -o json` prints it, replayed against the workflow code. */
  const replay = async (sessionId: string) => {
    const file = join(dir, `${sessionId}.json`);
    const stdout = await history(sessionId);
    writeFileSync(file, stdout);
    if (process.env.SBX_RECORD_HISTORIES === '1') writeFileSync(`${historiesDir}session-resume-after-control-crash.json`, stdout);
    const replayed = await execa('node', ['--import', 'tsx', replayer, stack.workflowBundlePath, file]);
    return JSON.parse(replayed.stdout.split('\n').find((line) => line.startsWith('{'))!);
  };

  beforeAll(async () => {
    mkdirSync(join(dir, 'host'), { recursive: true });
    server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
  });
  afterAll(async () => {
    for (const process of children) if (process.child.exitCode === null) await kill(process);
    await server?.stop();
  });

  it('keeps a history every worker can replay, and the session keeps working', async () => {
    await execa('node', [cli, 'template', 'import', 'busybox', '--busybox', ...hostStorage]);
    const host = await spawnSbx(['host', '--temporal-address', server.address, ...hostStorage], 'host worker ready');
    children.push(host);
    let control = await startControl();
    const client = await SandboxClient.connect({ address: server.address });
    try {
      const { session } = await client.createSession({ sessionId: 'resume-1', template: 'busybox' });
      await session.exec({ toolCallId: 'one', command: 'echo one > /workspace/f.txt' });
      await session.pause('hibernate');

      // A second control worker stands by; the session's tasks stay with the first (its sticky
      // worker). The first dies after it scheduled the resume, before the host answers (the host is
      // held with SIGSTOP until then), so the resume's result waits on the dead worker's queue while
      // the second answers `info` queries and the next exec arrives.
      const standby = await startControl();
      host.child.kill('SIGSTOP');
      const resumed = session.resume();
      await waitForEvent('resume-1', 'resumeSandbox');
      await kill(control);
      control = standby;
      // Queries go to the standby once the dead worker's queue has had no poller for a while; the
      // resume's task waits on that queue until its own timeout, this much later.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      host.child.kill('SIGCONT');
      await resumed;
      expect((await session.exec({ toolCallId: 'two', command: 'cat /workspace/f.txt' })).stdout).toBe('one\n');

      expect(await replay('resume-1')).toEqual({ file: 'resume-1.json', ok: true });

      // A worker without the run cached replays the whole history before its next task.
      await kill(control);
      control = await startControl();
      expect((await session.exec({ toolCallId: 'three', command: 'echo three' })).stdout).toBe('three\n');
      expect(await session.info()).toMatchObject({ state: 'active', toolCalls: 3 });
      expect((await session.destroy()).state).toBe('destroyed');
    } finally {
      await client.close();
    }
  }, 300_000);
});
