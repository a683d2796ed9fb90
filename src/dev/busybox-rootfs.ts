import { copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

const BUSYBOX = '/bin/busybox';

/**
 * Lays out a minimal root filesystem around Debian's static busybox: enough for `sh` and the
 * usual tools. Used for the test template and by `sbx dev` when no template exists yet.
 */
export async function makeBusyboxRootfs(rootfs: string): Promise<void> {
  for (const dir of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'workspace', 'root']) {
    await mkdir(join(rootfs, dir), { recursive: true });
  }
  await copyFile(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  const { stdout } = await execa(BUSYBOX, ['--list']);
  for (const applet of stdout.split('\n').filter((name) => name && name !== 'busybox')) {
    await symlink('busybox', join(rootfs, 'bin', applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
