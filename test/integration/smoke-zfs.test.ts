import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { zfs } from '../harness/zfs.js';

describe('ZFS (real zfs-fuse, file-backed pool)', () => {
  const stack = testStack();
  const base = `${stack.zfsRoot}/${uniqueNames(import.meta.url).id}`;

  afterAll(async () => {
    await destroyRecursive(base);
  });

  it('clones a snapshot, snapshots the clone, rolls back a write and destroys it', async () => {
    await zfs('create', '-p', `${base}/template`);
    const templateDir = await zfs('get', '-H', '-o', 'value', 'mountpoint', `${base}/template`);
    await writeFile(join(templateDir, 'hello.txt'), 'from template\n');
    await zfs('snapshot', `${base}/template@v1`);

    await zfs('clone', `${base}/template@v1`, `${base}/session`);
    const sessionDir = await zfs('get', '-H', '-o', 'value', 'mountpoint', `${base}/session`);
    expect(await readFile(join(sessionDir, 'hello.txt'), 'utf8')).toBe('from template\n');
    expect(await zfs('get', '-H', '-o', 'value', 'origin', `${base}/session`)).toBe(`${base}/template@v1`);

    await writeFile(join(sessionDir, 'turn.txt'), 'turn 1\n');
    await zfs('snapshot', `${base}/session@turn-000001`);
    await writeFile(join(sessionDir, 'turn.txt'), 'turn 2, to be rolled back\n');
    await zfs('rollback', '-r', `${base}/session@turn-000001`);
    expect(await readFile(join(sessionDir, 'turn.txt'), 'utf8')).toBe('turn 1\n');

    await destroyRecursive(`${base}/session`);
    const gone = await execa('zfs', ['list', `${base}/session`], { reject: false });
    expect(gone.exitCode).not.toBe(0);
    expect(gone.stderr).toMatch(/does not exist/);
  });
});
