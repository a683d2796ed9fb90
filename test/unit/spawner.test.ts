import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runCommand, Spawner, SPAWNER_PATH, type StartedChild } from '../../src/activities/host/spawner.js';
import { supervise } from '../../src/activities/host/supervise.js';

/**
 * The host starts runsc and zfs through sbx-spawn (a fork of the large worker costs ~5 ms each): what
 * a command prints, how it ends and what it is fed must come back exactly as a direct child's would.
 */
describe('sbx-spawn', () => {
  beforeAll(() => {
    if (!existsSync(SPAWNER_PATH)) throw new Error(`${SPAWNER_PATH} is missing: run scripts/bootstrap.sh (it builds helpers/sbx-spawn)`);
  });
  const spawner = () => new Spawner(SPAWNER_PATH);
  const collect = async (child: StartedChild) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    await Promise.all([child.stdout, child.stderr].map((s) => (s!.closed ? undefined : once(s!, 'close'))));
    return { out, err, code, signal };
  };

  it('relays both streams and the exit code', async () => {
    const child = spawner().spawn(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(await collect(child)).toEqual({ out: 'out\n', err: 'err\n', code: 3, signal: null });
  });

  it('feeds stdin, byte for byte, and relays a megabyte of output intact', async () => {
    const input = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(32 + (i % 90))).join('');
    const echoed = await collect(spawner().spawn(['cat'], { input }));
    expect(echoed.out).toBe(input);
    const big = await collect(spawner().spawn(['sh', '-c', "head -c 1048576 /dev/zero | tr '\\0' a"]));
    expect(big.out).toBe('a'.repeat(1 << 20));
  });

  it('delivers a signal and reports the child killed by it', async () => {
    const child = spawner().spawn(['sleep', '30']);
    await once(child, 'spawn');
    expect(child.kill('SIGTERM')).toBe(true);
    expect(await collect(child)).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('reports a missing program as ENOENT and an oversized argument as E2BIG, as a direct spawn would', async () => {
    const codeOf = async (argv: string[]) => ((await once(spawner().spawn(argv), 'error'))[0] as NodeJS.ErrnoException).code;
    expect(await codeOf(['/nonexistent/program'])).toBe('ENOENT');
    expect(await codeOf(['/bin/echo', 'x'.repeat(200 * 1024)])).toBe('E2BIG');
  });

  it('lets a caller give up on a stream that a background process holds open', async () => {
    const child = spawner().spawn(['sh', '-c', 'sleep 30 & echo started']);
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    child.stdout!.destroy();
    child.stderr!.destroy();
    expect(child.stdout!.destroyed).toBe(true);
  });

  it('ends the commands in flight as killed when the helper itself dies', async () => {
    const own = spawner();
    const child = own.spawn(['sleep', '30']);
    await once(child, 'spawn');
    const helperPid = (own as unknown as { helper: { pid: number } }).helper.pid;
    process.kill(helperPid, 'SIGKILL');
    expect(await collect(child)).toMatchObject({ code: null, signal: 'SIGKILL' });
    // The next command starts a new helper.
    expect((await collect(own.spawn(['echo', 'again']))).out).toBe('again\n');
  });

  it('runs a command to its end with a timeout that kills it', async () => {
    expect(await runCommand(['sh', '-c', 'printf "a\\n"; exit 2'], { timeoutMs: 10_000, stripFinalNewline: true })).toMatchObject({
      exitCode: 2,
      stdout: 'a',
      timedOut: false,
    });
    expect(await runCommand(['sleep', '30'], { timeoutMs: 200, killAfterMs: 200 })).toMatchObject({ signal: 'SIGTERM', timedOut: true });
    const missing = await runCommand(['/nonexistent/program'], { timeoutMs: 1000 });
    expect(missing.code).toBe('ENOENT');
    expect(missing.exitCode).toBeUndefined();
  });

  it('is what supervise watches for an exec', async () => {
    const run = await supervise(
      spawner().spawn(['sh', '-c', 'echo hi']),
      { maxOutputBytes: 1024, timeoutMs: 10_000 },
      {},
      async () => undefined,
    );
    expect(run).toMatchObject({ exitCode: 0, stdout: 'hi\n', ending: 'exited' });
  });
});

/**
 * zfs calls are bounded and, when they change datasets, take the machine's zfs lock: sbx-spawn does
 * both itself, exactly as `flock -w … -E 75 <lock> timeout -k …` would (the same exits and holding).
 */
describe('sbx-spawn, bounded and locked starts', () => {
  const spawner = () => new Spawner(SPAWNER_PATH);
  const exitOf = async (child: StartedChild) => {
    // Read to the end, as every caller does: a stream left unread keeps its command counted as live.
    child.stdout!.resume();
    child.stderr!.resume();
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    return { code, signal };
  };
  let dir: string;
  let lock: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spawn-bounds-'));
    lock = join(dir, 'zfs.lock');
    await writeFile(lock, '', { mode: 0o600 });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const lockFree = async () => (await runCommand(['flock', '-n', lock, 'true'], { timeoutMs: 5_000 })).exitCode === 0;

  it('stops a command past its time limit and reports exit 124, as timeout does', async () => {
    const child = spawner().spawn(['sleep', '30'], { bounds: { timeoutMs: 200, killAfterMs: 5_000 } });
    expect(await exitOf(child)).toEqual({ code: 124, signal: null });
  });

  it('kills a command that ignores SIGTERM once its grace is over: exit 137', async () => {
    const child = spawner().spawn(['sh', '-c', 'trap "" TERM; sleep 2'], { bounds: { timeoutMs: 200, killAfterMs: 200 } });
    expect(await exitOf(child)).toEqual({ code: 137, signal: null });
  });

  it('holds the lock while the command runs, and lets it go when it ends', async () => {
    const child = spawner().spawn(['sleep', '0.5'], {
      bounds: { timeoutMs: 10_000, killAfterMs: 1_000, lock: { path: lock, waitMs: 5_000 } },
    });
    await once(child, 'spawn');
    expect(await lockFree()).toBe(false);
    expect(await exitOf(child)).toEqual({ code: 0, signal: null });
    expect(await lockFree()).toBe(true);
  });

  it('never runs a command whose lock stays taken past the wait: exit 75', async () => {
    const holder = spawn('flock', [lock, 'sleep', '30'], { stdio: 'ignore' });
    const holderExit = once(holder, 'exit');
    try {
      for (let i = 0; i < 100 && (await lockFree()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const marker = join(dir, 'ran');
      const child = spawner().spawn(['touch', marker], {
        bounds: { timeoutMs: 10_000, killAfterMs: 1_000, lock: { path: lock, waitMs: 300 } },
      });
      expect(await exitOf(child)).toEqual({ code: 75, signal: null });
      expect(existsSync(marker)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await holderExit;
    }
  });

  it('refuses a lock path that is a symbolic link, and runs nothing', async () => {
    const target = join(dir, 'elsewhere');
    await writeFile(target, '', { mode: 0o600 });
    const link = join(dir, 'linked.lock');
    await symlink(target, link);
    const marker = join(dir, 'ran');
    const child = spawner().spawn(['touch', marker], {
      bounds: { timeoutMs: 10_000, killAfterMs: 1_000, lock: { path: link, waitMs: 1_000 } },
    });
    child.stdout!.resume();
    child.stderr!.resume();
    const ended = await Promise.race([once(child, 'error').then(([err]) => err as Error), once(child, 'exit').then(() => 'ran')]);
    expect(ended).toMatchObject({ message: expect.stringMatching(/too many levels of symbolic links/) });
    expect(existsSync(marker)).toBe(false);
  });

  it('waits for a lock that is let go within the wait, then runs', async () => {
    const holder = spawn('flock', [lock, 'sleep', '0.3'], { stdio: 'ignore' });
    const holderExit = once(holder, 'exit');
    for (let i = 0; i < 100 && (await lockFree()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const child = spawner().spawn(['true'], { bounds: { timeoutMs: 10_000, killAfterMs: 1_000, lock: { path: lock, waitMs: 10_000 } } });
    expect(await exitOf(child)).toEqual({ code: 0, signal: null });
    await holderExit;
  });
});

describe('sbx-spawn, detached starts (runsc run under sbx-reaper)', () => {
  it('puts the command in a session of its own, stderr in a file, and relays fd 3', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spawn-test-'));
    try {
      const spawner = new Spawner(SPAWNER_PATH);
      const stderrFile = join(dir, 'stderr');
      const script = 'echo "$(ps -o sid= -p $$) $$" >&3; echo oops >&2; exec 3>&-; sleep 0.2';
      const child = spawner.spawn(['sh', '-c', script], { detached: { stderrFile, report: true } });
      expect(child.stdout).toBeNull();
      const report = child.streams.get(3)!;
      let text = '';
      report.on('data', (chunk: Buffer) => (text += chunk.toString()));
      await once(report, 'close');
      const [sid, pid] = text.trim().split(/\s+/);
      expect(sid).toBe(pid);
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(0);
      expect(await readFile(stderrFile, 'utf8')).toBe('oops\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
