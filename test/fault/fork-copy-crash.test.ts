import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { createTestWorker } from '../harness/temporal.js';

/** `kill -9` of a real `sbx host` process while a fork's `zfs send | zfs recv` runs, then a restart. */
describe('a host worker killed mid fork copy', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const hostId = `forkcrash-${names.id}`.slice(0, 40).replace(/-+$/, '');
  const dataRoot = join(stack.scratch, 'fork-crash', hostId);
  const zfsRoot = `${stack.zfsRoot}/${hostId}`;
  const hostArgs = ['host', '--host-id', hostId, '--temporal-address', stack.temporalAddress, '--zfs-root', zfsRoot, '--data-root', dataRoot];
  const suffix = Date.now().toString(36);
  const source = `src-${suffix}`;
  const forked = `fork-${suffix}`;
  let host: SbxProcess | undefined;
  let client: SandboxClient;
  let connection: Connection;
  let stopControl: () => Promise<void>;

  /** Every dataset and snapshot under the host's sessions, names relative to it. */
  const sessionTree = async () =>
    (await execa('zfs', ['list', '-H', '-o', 'name', '-t', 'all', '-r', `${zfsRoot}/sessions`])).stdout
      .split('\n')
      .slice(1)
      .map((name) => name.slice(`${zfsRoot}/sessions/`.length))
      .sort();
  const receiving = async () => (await execa('pgrep', ['-f', `zfs recv ${zfsRoot}/sessions/${forked}`], { reject: false })).exitCode === 0;

  beforeAll(async () => {
    mkdirSync(dataRoot, { recursive: true });
    await execa('node', [cli, 'template', 'import', 'busybox', '--busybox', '--host-id', hostId, '--zfs-root', zfsRoot, '--data-root', dataRoot]);
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
    connection = await Connection.connect({ address: stack.temporalAddress });
  });
  afterAll(async () => {
    host?.child.kill('SIGKILL');
    await client?.close();
    await connection?.close();
    await stopControl?.();
  });

  it('retries the copy on the restarted host and ends with exactly one complete, usable fork', async () => {
    host = await spawnSbx(hostArgs, 'host worker ready');
    const { session } = await client.createSession({ sessionId: source, template: 'busybox' });
    // Enough incompressible data that the copy takes a few seconds.
    const written = await session.exec({
      toolCallId: 'data',
      command: 'dd if=/dev/urandom of=/workspace/big bs=1M count=400 2>/dev/null && md5sum /workspace/big',
      timeoutMs: 300_000,
    });
    expect(written.exitCode).toBe(0);
    await session.turnComplete();

    const forking = session.fork({ newSessionId: forked, turn: 1 });
    for (let i = 0; !(await receiving()); i++) {
      if (i > 600) throw new Error('the fork copy never started');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    host.child.kill('SIGKILL');
    await host.child;
    // The copy dies with its worker rather than racing the retry.
    for (let i = 0; await receiving(); i++) {
      if (i > 300) throw new Error('zfs recv outlived its worker');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    host = await spawnSbx(hostArgs, 'host worker ready');
    const fork = await forking;
    expect((await fork.exec({ toolCallId: 'sum', command: 'md5sum /workspace/big' })).stdout).toBe(written.stdout);
    expect(await fork.info()).toMatchObject({ state: 'active', forkedFrom: { sessionId: source, snapshot: 'turn-000001' } });
    // One copy, complete: the fork's dataset without the snapshot it arrived with, nothing half-received.
    expect(await sessionTree()).toEqual([forked, source, `${source}@turn-000001`]);
    expect((await execa('zfs', ['get', '-H', '-o', 'value', 'sbx:origin', `${zfsRoot}/sessions/${forked}`])).stdout).toBe(
      `snapshot:${source}@turn-000001`,
    );

    // The kill landed mid-copy: the copy that completed was a later attempt than the one killed.
    const history = await new Client({ connection }).workflow.getHandle(sessionWorkflowId(source)).fetchHistory();
    // The source's last createSandbox is the fork copy (its first made the source itself).
    const copy = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createSandbox').at(-1)!;
    const started = history.events!.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(copy.eventId));
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(1);

    for (const s of [fork, session]) expect((await s.destroy()).state).toBe('destroyed');
    expect(await sessionTree()).toEqual([]);
  }, 300_000);
});
