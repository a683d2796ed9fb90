import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { zfs } from '../harness/zfs.js';
import { makeBusyboxRootfs } from '../../src/activities/host/busybox-template.js';
import { runscPath } from '../../src/dev/paths.js';
import { testStack, uniqueNames } from '../harness/stack.js';

describe('gVisor (real runsc) on a ZFS dataset', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  const dataset = `${stack.zfsRoot}/${id}`;

  afterAll(async () => {
    await execa(runscPath(), ['--root', stack.runscRoot, 'delete', '-force', id], { reject: false });
    await destroyRecursive(dataset);
  });

  it('runs a command in a busybox rootfs and the file it wrote is on the dataset', async () => {
    await zfs('create', '-p', dataset);
    const bundle = (await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dataset])).stdout.trim();
    const rootfs = join(bundle, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    await execa(runscPath(), ['spec', '--bundle', bundle, '--', '/bin/sh', '-c', 'uname -s > /workspace/out.txt; echo written']);
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    config.root.readonly = false;
    await writeFile(configPath, JSON.stringify(config));

    // --overlay2=none: newer runsc would keep rootfs writes in a sandbox-private overlay.
    const run = await execa(runscPath(), [
      '--root',
      stack.runscRoot,
      '--network',
      'none',
      '--overlay2=none',
      'run',
      '--bundle',
      bundle,
      id,
    ]);
    expect(run.stdout.trim()).toBe('written');
    // gVisor's own kernel answers uname, and the write went through its gofer to the ZFS dataset.
    expect(await readFile(join(rootfs, 'workspace', 'out.txt'), 'utf8')).toBe('Linux\n');
  });
});
