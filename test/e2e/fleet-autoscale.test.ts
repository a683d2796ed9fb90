import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFleetActivities } from '../../src/activities/control/fleet-activities.js';
import { LocalProvisioner } from '../../src/activities/control/local-provisioner.js';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import type { Session } from '../../src/client/session.js';
import { fleetWorkflowId } from '../../src/common/names.js';
import { FleetConfig } from '../../src/protocol/fleet-config.js';
import { configureFleetSignal, drainUpdate, fleetStatusQuery, type FleetStatus } from '../../src/protocol/messages.js';
import { recordWorkflowHistory } from '../harness/histories.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { createTestWorker } from '../harness/temporal.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * A fleet of real `sbx host` processes started by the local provisioner, each with its own dataset
 * root and task queue, heartbeating every second.
 */
describe('fleet autoscaling with the local provisioner', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const fleetId = `f${names.id.slice(-10)}`;
  const stateDir = join(stack.scratch, 'fleet', fleetId);
  const config = FleetConfig.parse({
    fleetId,
    minHosts: 1,
    maxHosts: 3,
    maxSessionsPerHost: 2,
    warmSlots: 1,
    heartbeatIntervalMs: 1000,
    heartbeatMissLimit: 3,
    idleCooldownMs: 4000,
    reconcileIntervalMs: 1000,
    drainTimeoutMs: 60_000,
    // Generous: on a loaded 2-core CI machine a host can take over a minute to boot.
    provisionTimeoutMs: 240_000,
  });
  const provisionerOptions = {
    command: [process.execPath, cli, 'host'],
    stateDir,
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    terminateGraceMs: 5000,
    env: {
      SBX_ZFS_PARENT: `${stack.zfsRoot}/${fleetId}`,
      SBX_ENSURE_BUSYBOX: '1',
      SBX_HEARTBEAT_MS: '1000',
      SBX_MAX_SESSIONS: '2',
      SBX_LOG_FORMAT: 'json',
    },
  };
  const provisioner = new LocalProvisioner(provisionerOptions);
  let client: SandboxClient;
  let stopControl: () => Promise<void>;
  const samples: FleetStatus[] = [];
  let sampling = true;
  let sampler: Promise<void>;

  const status = () => client.temporal.workflow.getHandle(fleetWorkflowId(fleetId)).query(fleetStatusQuery);
  const live = (s: FleetStatus) => s.hosts.filter((h) => h.state !== 'lost' && h.state !== 'terminating');
  async function until(what: string, check: (s: FleetStatus) => boolean, timeoutMs = 120_000): Promise<FleetStatus> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // A query needs a worker: while the control worker restarts it may time out.
      const s = await status().catch(() => undefined);
      if (s && check(s)) return s;
      if (performance.now() > deadline) throw new Error(`fleet never reached: ${what}\n${JSON.stringify(s, null, 1)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** A control worker in this process: placement through the fleet, the local provisioner. */
  async function startControl(): Promise<void> {
    const { worker, connection } = await createTestWorker({
      taskQueue: names.taskQueue,
      activities: {
        ...createPlacementActivities({ fleet: { fleetId, client: client.temporal } }),
        ...createFleetActivities(new LocalProvisioner(provisionerOptions)),
      },
    });
    const running = worker.run();
    stopControl = async () => {
      worker.shutdown();
      await running;
      await connection.close();
    };
  }

  beforeAll(async () => {
    client = await SandboxClient.connect({ address: stack.temporalAddress, namespace: stack.namespace, taskQueue: names.taskQueue });
    await startControl();
    await client.temporal.workflow.signalWithStart('FleetWorkflow', {
      workflowId: fleetWorkflowId(fleetId),
      taskQueue: names.taskQueue,
      args: [{ fleetId }],
      signal: configureFleetSignal,
      signalArgs: [config],
    });
    sampler = (async () => {
      while (sampling) {
        samples.push(await status().catch(() => samples.at(-1)!));
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
  });

  afterAll(async () => {
    sampling = false;
    await sampler;
    for (const instance of await provisioner.list({ fleetId })) await provisioner.terminate(instance.instanceId);
    await client.temporal.workflow
      .getHandle(fleetWorkflowId(fleetId))
      .terminate('test over')
      .catch(() => undefined);
    await stopControl?.();
    await client?.close();
  });

  it('scales up for a burst within max hosts, loses a killed host, drains, and shrinks back to min', async () => {
    await until('min hosts ready', (s) => s.hosts.filter((h) => h.state === 'ready').length >= 1);

    const burst = Promise.all(
      Array.from({ length: 5 }, (_, i) => client.createSession({ sessionId: `${fleetId}-s${i}`, template: 'busybox' })),
    );
    // The control worker restarts mid-burst: hosts and reservations live in the fleet workflow.
    await until('scale-up under way', (s) => s.hosts.some((h) => h.state === 'provisioning'));
    await stopControl();
    await startControl();
    const created = await burst;
    const sessions: Session[] = created.map((c) => c.session);
    const placed = await until('all 5 placed', (s) => s.hosts.reduce((n, h) => n + h.sessions.length, 0) === 5);
    expect(live(placed).length).toBe(3);
    expect(placed.counters.provisionsStarted).toBe(3);
    for (const { session, info } of created) {
      expect(info.state).toBe('active');
      expect((await session.exec({ toolCallId: 'hello', command: 'echo hi' })).stdout).toBe('hi\n');
    }
    // Never past max, and never more spare capacity than the warm target plus one host.
    expect(Math.max(...samples.map((s) => live(s).length))).toBeLessThanOrEqual(config.maxHosts);
    for (const s of samples.filter((s) => s.waitingPlacements === 0)) {
      expect(s.capacity).toBeLessThanOrEqual(config.warmSlots + config.maxSessionsPerHost);
    }

    // kill -9 a host with sessions: it is lost within the miss limit, its sessions fail host-lost.
    const victim = placed.hosts.find((h) => h.sessions.length > 0)!;
    const record = JSON.parse(readFileSync(join(stateDir, `${victim.hostId}.json`), 'utf8')) as { pid: number };
    process.kill(record.pid, 'SIGKILL');
    await until('victim lost', (s) => !s.hosts.some((h) => h.hostId === victim.hostId && h.state === 'ready'), 30_000);
    for (const sessionId of victim.sessions) {
      const info = await client.session(sessionId).waitFor((i) => i.state === 'failed', 'failed', 30_000);
      expect(info.failureReason).toBe('host-lost');
    }

    // Drain a surviving host with sessions: no new session lands there; it goes once empty.
    const survivors = (await status()).hosts.filter((h) => h.state === 'ready' && h.sessions.length > 0);
    const drained = survivors[0]!;
    await client.temporal.workflow.getHandle(fleetWorkflowId(fleetId)).executeUpdate(drainUpdate, { args: [{ hostId: drained.hostId }] });
    const late = await client.createSession({ sessionId: `${fleetId}-late`, template: 'busybox' });
    expect(late.info.hostId).not.toBe(drained.hostId);
    sessions.push(late.session);

    for (const session of sessions) await session.destroy();
    await until('drained host terminated', (s) => !s.hosts.some((h) => h.hostId === drained.hostId), 60_000);
    const final = await until('back to min hosts', (s) => live(s).length === config.minHosts && s.hosts.length === config.minHosts, 90_000);
    expect(final.counters.hostsLost).toBe(1);
    expect(await provisioner.list({ fleetId })).toHaveLength(config.minHosts);
    await recordWorkflowHistory(fleetWorkflowId(fleetId), 'fleet-autoscale');
  }, 600_000);
});
