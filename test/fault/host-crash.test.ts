import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { containerId } from '../../src/activities/host/runsc.js';
import { SbxError } from '../../src/client/errors.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { runscPath } from '../../src/dev/paths.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { createTestWorker } from '../harness/temporal.js';

/** `kill -9` of a real `sbx host` process in the middle of a command, then a restart. */
describe('a host worker killed mid-command', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const hostId = `crash-${names.id}`.slice(0, 40).replace(/-+$/, '');
  const dataRoot = join(stack.scratch, 'host-crash', hostId);
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
  let host: SbxProcess | undefined;
  let client: SandboxClient;
  let stopControl: () => Promise<void>;

  const datasets = async () =>
    (await execa('zfs', ['list', '-H', '-o', 'name', '-r', '-d', '1', `${zfsRoot}/sessions`])).stdout
      .split('\n')
      .slice(1)
      .map((name) => name.split('/').pop());
  const containers = async () =>
    JSON.parse((await execa(runscPath(), ['--root', join(dataRoot, 'runsc'), 'list', '--format', 'json'])).stdout || '[]').map(
      (c: { id: string }) => c.id,
    );

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
    const { worker, connection } = await createTestWorker({
      taskQueue: names.taskQueue,
      activities: createPlacementActivities({ defaultHostId: hostId }),
    });
    const running = worker.run();
    stopControl = async () => {
      worker.shutdown();
      await running;
      await connection.close();
    };
    client = await SandboxClient.connect({ address: stack.temporalAddress, taskQueue: names.taskQueue });
  });
  afterAll(async () => {
    host?.child.kill('SIGKILL');
    await client?.close();
    await stopControl?.();
  });

  it('leaks nothing: the restarted host keeps live sessions and removes what closed sessions left', async () => {
    host = await spawnSbx(hostArgs, 'host worker ready');
    const request = { template: 'busybox', hostTimeoutMs: 5000 };
    const { session: kept } = await client.createSession({ sessionId: 'kept', ...request });
    const { session: doomed } = await client.createSession({ sessionId: 'doomed', ...request });
    await kept.exec({ toolCallId: 'mark', command: 'echo before > /workspace/mark.txt' });

    const running = kept.exec({ toolCallId: 'long', command: 'sleep 5; echo finished >> /workspace/mark.txt' }).catch((err) => err);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    host.child.kill('SIGKILL');
    await host.child;

    // With the host down, a destroy cannot reach it: the session closes and leaves its data to the host's reconcile.
    expect((await doomed.destroy()).state).toBe('destroyed');
    expect(await datasets()).toEqual(['doomed', 'kept']);
    expect(await containers()).toEqual([containerId('doomed'), containerId('kept')]);

    host = await spawnSbx(hostArgs, 'host worker ready');
    const report = host
      .output()
      .split('\n')
      .filter((line) => line.includes('"reconciled:'))
      .map((line) => JSON.parse(line) as { kept: string[]; removedSessions: string[] });
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({ kept: ['kept'], removedSessions: ['doomed'] });
    expect(await datasets()).toEqual(['kept']);
    expect(await containers()).toEqual([containerId('kept')]);

    // The command in flight when the host died is reported as such by the restarted host (its
    // journal saw it start and not finish), and never re-run: not by the retry, not when resent.
    const outcome = await running;
    expect(outcome).toBeInstanceOf(SbxError);
    expect((outcome as SbxError).type).toBe('OutcomeUnknown');
    const resent = await kept.exec({ toolCallId: 'long', command: 'sleep 5; echo finished >> /workspace/mark.txt' }).catch((err) => err);
    expect((resent as SbxError).type).toBe('OutcomeUnknown');
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const mark = (await kept.exec({ toolCallId: 'after', command: 'cat /workspace/mark.txt' })).stdout;
    expect(mark).toMatch(/^before\n/);
    expect(mark.split('finished').length - 1).toBeLessThanOrEqual(1);
    expect((await kept.destroy()).state).toBe('destroyed');
    expect(await datasets()).toEqual([]);
  }, 180_000);
});
