import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HELPER_DIR } from '../../src/activities/host/files-helper.js';
import { GvisorRuntime } from '../../src/activities/host/runsc.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import type { Session } from '../../src/client/session.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { alive, prodStack, ProdCluster, type ProdStack } from '../chaos/prod-cluster.js';
import { runChaos } from '../chaos/run.js';
import { testStack } from '../harness/stack.js';

async function sh(session: Session, toolCallId: string, command: string): Promise<string> {
  const result = await session.exec({ toolCallId, command });
  expect({ status: result.status, exitCode: result.exitCode, stderr: result.stderr }).toEqual({
    status: 'exited',
    exitCode: 0,
    stderr: '',
  });
  return result.stdout;
}

/**
 * The production topology of docker-compose.yml as processes (scripts/prod-stack.sh): Debian's
 * PostgreSQL, the Temporal server built from go.temporal.io/server with SQL visibility, two control
 * workers running one fleet, two host workers. Its own data dir and ports, beside the run's dev server.
 */
describe('the production topology on PostgreSQL', () => {
  const run = testStack();
  // PostgreSQL runs as the postgres user: the run's scratch dir (0700) is out of its reach.
  const dir = mkdtempSync('/tmp/sbx-prod-');
  chmodSync(dir, 0o755);
  const prefix = `p${run.runId.replace(/[^a-z0-9]/g, '').slice(-10)}`;
  let prod: ProdStack;
  let client: SandboxClient;

  const env = { SBX_PROD_PREFIX: prefix, SBX_ZFS_PARENT: run.zfsRoot, SBX_HEARTBEAT_MS: '10000', SBX_RESERVE_MB: '16' };

  beforeAll(async () => {
    await prodStack(['start', dir], env);
    prod = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as ProdStack;
    client = await SandboxClient.connect({ address: prod.temporalAddress, namespace: prod.namespace, taskQueue: prod.controlTaskQueue });
  }, 240_000);

  afterAll(async () => {
    await client?.close();
    await prodStack(['stop', dir]).catch((err) => console.error(String(err)));
    // Sandboxes a failed test left: their containers live under the hosts' data roots, outside the
    // run's scratch, and the hosts' datasets are mounted there.
    for (const hostId of existsSync(join(dir, 'hosts')) ? readdirSync(join(dir, 'hosts')) : []) {
      const runtime = new GvisorRuntime({ runscRoot: join(dir, 'hosts', hostId, 'runsc'), helperDir: DEFAULT_HELPER_DIR });
      for (const id of await runtime.list().catch(() => [])) await runtime.destroy(id).catch(() => undefined);
      await destroyRecursive(`${run.zfsRoot}/${hostId}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('runs on the server built from go.temporal.io/server with SQL visibility', async () => {
    const info = await client.temporal.connection.workflowService.getSystemInfo({});
    expect(info.serverVersion).toBe(
      readFileSync(fileURLToPath(new URL('../../scripts/versions.env', import.meta.url)), 'utf8').match(
        /^TEMPORAL_SERVER_VERSION=(.*)$/m,
      )![1],
    );
    const cluster = await client.temporal.connection.workflowService.getClusterInfo({});
    expect(cluster.visibilityStore).toBe('postgres12');
    expect(cluster.persistenceStore).toBe('postgres12');
  });

  it('runs a session lifecycle placed by the fleet: create, exec, turns, rollback, fork, destroy', async () => {
    const { session, info } = await client.createSession({ sessionId: 'prod-life', template: 'busybox' });
    expect(prod.hostIds).toContain(info.hostId);
    expect(info.state).toBe('active');
    await sh(session, 't1', 'echo one > /workspace/story.txt');
    expect(await session.turnComplete()).toMatchObject({ turn: 1 });
    await sh(session, 't2', 'echo two > /workspace/story.txt');
    expect(await session.turnComplete()).toMatchObject({ turn: 2 });
    expect(await session.rollback({ turn: 1 })).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    expect(await sh(session, 'after-rollback', 'cat /workspace/story.txt')).toBe('one\n');
    const fork = await session.fork({ newSessionId: 'prod-life-fork', turn: 1 });
    await sh(fork, 'fork-write', 'echo fork > /workspace/story.txt');
    expect(await sh(session, 'source-read', 'cat /workspace/story.txt')).toBe('one\n');
    // Visibility on PostgreSQL answers queries on sbx's search attributes (it lags the workflows a little).
    const listedActive = async () => (await client.listSessions({ state: 'active' })).map((s) => s.sessionId).sort();
    for (let i = 0; i < 100 && (await listedActive()).length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await listedActive()).toEqual(['prod-life', 'prod-life-fork']);
    for (const s of [fork, session]) expect((await s.destroy()).state).toBe('destroyed');
    // A destroy answers once the sandbox is killed; the workflow closes when the dataset is gone.
    await client.temporal.workflow.getHandle(sessionWorkflowId('prod-life')).result();
    const description = await client.temporal.workflow.getHandle(sessionWorkflowId('prod-life')).describe();
    expect(description.status.name).toBe('COMPLETED');
  });

  it('keeps sessions going on the other control worker when one is killed mid-run', async () => {
    const sessions = await Promise.all(
      [1, 2, 3, 4].map(async (n) => (await client.createSession({ sessionId: `prod-ctl-${n}`, template: 'busybox' })).session),
    );
    for (const [i, s] of sessions.entries()) await sh(s, 'before', `echo before-${i} > /workspace/log.txt`);
    // The control worker that ran the first session's latest workflow task: its cache holds the session.
    const history = await client.temporal.workflow.getHandle(sessionWorkflowId('prod-ctl-1')).fetchHistory();
    const identity = [...(history.events ?? [])].reverse().find((e) => e.workflowTaskCompletedEventAttributes)!
      .workflowTaskCompletedEventAttributes!.identity!;
    const victim = prod.pids.control.find((pid) => identity.startsWith(`${pid}@`));
    expect(victim).toBeDefined();
    const survivor = prod.pids.control.find((pid) => pid !== victim)!;

    const running = sessions.map((s, i) => s.exec({ toolCallId: 'during', command: `sleep 2; echo during-${i} >> /workspace/log.txt` }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(victim!, 'SIGKILL');
    for (const result of await Promise.all(running)) expect(result).toMatchObject({ status: 'exited', exitCode: 0 });
    expect(alive(victim!)).toBe(false);

    for (const [i, s] of sessions.entries()) {
      expect(await sh(s, 'after', 'cat /workspace/log.txt')).toBe(`before-${i}\nduring-${i}\n`);
      expect(await s.turnComplete()).toMatchObject({ turn: 1 });
    }
    const after = await client.temporal.workflow.getHandle(sessionWorkflowId('prod-ctl-1')).fetchHistory();
    const lastIdentity = [...(after.events ?? [])].reverse().find((e) => e.workflowTaskCompletedEventAttributes)!
      .workflowTaskCompletedEventAttributes!.identity!;
    expect(lastIdentity.startsWith(`${survivor}@`)).toBe(true);
    for (const s of sessions) expect((await s.destroy()).state).toBe('destroyed');
  });

  it('keeps a session whose host worker is killed mid-command and started again', async () => {
    const { session, info } = await client.createSession({ sessionId: 'prod-host', template: 'busybox' });
    const worker = `host-${prod.hostIds.indexOf(info.hostId!) + 1}`;
    const pid = Number(readFileSync(join(dir, `${worker}.pid`), 'utf8'));
    await sh(session, 'before', 'echo before > /workspace/log.txt');
    await session.turnComplete();

    const running = session.exec({ toolCallId: 'during', command: 'sleep 3; echo during >> /workspace/log.txt' }).then(
      (result) => result.status,
      (err: Error) => err.name,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    process.kill(pid, 'SIGKILL');
    expect(await prodStack(['restart', worker, dir], env)).toMatch(/running again/);
    // The command in flight either finished or was reported lost with its host; the session goes on.
    expect(await running).toBeDefined();
    expect(await sh(session, 'after', 'head -1 /workspace/log.txt')).toBe('before\n');
    expect(await session.turnComplete()).toMatchObject({ turn: 2 });
    expect(await session.rollback({ turn: 1 })).toMatchObject({ turn: 1 });
    expect(await sh(session, 'after-rollback', 'cat /workspace/log.txt')).toBe('before\n');
    expect((await session.destroy()).state).toBe('destroyed');
  });

  it('passes a short chaos run: workers and the server killed, nothing lost, nothing run twice', async () => {
    const seed = Number(process.env.SBX_CHAOS_SEED ?? 20261130);
    const chaosDir = join(dir, 'chaos');
    const report = await runChaos({
      seed,
      sessions: 2,
      steps: 20,
      dir: chaosDir,
      zfsRoot: run.zfsRoot,
      faultGapMs: [3_000, 6_000],
      // The control worker killed above is started again first.
      cluster: await ProdCluster.attach(dir, env),
    });
    const summary = report.summary(seed);
    const replay = report.passed ? '' : `\nsteps:\n${report.steps.join('\n')}`;
    expect({ passed: report.passed, summary: summary + replay }).toEqual({ passed: true, summary });
    expect(report.faults.length).toBeGreaterThan(0);
    expect(report.stepsDone).toBe(2 * 20);
  }, 900_000);
});
