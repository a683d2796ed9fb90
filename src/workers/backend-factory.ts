import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { LocalDiskStorage } from '../activities/host/local-disk-storage.js';
import { requireFilesHelper } from '../activities/host/files-helper.js';
import { NoneRuntime } from '../activities/host/none-runtime.js';
import { GvisorRuntime } from '../activities/host/runsc.js';
import { DEFAULT_ZFS_CLI } from '../activities/host/zfs-cli.js';
import { ZfsStorage } from '../activities/host/zfs-storage.js';
import { zfsLockPathOf, zfsRootOf, type HostConfig } from './host-config.js';

/**
 * The storage a host config asks for, initialised and ready (or only opened, for a look that changes
 * nothing). Tools beside the host (`reserve: false`) leave the host's reserve alone.
 */
export async function createStorage(config: HostConfig, logger: Logger, { init = true, reserve = true } = {}): Promise<Storage> {
  if (config.storage === 'zfs') {
    const zfs = new ZfsStorage({
      root: zfsRootOf(config),
      mountpoint: join(config.dataRoot, 'zfs'),
      reserveBytes: reserve ? config.reserveBytes : undefined,
      cli: {
        ...DEFAULT_ZFS_CLI,
        lockPath: zfsLockPathOf(config),
        lockWaitMs: config.zfsLockWaitMs,
        timeoutMs: config.zfsTimeoutMs,
      },
    });
    if (init) await zfs.init();
    return zfs;
  }
  logger.warn('storage local-disk: snapshots are full copies, slower than ZFS and without quotas');
  return new LocalDiskStorage({ root: join(config.dataRoot, 'local') });
}

export function createRuntime(config: HostConfig, logger: Logger): Runtime {
  const helperDir = requireFilesHelper(config.helperDir);
  return config.runtime === 'gvisor'
    ? new GvisorRuntime({
        runscRoot: join(config.dataRoot, 'runsc'),
        runscPath: config.runscPath,
        platform: config.runscPlatform,
        helperDir,
      })
    : new NoneRuntime({ stateDir: join(config.dataRoot, 'none'), warn: (message) => logger.warn(message), helperDir });
}
