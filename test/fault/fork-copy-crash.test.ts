import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { sessionClosed } from '../harness/session-closed.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { createTestWorker } from '../harness/temporal.js';

/**
 * `kill -9` of a real `sbx host` process in the middle of a fork, then a restart. A fork is one atomic
 * `zfs clone` (it was a send | recv copy, which this test killed mid-stream): the kill lands as the clone
 * appears, before the host has reported it or started the fork's sandbox.
 */
describe('a host worker killed mid fork', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const hostId = `forkcrash-${names.id}`.slice(0, 40).replace(/-+$/, '');
  const dataRoot = join(stack.scratch, 'fork-crash', hostId);
  const zfsRoot = `${stack.zfsRoot}/${hostId}`;
  const hostArgs = [
    'host',
    '--host-id',
    hostId,
    '--temporal-address',
    stack.temporalAddress,
    '--zfs-root',
    zfsRoot,
    '--data-root',
    dataRoot,
  ];
  const suffix = Date.now().toString(36);
  const source = `src-${suffix}`;
  const forked = `fork-${suffix}`;
  let host: SbxProcess | undefined;
  let client: SandboxClient;
  let stopControl: () => Promise<void>;

  /** Every dataset and snapshot under the host's sessions, names relative to it. */
  const sessionTree = async () =>
    (await execa('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', `${zfsRoot}/sessions`])).stdout
      .split('\n')
      .slice(1)
      .map((name) => name.slice(`${zfsRoot}/sessions/`.length))
      .sort();
  const cloned = async () => (await execa('zfs', ['list', `${zfsRoot}/sessions/${forked}`], { reject: false })).exitCode === 0;

  beforeAll(async () => {
    mkdirSync(dataRoot, { recursive: true });
    await execa('node', [
      cli,
      'template',
      'import',
      'busybox',
      '--busybox',
      '--host-id',
      hostId,
      '--zfs-root',
      zfsRoot,
      '--data-root',
      dataRoot,
    ]);
    const { worker, connection: workerConnection } = await createTestWorker({
      taskQueue: names.taskQueue,
      activities: createPlacementActivities({ defaultHostId: hostId }),
    });
    const running = worker.run();
    stopControl = async () => {
      worker.shutdown();
      await running;
      await workerConnection.close();
    };
    client = await SandboxClient.connect({ address: stack.temporalAddress, taskQueue: names.taskQueue });
  });
  afterAll(async () => {
    host?.child.kill('SIGKILL');
    await client?.close();
    await stopControl?.();
  });

  it('finishes the fork on the restarted host with exactly one complete, usable fork', async () => {
    host = await spawnSbx(hostArgs, 'host worker ready');
    const { session } = await client.createSession({ sessionId: source, template: 'busybox' });
    const written = await session.exec({
      toolCallId: 'data',
      command: 'dd if=/dev/urandom of=/workspace/big bs=1M count=20 2>/dev/null && md5sum /workspace/big',
      timeoutMs: 300_000,
    });
    expect(written.exitCode).toBe(0);
    await session.turnComplete();

    const forking = session.fork({ newSessionId: forked, turn: 1 });
    for (let i = 0; !(await cloned()); i++) {
      if (i > 6000) throw new Error('the fork was never cloned');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    host.child.kill('SIGKILL');
    await host.child;

    host = await spawnSbx(hostArgs, 'host worker ready');
    const fork = await forking;
    expect((await fork.exec({ toolCallId: 'sum', command: 'md5sum /workspace/big' })).stdout).toBe(written.stdout);
    expect(await fork.info()).toMatchObject({ state: 'active', forkedFrom: { sessionId: source, snapshot: 'turn-000001' } });
    // One clone, complete, with no snapshots of its own.
    expect(await sessionTree()).toEqual([forked, source, `${source}@turn-000001`]);
    expect((await execa('zfs', ['get', '-H', '-o', 'value', 'sbx:origin', `${zfsRoot}/sessions/${forked}`])).stdout).toBe(
      `snapshot:${source}@turn-000001`,
    );

    for (const s of [fork, session]) expect((await s.destroy()).state).toBe('destroyed');
    for (const id of [forked, source]) await sessionClosed(client, id);
    expect(await sessionTree()).toEqual([]);
  }, 300_000);
});
