import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireFilesHelper } from '../../src/activities/host/files-helper.js';
import { NoneRuntime } from '../../src/activities/host/none-runtime.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { zfs } from '../harness/zfs.js';
import { makeBusyboxRootfs } from '../../src/activities/host/busybox-template.js';
import { ExecRequest, FileWrite, ListDirRequest, ReadFileRequest, Resources, type ExecRequestInput } from '../../src/common/sandbox.js';
import { sandboxFiles } from '../../src/activities/host/sandbox-files.js';
import { testStack, uniqueNames } from '../harness/stack.js';

describe('NoneRuntime (plain processes on a ZFS dataset)', () => {
  const stack = testStack();
  const { id: sessionId } = uniqueNames(import.meta.url);
  const dataset = `${stack.zfsRoot}/${sessionId}`;
  const stateDir = join(stack.scratch, `${sessionId}-state`);
  const warnings: string[] = [];
  const runtime = new NoneRuntime({ stateDir, warn: (m) => warnings.push(m), helperDir: requireFilesHelper() });
  let bundle = '';

  const exec = (input: Omit<ExecRequestInput, 'toolCallId'>, hooks?: Parameters<NoneRuntime['exec']>[3]) =>
    runtime.exec(sessionId, bundle, ExecRequest.parse({ toolCallId: 't', ...input }), hooks);
  /**
   * Live processes whose command line matches, within a grace of 2 s for SIGKILL to land. Zombies
   * do not count: killed orphans wait for PID 1 to reap them, which on this VM takes up to ~2 s.
   */
  const running = async (pattern: RegExp): Promise<string> => {
    const deadline = performance.now() + 2000;
    for (;;) {
      const { stdout } = await execa('ps', ['-eo', 'pid=,stat=,args=']);
      const live = stdout.split('\n').filter((line) => {
        const [, stat = '', ...args] = line.trim().split(/\s+/);
        return !stat.startsWith('Z') && pattern.test(args.join(' '));
      });
      if (live.length === 0 || performance.now() > deadline) return live.join('\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    await zfs('create', '-p', dataset);
    bundle = (await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dataset])).stdout.trim();
    await makeBusyboxRootfs(join(bundle, 'rootfs'));
    await runtime.start(sessionId, bundle, Resources.parse({}));
  });

  afterAll(async () => {
    await runtime.destroy(sessionId);
    await destroyRecursive(dataset);
  });

  it('warns loudly, once, that nothing is isolated', () => {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NO isolation/);
  });

  it('runs in rootfs/workspace with exit codes, stdin and output', async () => {
    expect(await exec({ command: 'echo hi > note.txt; echo err >&2; exit 4' })).toMatchObject({
      exitCode: 4,
      status: 'exited',
      stderr: 'err\n',
    });
    expect(await readFile(join(bundle, 'rootfs', 'workspace', 'note.txt'), 'utf8')).toBe('hi\n');
    expect((await exec({ command: ['cat'], stdin: 'piped' })).stdout).toBe('piped');
    expect(await exec({ command: ['no-such-program-sbx'] })).toMatchObject({ exitCode: 127, status: 'exited' });
  });

  it('passes only a fixed environment plus the requested one', async () => {
    process.env.SBX_HOST_SECRET = 'must-not-leak';
    const { stdout } = await exec({ command: 'env', env: { FOO: 'bar' } });
    delete process.env.SBX_HOST_SECRET;
    const env = stdout.split('\n');
    expect(env).toContain('FOO=bar');
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(env).toContain(`HOME=${join(bundle, 'rootfs', 'root')}`);
    expect(stdout).not.toContain('must-not-leak');
  });

  it('confines cwd to the rootfs, through .. and through symlinks', async () => {
    expect((await exec({ command: 'pwd', cwd: '/tmp' })).stdout).toBe(`${join(bundle, 'rootfs', 'tmp')}\n`);
    await expect(exec({ command: 'pwd', cwd: '../../..' })).rejects.toMatchObject({ type: 'PathEscape' });
    await symlink('/etc', join(bundle, 'rootfs', 'workspace', 'out'));
    await expect(exec({ command: 'pwd', cwd: 'out' })).rejects.toMatchObject({ type: 'PathEscape' });
    await expect(exec({ command: 'pwd', cwd: '/missing' })).rejects.toMatchObject({ type: 'InvalidArgument' });
  });

  it('confines the file API to the rootfs with os.Root: links out are refused, links inside work', async () => {
    const files = sandboxFiles(runtime, sessionId, bundle);
    await symlink('/etc', join(bundle, 'rootfs', 'workspace', 'etc-out'));
    await symlink('../tmp', join(bundle, 'rootfs', 'workspace', 'tmp-in'));
    await expect(files.readFile(ReadFileRequest.parse({ path: 'etc-out/hostname' }))).rejects.toMatchObject({ type: 'PathEscape' });
    await expect(files.writeFiles([FileWrite.parse({ path: 'etc-out/pwned', content: 'x' })])).rejects.toMatchObject({
      type: 'PathEscape',
    });
    await expect(files.readFile(ReadFileRequest.parse({ path: '/workspace/../../../etc/hostname' }))).rejects.toMatchObject({
      type: 'PathEscape',
    });
    await files.writeFiles([FileWrite.parse({ path: 'tmp-in/note', content: 'inside' })]);
    expect(await readFile(join(bundle, 'rootfs', 'tmp', 'note'), 'utf8')).toBe('inside');
    expect((await files.readFile(ReadFileRequest.parse({ path: '/tmp/note' }))).content).toBe('inside');
    expect((await files.listDir(ListDirRequest.parse({ path: '/tmp' }))).entries.map((e) => e.name)).toContain('note');
  });

  it('caps large output', async () => {
    const result = await exec({ command: 'yes | head -c 52428800', maxOutputBytes: 65536 });
    expect(result).toMatchObject({ status: 'exited', truncated: true, exitCode: 0 });
    expect(result.stdout).toHaveLength(65536);
  });

  it('kills the whole process group on timeout', async () => {
    const result = await exec({ command: 'sleep 41 & sleep 42; echo never', timeoutMs: 1000 });
    expect(result.status).toBe('timed_out');
    expect(result.stdout).toBe('');
    expect(await running(/^sleep 4[12]$/)).toBe('');
  });

  it('kills the whole process group on cancel', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 500);
    const result = await exec({ command: 'sleep 43 & sleep 44' }, { signal: abort.signal });
    expect(result.status).toBe('killed');
    expect(await running(/^sleep 4[34]$/)).toBe('');
  });

  it('records pause, resume and hibernation, surviving a new runtime instance', async () => {
    await runtime.pause(sessionId);
    await runtime.pause(sessionId);
    await expect(exec({ command: 'true' })).rejects.toMatchObject({ type: 'SessionPaused' });
    const restarted = new NoneRuntime({ stateDir, warn: () => undefined, helperDir: requireFilesHelper() });
    expect(await restarted.state(sessionId)).toBe('paused');
    await restarted.resume(sessionId);
    await restarted.checkpoint(sessionId, join(bundle, 'checkpoint'));
    expect(await restarted.state(sessionId)).toBe('stopped');
    await restarted.restore(sessionId, bundle, join(bundle, 'checkpoint'));
    expect(await restarted.list()).toContain(sessionId);
    await restarted.destroy(sessionId);
    await restarted.destroy(sessionId);
    expect(await new NoneRuntime({ stateDir, warn: () => undefined, helperDir: requireFilesHelper() }).state(sessionId)).toBe('absent');
  });
});
