import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { LocalDiskStorage } from '../activities/host/local-disk-storage.js';
import { NoneRuntime } from '../activities/host/none-runtime.js';
import { GvisorRuntime } from '../activities/host/runsc.js';
import { ZfsStorage } from '../activities/host/zfs-storage.js';
import { zfsRootOf, type HostConfig } from './host-config.js';

/** The storage a host config asks for, initialised and ready. */
export async function createStorage(config: HostConfig, logger: Logger): Promise<Storage> {
  if (config.storage === 'zfs') {
    const zfs = new ZfsStorage({ root: zfsRootOf(config), mountpoint: join(config.dataRoot, 'zfs') });
    await zfs.init();
    return zfs;
  }
  logger.warn('storage local-disk: snapshots are full copies, slower than ZFS and without quotas');
  return new LocalDiskStorage({ root: join(config.dataRoot, 'local') });
}

export function createRuntime(config: HostConfig, logger: Logger): Runtime {
  return config.runtime === 'gvisor'
    ? new GvisorRuntime({ runscRoot: join(config.dataRoot, 'runsc'), runscPath: config.runscPath, platform: config.runscPlatform })
    : new NoneRuntime({ stateDir: join(config.dataRoot, 'none'), warn: (message) => logger.warn(message) });
}
