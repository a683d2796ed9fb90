import { join } from 'node:path';
import { execa } from 'execa';
import { makeBusyboxRootfs } from '../../src/activities/host/busybox-template.js';
import { requireFilesHelper } from '../../src/activities/host/files-helper.js';
import { GvisorRuntime } from '../../src/activities/host/runsc.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { Resources } from '../../src/common/sandbox.js';
import { testStack, uniqueNames } from './stack.js';

/**
 * One busybox gVisor sandbox on a ZFS dataset of its own, started before a test file's tests and
 * removed after them. `bundle` is its directory once started.
 */
export function runscSandbox(testFileUrl: string) {
  const stack = testStack();
  const { id: sessionId } = uniqueNames(testFileUrl);
  const sandbox = {
    stack,
    sessionId,
    dataset: `${stack.zfsRoot}/${sessionId}`,
    runtime: new GvisorRuntime({ runscRoot: stack.runscRoot, helperDir: requireFilesHelper() }),
    bundle: '',
  };
  beforeAll(async () => {
    await execa('zfs', ['create', '-p', sandbox.dataset]);
    sandbox.bundle = (await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', sandbox.dataset])).stdout.trim();
    await makeBusyboxRootfs(join(sandbox.bundle, 'rootfs'));
    await sandbox.runtime.start(sessionId, sandbox.bundle, Resources.parse({ cpus: 1, memoryMb: 256, maxPids: 64 }));
  });
  afterAll(async () => {
    await sandbox.runtime.destroy(sessionId);
    await destroyRecursive(sandbox.dataset);
  });
  return sandbox;
}
