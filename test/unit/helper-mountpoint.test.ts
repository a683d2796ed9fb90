import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareHelperMountpoint } from '../../src/activities/host/runsc.js';

/** A sandbox controls its /.sbx: what it leaves there must not redirect or block the helper's mount. */
describe('prepareHelperMountpoint', () => {
  let rootfs: string;
  let outside: string;
  beforeEach(async () => {
    rootfs = await mkdtemp(join(tmpdir(), 'sbx-rootfs-'));
    outside = await mkdtemp(join(tmpdir(), 'sbx-outside-'));
    await writeFile(join(outside, 'keep'), 'host file');
  });
  afterEach(async () => {
    await rm(rootfs, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('replaces a planted link with a directory, without touching its target', async () => {
    await symlink(outside, join(rootfs, '.sbx'));
    await prepareHelperMountpoint(rootfs);
    expect((await lstat(join(rootfs, '.sbx'))).isDirectory()).toBe(true);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('host file');
  });

  it('replaces a planted file, and keeps a directory as it is', async () => {
    await writeFile(join(rootfs, '.sbx'), 'blocks the mount');
    await prepareHelperMountpoint(rootfs);
    expect((await lstat(join(rootfs, '.sbx'))).isDirectory()).toBe(true);
    await writeFile(join(rootfs, '.sbx', 'old'), '');
    await prepareHelperMountpoint(rootfs);
    expect((await lstat(join(rootfs, '.sbx', 'old'))).isFile()).toBe(true);
  });

  it('makes the directory when nothing is there', async () => {
    await mkdir(join(rootfs, 'workspace'));
    await prepareHelperMountpoint(rootfs);
    expect((await lstat(join(rootfs, '.sbx'))).isDirectory()).toBe(true);
  });
});
