import { Connection } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { msToTs } from '@temporalio/common/lib/time.js';
import { zfsLockPathOf, type HostConfig } from '../../src/workers/host-config.js';
import { startHostWorker, type RunningHost } from '../../src/workers/host.js';
import type { ReconcilePlan } from '../../src/workers/reconcile-plan.js';
import { cli } from '../harness/cli.js';
import { startSbx, testLogger, type SbxTestStack } from '../harness/sbx.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/**
 * A host restarted against the wrong namespace (or a reset server) finds no workflow for any of its
 * sessions. It must not delete them: it quarantines them, deletes only after the grace period, and
 * releases them when started against the right server again.
 */
describe('host reconcile', () => {
  const stack = testStack();
  const other = `sbx-other-${uniqueNames(import.meta.url).id}`;
  let sbx: SbxTestStack;
  let connection: Connection;
  let host: RunningHost | undefined;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url, { reconcileIntervalMs: 0 });
    connection = await Connection.connect({ address: stack.temporalAddress });
    await connection.workflowService.registerNamespace({ namespace: other, workflowExecutionRetentionPeriod: msToTs('1 day') });
    await until('the new namespace to be served', () =>
      connection.workflowService.describeNamespace({ namespace: other }).then(
        () => true,
        () => false,
      ),
    );
  });

  afterAll(async () => {
    await host?.shutdown();
    await sbx?.stop();
    await connection?.close();
  });

  const startHost = async (overrides: Partial<HostConfig>) => {
    await host?.shutdown();
    host = await startHostWorker({ ...sbx.hostConfig, ...overrides }, testLogger);
    return host;
  };

  it('quarantines sessions it cannot place, lists them in a dry run first, and deletes them only after the grace', async () => {
    const { session, info } = await sbx.client.createSession({ sessionId: 'precious' });
    const id = info.sandboxId;
    await session.exec({ toolCallId: 'mark', command: 'echo precious > /workspace/mark' });
    await sbx.host.shutdown();

    // The dry run against the wrong namespace says what it would do and does nothing.
    const c = sbx.hostConfig;
    const dry = await execa(
      'node',
      [
        cli,
        '--json',
        'host',
        '--host-id',
        c.hostId,
        '--zfs-root',
        c.zfsRoot!,
        '--data-root',
        c.dataRoot,
        '--zfs-lock',
        zfsLockPathOf(c),
        '--temporal-address',
        c.temporalAddress,
        '--namespace',
        other,
        'reconcile',
        '--dry-run',
      ],
      { reject: false, timeout: 60_000 },
    );
    expect(dry.exitCode).toBe(0);
    const planned = JSON.parse(dry.stdout) as ReconcilePlan;
    expect(planned).toMatchObject({ quarantine: [id], removeSessions: [], keep: [] });
    expect(await sbx.host.storage.quarantined()).toEqual(new Map());
    expect(await sbx.host.runtime.list()).toContain(id);

    // Started there for real, the host quarantines: data kept, sandbox stopped, nothing deleted.
    const wrong = await startHost({ namespace: other });
    expect(wrong.report).toMatchObject({ quarantine: [id], removeSessions: [] });
    expect(await wrong.storage.sandboxExists(id)).toBe(true);
    expect([...(await wrong.storage.quarantined()).keys()]).toEqual([id]);
    expect(await wrong.runtime.list()).not.toContain(id);

    // Back on the right server, the session is released and works where it left off.
    const right = await startHost({});
    expect(right.report).toMatchObject({ keep: [id], release: [id], removeSessions: [] });
    expect(await right.storage.quarantined()).toEqual(new Map());
    expect(await session.exec({ toolCallId: 'read', command: 'cat /workspace/mark' })).toMatchObject({ stdout: 'precious\n' });

    // Against the wrong server with a short grace, periodic reconcile deletes once the grace is over.
    const short = await startHost({ namespace: other, quarantineGraceMs: 3000, reconcileIntervalMs: 500 });
    expect(short.report).toMatchObject({ quarantine: [id], removeSessions: [] });
    expect(await short.storage.sandboxExists(id)).toBe(true);
    await until('the quarantined session to be deleted after its grace', async () => !(await short.storage.sandboxExists(id)));

    await startHost({});
    expect((await session.destroy()).state).toBe('destroyed');
  });
});

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await probe()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}
