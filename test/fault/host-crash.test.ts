import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { containerId } from '../../src/activities/host/runsc.js';
import { SbxError } from '../../src/client/errors.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { runscPath } from '../../src/dev/paths.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';
import { sessionClosed } from '../harness/session-closed.js';
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
    (JSON.parse((await execa(runscPath(), ['--root', join(dataRoot, 'runsc'), 'list', '--format', 'json'])).stdout || '[]') ?? []).map(
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
    await sessionClosed(client, 'kept');
    expect(await datasets()).toEqual([]);
  }, 180_000);

  it('a host killed after a destroy answered but before the removal removes the dataset once back; the workflow closes then', async () => {
    host?.child.kill('SIGKILL');
    await host?.child;
    // The removal's first zfs call stalls here until released, then fails having done nothing: the
    // host is killed while it waits, exactly between the destroy's answer and the dataset's removal.
    const gate = join(dataRoot, 'removal-gate');
    mkdirSync(join(gate, 'bin'), { recursive: true });
    const realZfs = (await execa('sh', ['-c', 'command -v zfs'])).stdout.trim();
    const stall = `case "$*" in *"origin,sbx:retired ${zfsRoot}/sessions/halfway") touch ${gate}/reached; while [ ! -e ${gate}/release ]; do sleep 0.1; done; exit 1;; esac`;
    writeFileSync(join(gate, 'bin', 'zfs'), `#!/bin/sh\n${stall}\nexec ${realZfs} "$@"\n`, { mode: 0o755 });
    host = await spawnSbx(hostArgs, 'host worker ready', undefined, { PATH: `${join(gate, 'bin')}:${process.env.PATH}` });
    const { session } = await client.createSession({ sessionId: 'halfway', template: 'busybox', hostTimeoutMs: 5000 });

    expect((await session.destroy()).state).toBe('destroyed');
    expect(await containers()).toEqual([]);
    while (!existsSync(join(gate, 'reached'))) await new Promise((resolve) => setTimeout(resolve, 100));
    host.child.kill('SIGKILL');
    await host.child;
    writeFileSync(join(gate, 'release'), '');
    const workflow = client.temporal.workflow.getHandle(sessionWorkflowId('halfway'));
    expect(await datasets()).toEqual(['halfway']);
    expect((await workflow.describe()).status.name).toBe('RUNNING');

    host = await spawnSbx(hostArgs, 'host worker ready');
    await sessionClosed(client, 'halfway');
    expect(await datasets()).toEqual([]);
  }, 180_000);
});
