import { mkdir, mkdtemp, readFile as readHostFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SbxErrorType } from '../../src/common/errors.js';
import { MAX_FILE_BYTES } from '../../src/common/sandbox.js';
import { completeUtf8Length, listDir, readFile, resolveInside, writeFiles } from '../../src/activities/host/sandbox-files.js';

describe('sandbox file access from the host', () => {
  let base: string;
  let rootfs: string;
  let outside: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'sbx-files-'));
    rootfs = join(base, 'rootfs');
    outside = join(base, 'outside');
    await mkdir(join(rootfs, 'workspace', 'src'), { recursive: true });
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'host secret\n');
    await writeFile(join(rootfs, 'etc', 'hostname'), 'sandbox\n');
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const failureType = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (err: { type?: string }) => err.type,
    );

  it('resolves relative paths from /workspace and absolute ones from the sandbox root', async () => {
    expect(await resolveInside(rootfs, 'src/a.ts')).toBe(join(rootfs, 'workspace', 'src', 'a.ts'));
    expect(await resolveInside(rootfs, '/etc/hostname')).toBe(join(rootfs, 'etc', 'hostname'));
    expect(await resolveInside(rootfs, '/workspace/../etc/./hostname')).toBe(join(rootfs, 'etc', 'hostname'));
  });

  it('refuses .. that climbs above the sandbox root', async () => {
    expect(await failureType(resolveInside(rootfs, '../../../etc/passwd'))).toBe(SbxErrorType.PathEscape);
    expect(await failureType(resolveInside(rootfs, '/../outside/secret'))).toBe(SbxErrorType.PathEscape);
    expect(await failureType(readFile(rootfs, { path: '../../outside/secret' }))).toBe(SbxErrorType.PathEscape);
  });

  it('takes an absolute symlink target from the sandbox root, never the host root', async () => {
    await symlink(outside, join(rootfs, 'workspace', 'abs-link'));
    expect(await failureType(readFile(rootfs, { path: 'abs-link/secret' }))).toBe(SbxErrorType.NotFound);
    await writeFiles(rootfs, [{ path: 'abs-link/planted', content: 'x', encoding: 'utf8' }]);
    await expect(stat(join(outside, 'planted'))).rejects.toThrow(/ENOENT/);
    expect(await readHostFile(join(rootfs, outside, 'planted'), 'utf8')).toBe('x');
  });

  it('refuses a symlink whose absolute target climbs out with ..', async () => {
    await symlink('/../../..' + outside, join(rootfs, 'workspace', 'sneaky'));
    expect(await failureType(readFile(rootfs, { path: 'sneaky/secret' }))).toBe(SbxErrorType.PathEscape);
  });

  it('refuses relative symlinks that lead outside, along the path or at its end', async () => {
    await symlink('../../outside', join(rootfs, 'workspace', 'rel-dir'));
    await symlink('../../outside/secret', join(rootfs, 'workspace', 'rel-file'));
    expect(await failureType(readFile(rootfs, { path: 'rel-dir/secret' }))).toBe(SbxErrorType.PathEscape);
    expect(await failureType(readFile(rootfs, { path: '/workspace/rel-file' }))).toBe(SbxErrorType.PathEscape);
    expect(await failureType(writeFiles(rootfs, [{ path: 'rel-file', content: 'overwrite', encoding: 'utf8' }]))).toBe(
      SbxErrorType.PathEscape,
    );
    expect(await readHostFile(join(outside, 'secret'), 'utf8')).toBe('host secret\n');
    expect(await failureType(listDir(rootfs, 'rel-dir'))).toBe(SbxErrorType.PathEscape);
  });

  it('follows symlinks that stay inside, writing to their target', async () => {
    await symlink('../etc', join(rootfs, 'workspace', 'etc-link'));
    await symlink('/etc/hostname', join(rootfs, 'workspace', 'name-link'));
    expect((await readFile(rootfs, { path: 'etc-link/hostname' })).content).toBe('sandbox\n');
    await writeFiles(rootfs, [{ path: 'name-link', content: 'renamed\n', encoding: 'utf8' }]);
    expect(await readHostFile(join(rootfs, 'etc', 'hostname'), 'utf8')).toBe('renamed\n');
    expect(await resolveInside(rootfs, 'name-link', false)).toBe(join(rootfs, 'workspace', 'name-link'));
  });

  it('writes utf8 and base64 files with parent directories and modes, and reads them back', async () => {
    await writeFiles(rootfs, [
      { path: 'deep/er/hello.txt', content: 'héllo\n', encoding: 'utf8' },
      { path: '/bin/tool', content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64', mode: 0o755 },
    ]);
    expect(await readFile(rootfs, { path: 'deep/er/hello.txt' })).toEqual({ content: 'héllo\n', encoding: 'utf8', size: 7, truncated: false });
    expect(await readFile(rootfs, { path: '/bin/tool', encoding: 'base64' })).toEqual({
      content: Buffer.from([0, 1, 2, 255]).toString('base64'),
      encoding: 'base64',
      size: 4,
      truncated: false,
    });
    expect((await stat(join(rootfs, 'bin', 'tool'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(rootfs, 'workspace', 'deep', 'er', 'hello.txt'))).mode & 0o777).toBe(0o644);
  });

  it('refuses a file over the size limit and writes none of the batch', async () => {
    const big = 'x'.repeat(MAX_FILE_BYTES + 1);
    const failure = writeFiles(rootfs, [
      { path: 'small.txt', content: 'ok', encoding: 'utf8' },
      { path: 'big.txt', content: big, encoding: 'utf8' },
    ]);
    await expect(failure).rejects.toMatchObject({ type: SbxErrorType.InvalidArgument, message: expect.stringMatching(/big.txt.*limit/) });
    await expect(stat(join(rootfs, 'workspace', 'small.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('truncates reads at maxBytes without splitting a character, and reports the full size', async () => {
    await writeFile(join(rootfs, 'workspace', 'long.txt'), 'abcé'.repeat(10));
    const result = await readFile(rootfs, { path: 'long.txt', maxBytes: 4 });
    expect(result).toEqual({ content: 'abc', encoding: 'utf8', size: 50, truncated: true });
    const raw = await readFile(rootfs, { path: 'long.txt', maxBytes: 5, encoding: 'base64' });
    expect(Buffer.from(raw.content, 'base64').toString('utf8')).toBe('abcé');
    expect(completeUtf8Length(Buffer.from('a€'))).toBe(4);
    expect(completeUtf8Length(Buffer.from('a€').subarray(0, 3))).toBe(1);
  });

  it('reports a missing file as NotFound and a directory where a file is expected as InvalidArgument', async () => {
    expect(await failureType(readFile(rootfs, { path: 'nope.txt' }))).toBe(SbxErrorType.NotFound);
    expect(await failureType(readFile(rootfs, { path: 'src' }))).toBe(SbxErrorType.InvalidArgument);
    expect(await failureType(writeFiles(rootfs, [{ path: 'src', content: 'x', encoding: 'utf8' }]))).toBe(SbxErrorType.InvalidArgument);
    expect(await failureType(listDir(rootfs, 'missing-dir'))).toBe(SbxErrorType.NotFound);
    expect(await failureType(listDir(rootfs, '/etc/hostname'))).toBe(SbxErrorType.InvalidArgument);
  });

  it('lists a directory sorted by name with types and sizes, not following links', async () => {
    await writeFile(join(rootfs, 'workspace', 'b.txt'), '12345');
    await symlink('/etc', join(rootfs, 'workspace', 'a-link'));
    expect(await listDir(rootfs, '/workspace')).toEqual([
      { name: 'a-link', type: 'symlink', size: 4 },
      { name: 'b.txt', type: 'file', size: 5 },
      { name: 'src', type: 'dir', size: expect.any(Number) },
    ]);
  });
});
