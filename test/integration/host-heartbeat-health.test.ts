import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Storage } from '../../src/activities/host/backends.js';
import { createFleetActivities } from '../../src/activities/control/fleet-activities.js';
import { StaticProvisioner } from '../../src/activities/control/static-provisioner.js';
import { DEFAULT_ZFS_CLI } from '../../src/activities/host/zfs-cli.js';
import type { ZfsProbe } from '../../src/activities/host/zfs-probe.js';
import { fleetWorkflowId } from '../../src/common/names.js';
import { createStorage } from '../../src/workers/backend-factory.js';
import { startHeartbeats } from '../../src/workers/heartbeats.js';
import { HostConfig } from '../../src/workers/host-config.js';
import { fleetStatusQuery, type FleetStatus } from '../../src/protocol/messages.js';
import { testLogger } from '../harness/sbx.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { createTestWorker } from '../harness/temporal.js';

/**
 * A host's heartbeats while zfs-fuse does not answer: the fleet hears "unhealthy" (no new sessions
 * there) instead of silence (the host lost, its sessions with it).
 */
describe('host heartbeats with a hung zfs-fuse', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const fleetId = `hh-${names.id.slice(-12)}`;
  const hostId = `hh-${names.id}`.slice(0, 40).replace(/-+$/, '');
  const dataRoot = join(stack.scratch, 'heartbeat-health', hostId);
  const config = HostConfig.parse({
    hostId,
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    zfsRoot: `${stack.zfsRoot}/${hostId}`,
    zfsLockPath: DEFAULT_ZFS_CLI.lockPath,
    reserveBytes: 16 * 1024 * 1024,
    dataRoot,
    fleetId,
    controlTaskQueue: names.taskQueue,
    heartbeatMs: 300,
    maxSessions: 4,
  });
  let worker: Worker;
  let running: Promise<void>;
  let connection: Connection;
  let client: Client;
  let storage: Storage;

  beforeAll(async () => {
    mkdirSync(dataRoot, { recursive: true });
    const control = await createTestWorker({
      taskQueue: names.taskQueue,
      activities: createFleetActivities(new StaticProvisioner({ hosts: [] })),
    });
    worker = control.worker;
    running = worker.run().finally(() => control.connection.close());
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection, namespace: stack.namespace });
    storage = await createStorage(config, testLogger);
  });
  afterAll(async () => {
    await client?.workflow
      .getHandle(fleetWorkflowId(fleetId))
      .terminate('test over')
      .catch(() => undefined);
    await connection?.close();
    worker?.shutdown();
    await running;
  });

  const host = async (): Promise<FleetStatus['hosts'][number] | undefined> => {
    const status = await client.workflow
      .getHandle(fleetWorkflowId(fleetId))
      .query(fleetStatusQuery)
      .catch(() => undefined);
    return status?.hosts.find((h) => h.hostId === hostId);
  };
  async function until(what: string, check: (h: FleetStatus['hosts'][number]) => boolean): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const h = await host();
      if (h && check(h)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the fleet never saw the host ${what}: ${JSON.stringify(await host())}`);
  }

  it('reports unhealthy while the probe gets no answer, and healthy once it does', async () => {
    let probe: ZfsProbe = { answers: false, detail: 'zpool list sbx did not answer within 5 s' };
    const heartbeats = startHeartbeats(config, storage, testLogger, async () => probe);
    try {
      await until('registered and unhealthy', (h) => h.state === 'ready' && h.healthy === false);
      probe = { answers: true };
      await until('healthy', (h) => h.state === 'ready' && h.healthy === true);
    } finally {
      await heartbeats.stop();
    }
  });

  it('reports unhealthy, not silence, when the storage reads never return', async () => {
    // What a daemon that answers zpool but hangs on its datasets does to the host's reads.
    const hung: Storage = Object.assign(Object.create(storage) as Storage, {
      health: () => new Promise<never>(() => undefined),
    });
    const heartbeats = startHeartbeats(config, hung, testLogger, async () => ({ answers: true }));
    try {
      // The host left the first test healthy: only a heartbeat sent during the hang turns it.
      await until('heartbeating as unhealthy', (h) => h.state === 'ready' && h.healthy === false);
    } finally {
      await heartbeats.stop();
    }
  }, 60_000);
});
