import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { pino } from 'pino';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createPlacementActivities, type PlacementConfig } from '../../src/activities/control/placement.js';
import { DEFAULT_ZFS_CLI } from '../../src/activities/host/zfs-cli.js';
import { importBusyboxTemplate } from '../../src/activities/host/busybox-template.js';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { HostConfig } from '../../src/workers/host-config.js';
import { createSbxNexusHandler } from '../../src/nexus/handler.js';
import { startHostWorker, type RunningHost } from '../../src/workers/host.js';
import { createTestWorker } from './temporal.js';
import { testStack, uniqueNames } from './stack.js';

export interface SbxTestStack {
  client: SandboxClient;
  host: RunningHost;
  hostId: string;
  hostConfig: HostConfig;
  controlTaskQueue: string;
  control: Worker;
  /** Restarts the control worker (a new worker on the same queue), as after a crash. */
  restartControl(): Promise<void>;
  stop(): Promise<void>;
}

export const testLogger = pino({ level: process.env.SBX_TEST_LOG_LEVEL ?? 'warn' });

/**
 * A real sbx stack for one test file on the run's dev server: a host worker on ZFS + gVisor with its
 * own dataset root and runsc root, the busybox template, and a control worker on a unique queue.
 */
export async function startSbx(
  testFileUrl: string,
  overrides: Partial<HostConfig> = {},
  /**
   * Place through this fleet (and claim from its warm pools) instead of the host directly. The fleet
   * workflow must already run on `controlTaskQueue`, or the host's first heartbeat starts it elsewhere.
   */
  fleet?: { fleetId: string; warmTemplates: string[]; controlTaskQueue: string; onPlaced?: PlacementConfig['onPlaced'] },
): Promise<SbxTestStack> {
  const stack = testStack();
  const names = uniqueNames(testFileUrl);
  const hostId = `h-${names.id}`.slice(0, 63).replace(/-+$/, '');
  const dataRoot = join(stack.scratch, 'hosts', hostId);
  mkdirSync(dataRoot, { recursive: true });
  const hostConfig = HostConfig.parse({
    hostId,
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    storage: 'zfs',
    zfsRoot: `${stack.zfsRoot}/${hostId}`,
    dataRoot,
    runtime: 'gvisor',
    shutdownGraceMs: 2000,
    zfsLockPath: DEFAULT_ZFS_CLI.lockPath,
    // Test hosts share one small pool: each keeps a token reserve.
    reserveBytes: 16 * 1024 * 1024,
    ...overrides,
  });
  const host = await startHostWorker(hostConfig, testLogger);
  if (!(await host.storage.templateExists('busybox'))) await importBusyboxTemplate(host.storage, 'busybox');

  const controlTaskQueue = fleet?.controlTaskQueue ?? names.taskQueue;
  let control: { worker: Worker; connection: NativeConnection };
  let running: Promise<void>;
  const placementConnection = fleet ? await Connection.connect({ address: stack.temporalAddress }) : undefined;
  const placement = createPlacementActivities(
    placementConnection
      ? {
          fleet: {
            fleetId: fleet!.fleetId,
            warmTemplates: fleet!.warmTemplates,
            client: new Client({ connection: placementConnection, namespace: stack.namespace }),
          },
          onPlaced: fleet!.onPlaced,
        }
      : { defaultHostId: hostId },
  );
  const startControl = async () => {
    control = await createTestWorker({ taskQueue: controlTaskQueue, activities: placement, nexusServices: [createSbxNexusHandler()] });
    running = control.worker.run();
  };
  const stopControl = async () => {
    control.worker.shutdown();
    await running;
    await control.connection.close();
  };
  await startControl();
  const client = await SandboxClient.connect({ address: stack.temporalAddress, namespace: stack.namespace, taskQueue: controlTaskQueue });

  return {
    client,
    host,
    hostId,
    hostConfig,
    controlTaskQueue,
    get control() {
      return control.worker;
    },
    async restartControl() {
      await stopControl();
      await startControl();
    },
    async stop() {
      await client.close();
      await stopControl();
      await placementConnection?.close();
      await host.shutdown();
    },
  };
}
