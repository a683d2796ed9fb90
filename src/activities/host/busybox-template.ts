import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Storage } from './backends.js';

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

/** Imports a busybox root filesystem as template `name` (a new version if it exists). */
export async function importBusyboxTemplate(storage: Storage, name: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sbx-busybox-'));
  try {
    await makeBusyboxRootfs(dir);
    await storage.importTemplate(name, { dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
