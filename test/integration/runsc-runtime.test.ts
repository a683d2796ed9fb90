import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { requireFilesHelper } from '../../src/activities/host/files-helper.js';
import { containerId, GvisorRuntime } from '../../src/activities/host/runsc.js';
import { runscPath } from '../../src/dev/paths.js';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { zfs } from '../harness/zfs.js';
import { makeBusyboxRootfs } from '../../src/activities/host/busybox-template.js';
import { ExecRequest, Resources, type ExecRequestInput } from '../../src/common/sandbox.js';
import { testStack, uniqueNames } from '../harness/stack.js';

describe('GvisorRuntime (real runsc on a ZFS dataset)', () => {
  const stack = testStack();
  const { id: sessionId } = uniqueNames(import.meta.url);
  const dataset = `${stack.zfsRoot}/${sessionId}`;
  const runtime = new GvisorRuntime({ runscRoot: stack.runscRoot, helperDir: requireFilesHelper() });
  const resources = Resources.parse({ cpus: 1, memoryMb: 256, maxPids: 64 });
  let bundle = '';

  const exec = (input: Omit<ExecRequestInput, 'toolCallId'>, hooks?: Parameters<GvisorRuntime['exec']>[3]) =>
    runtime.exec(sessionId, bundle, ExecRequest.parse({ toolCallId: 't', ...input }), hooks);
  const processes = async () => (await exec({ command: 'ps -o pid,args' })).stdout;

  beforeAll(async () => {
    await zfs('create', '-p', dataset);
    bundle = (await execa('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dataset])).stdout.trim();
    await makeBusyboxRootfs(join(bundle, 'rootfs'));
  });

  afterAll(async () => {
    await runtime.destroy(sessionId);
    await destroyRecursive(dataset);
  });

  it('starts, and starting again is a no-op on the running sandbox', async () => {
    expect(await runtime.state(sessionId)).toBe('absent');
    await runtime.start(sessionId, bundle, resources);
    await exec({ command: 'echo first > /tmp/marker' });
    await runtime.start(sessionId, bundle, resources);
    expect(await runtime.state(sessionId)).toBe('running');
    expect((await exec({ command: 'cat /tmp/marker' })).stdout).toBe('first\n');
    expect(await runtime.list()).toContain(sessionId);
  });

  it('runs in /workspace, and what it writes lands on the dataset', async () => {
    const result = await exec({ command: 'pwd; hostname; echo from-sandbox > note.txt' });
    expect(result).toMatchObject({ exitCode: 0, status: 'exited', stdout: `/workspace\n${sessionId}\n`, truncated: false });
    expect(await readFile(join(bundle, 'rootfs', 'workspace', 'note.txt'), 'utf8')).toBe('from-sandbox\n');
  });

  it('reports exit codes of shell strings and argv commands', async () => {
    expect(await exec({ command: 'echo out; echo err >&2; exit 3' })).toMatchObject({
      exitCode: 3,
      status: 'exited',
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(await exec({ command: ['/bin/false'] })).toMatchObject({ exitCode: 1, status: 'exited' });
    expect(await exec({ command: ['echo', 'a b', '$HOME'] })).toMatchObject({ exitCode: 0, stdout: 'a b $HOME\n' });
    expect(await exec({ command: ['/bin/no-such-program'] })).toMatchObject({ exitCode: 127, status: 'exited' });
  });

  it('feeds stdin to the command', async () => {
    const result = await exec({ command: 'wc -l; cat /dev/null', stdin: 'one\ntwo\nthree\n' });
    expect(result.stdout.trim()).toBe('3');
    expect((await exec({ command: ['cat'], stdin: 'héllo' })).stdout).toBe('héllo');
  });

  it('passes the requested env and nothing of the host environment', async () => {
    process.env.SBX_HOST_SECRET = 'must-not-leak';
    const result = await exec({ command: 'env', env: { FOO: 'bar baz' } });
    delete process.env.SBX_HOST_SECRET;
    const env = result.stdout.split('\n');
    expect(env).toContain('FOO=bar baz');
    expect(env).toContain('HOME=/root');
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(result.stdout).not.toContain('must-not-leak');
    expect(result.stdout).not.toContain(process.cwd());
  });

  it('honours cwd, absolute or relative to /workspace, and refuses a missing one', async () => {
    await exec({ command: 'mkdir -p /workspace/sub' });
    expect((await exec({ command: 'pwd', cwd: '/tmp' })).stdout).toBe('/tmp\n');
    expect((await exec({ command: 'pwd', cwd: 'sub' })).stdout).toBe('/workspace/sub\n');
    await expect(exec({ command: 'pwd', cwd: '/no/such/dir' })).rejects.toMatchObject({ type: 'InvalidArgument' });
  });

  it('caps 50 MB of output without holding it in memory', async () => {
    const rssBefore = process.memoryUsage().rss;
    const result = await exec({ command: 'yes | head -c 52428800; echo tail >&2', maxOutputBytes: 1024 * 1024 });
    const growth = process.memoryUsage().rss - rssBefore;
    expect(result.status).toBe('exited');
    expect(result.exitCode).toBe(0);
    expect(result.truncated).toBe(true);
    expect(result.stdout).toHaveLength(1024 * 1024);
    expect(result.stdout.startsWith('y\ny\n')).toBe(true);
    expect(result.stderr).toBe('tail\n');
    expect(growth).toBeLessThan(200 * 1024 * 1024);
  });

  it('kills a command over its timeout inside the sandbox, with its children', async () => {
    const result = await exec({ command: 'sleep 31 & sleep 30; echo never', timeoutMs: 1000 });
    expect(result.status).toBe('timed_out');
    expect(result.stdout).not.toContain('never');
    const ps = await processes();
    expect(ps).not.toMatch(/sleep 3[01]/);
  });

  it('kills the command when the activity is cancelled, and reports progress while it runs', async () => {
    const abort = new AbortController();
    let progress = 0;
    const running = exec(
      { command: 'sleep 33 & sleep 34' },
      {
        signal: abort.signal,
        onProgress: () => {
          progress++;
          abort.abort();
        },
      },
    );
    const result = await running;
    expect(progress).toBeGreaterThanOrEqual(1);
    expect(result.status).toBe('killed');
    expect(await processes()).not.toMatch(/sleep 3[34]/);
  });

  it('stops a fork bomb at the process limit; the timeout kills it and the sandbox survives', async () => {
    const bomb = await exec({ command: 'f(){ f | f & }; f; sleep 60', timeoutMs: 3_000 });
    expect(bomb.status).toBe('timed_out');
    expect(bomb.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(await runtime.state(sessionId)).toBe('running');
    const ps = await processes();
    expect(ps).not.toMatch(/sleep 60/);
    expect(ps.trim().split('\n').length).toBeLessThan(8);
    expect(await exec({ command: 'echo alive' })).toMatchObject({ exitCode: 0, stdout: 'alive\n' });
  });

  it('pauses and resumes, each idempotently; a paused sandbox refuses commands', async () => {
    await runtime.pause(sessionId);
    await runtime.pause(sessionId);
    expect(await runtime.state(sessionId)).toBe('paused');
    await expect(exec({ command: 'true' })).rejects.toMatchObject({ type: 'SessionPaused' });
    await runtime.start(sessionId, bundle, resources);
    expect(await runtime.state(sessionId)).toBe('paused');
    await runtime.resume(sessionId);
    await runtime.resume(sessionId);
    expect(await runtime.state(sessionId)).toBe('running');
    expect((await exec({ command: 'echo back' })).stdout).toBe('back\n');
  });

  it('hibernates and restores memory: tmpfs files and background processes survive', async () => {
    await exec({ command: 'echo in-memory > /dev/sbx-note; sleep 777 >/dev/null 2>&1 &' });
    const imagePath = join(bundle, 'checkpoint');
    await runtime.checkpoint(sessionId, imagePath);
    await runtime.checkpoint(sessionId, imagePath);
    expect(await runtime.state(sessionId)).toBe('stopped');

    await runtime.restore(sessionId, bundle, imagePath);
    await runtime.restore(sessionId, bundle, imagePath);
    expect(await runtime.state(sessionId)).toBe('running');
    expect((await exec({ command: 'cat /dev/sbx-note' })).stdout).toBe('in-memory\n');
    expect(await processes()).toMatch(/sleep 777/);

    // A second hibernation reuses the same image directory.
    await runtime.checkpoint(sessionId, imagePath);
    await runtime.restore(sessionId, bundle, imagePath);
    expect((await exec({ command: 'cat /dev/sbx-note' })).stdout).toBe('in-memory\n');
  });

  it('reports a sandbox killed by its memory limit as oom, and start brings it back', async () => {
    const hog = await exec({ command: 'head -c 2000000000 /dev/zero | tail -c 1500000000 > /dev/null; echo survived', timeoutMs: 90_000 });
    expect(hog.status).toBe('oom');
    expect(hog.stdout).not.toContain('survived');
    expect(await runtime.state(sessionId)).toBe('stopped');

    await runtime.start(sessionId, bundle, resources);
    expect(await runtime.state(sessionId)).toBe('running');
    expect(await exec({ command: 'cat workspace/note.txt', cwd: '/' })).toMatchObject({ exitCode: 0, stdout: 'from-sandbox\n' });
  });

  it('starts the sandbox under sbx-reaper, which reaps it when it is deleted and then leaves', async () => {
    await runtime.start(sessionId, bundle, resources);
    await exec({ command: 'echo kept > /workspace/reaper-note' });
    const state = await execa(runscPath(), ['--root', stack.runscRoot, 'state', containerId(sessionId)]);
    const { pid } = JSON.parse(state.stdout) as { pid: number };
    const parentOf = async (p: number) => Number(/^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${p}/status`, 'utf8'))![1]);
    const reaper = await parentOf(pid);
    // Not orphaned to init, whose late reaping `runsc delete` would wait for.
    expect(await readFile(`/proc/${reaper}/cmdline`, 'utf8')).toMatch(/sbx-reaper\0/);
    await runtime.destroy(sessionId);
    await expect(readFile(`/proc/${pid}/status`, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    // With nothing left to reap, the reaper exits (this process, its parent, collects it).
    const alive = async () => !/^State:\s+Z/m.test(await readFile(`/proc/${reaper}/status`, 'utf8').catch(() => 'State: Z'));
    while (await alive()) await sleep(50);
    await runtime.start(sessionId, bundle, resources);
    expect((await exec({ command: 'cat /workspace/reaper-note' })).stdout).toBe('kept\n');
  });

  it('kills every process of the sandbox at once, and destroy then removes the container', async () => {
    await runtime.start(sessionId, bundle, resources);
    await exec({ command: 'sleep 1000 > /workspace/held 2>&1 & true' });
    const group = join('sbx', sessionId, 'cgroup.procs');
    const procs = await readFile(join('/sys/fs/cgroup/pids', group), 'utf8').catch(() => readFile(join('/sys/fs/cgroup', group), 'utf8'));
    const pids = procs.split('\n').filter(Boolean);
    // The sandbox and its gofer at least, which holds the dataset's files open.
    expect(pids.length).toBeGreaterThan(1);
    expect(await runtime.kill(sessionId)).toBe(true);
    for (const pid of pids) await expect(readFile(`/proc/${pid}/status`, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await runtime.state(sessionId)).toBe('stopped');
    await runtime.destroy(sessionId);
    expect(await runtime.state(sessionId)).toBe('absent');
  });

  it('destroys, idempotently, and the sandbox is gone', async () => {
    await runtime.destroy(sessionId);
    await runtime.destroy(sessionId);
    expect(await runtime.state(sessionId)).toBe('absent');
    expect(await runtime.list()).not.toContain(sessionId);
    await expect(exec({ command: 'true' })).rejects.toMatchObject({ type: 'NotFound' });
    await expect(runtime.pause(sessionId)).rejects.toMatchObject({ type: 'NotFound' });
  });
});
