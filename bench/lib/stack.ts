import { createWriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { freePort } from '../../src/dev/net.js';
import { repoRoot } from '../../src/dev/paths.js';
import { startDevServer, type DevServer } from '../../src/dev/temporal-server.js';

export const progress = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** LIFO cleanup steps, each best effort; run once, on success, failure or Ctrl-C. */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  private running: Promise<void> | undefined;

  add(what: string, fn: () => Promise<unknown>): void {
    this.steps.push({ what, fn });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const { what, fn } = this.steps.pop()!;
        progress(`cleanup: ${what}`);
        try {
          await withTimeout(fn(), 180_000, what);
        } catch (err) {
          progress(`cleanup: ${what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface BenchStack {
  server: DevServer;
  /** `sbx host` and `sbx control`, each a process of its own, as in production. */
  host: ChildWorker;
  control: ChildWorker;
  client: SandboxClient;
  hostId: string;
  taskQueue: string;
  /** The warm phase's fleet and its control queue; the host heartbeats to it from the start. */
  fleetId: string;
  fleetTaskQueue: string;
  zfsRoot: string;
  dataRoot: string;
  runscRoot: string;
}

/**
 * The embedded stack: dev server (own SQLite file, free ports), then `sbx host` (which imports the
 * busybox template) and `sbx control` as child processes, and the client in this process.
 */
export async function startStack(
  opts: { tmp: string; tag: string; pool: string; maxSessions: number },
  cleanup: Cleanup,
  /** Runs once the workers have stopped and before the server stops: removes containers and datasets. */
  removeLeftovers: () => Promise<void>,
): Promise<BenchStack> {
  await assertBuilt();
  progress('starting the Temporal dev server');
  // `agents`: the namespace of the fronts phase's Nexus caller.
  const server = await startDevServer({
    dbFile: join(opts.tmp, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    extraNamespaces: ['agents'],
  });
  cleanup.add('stop the Temporal dev server', () => server.stop());
  cleanup.add('remove containers and datasets', removeLeftovers);
  const hostId = `bench-${opts.tag}`;
  const fleetId = `bench-${opts.tag}`;
  const fleetTaskQueue = `sbx-control-bench-fleet-${opts.tag}`;
  const zfsRoot = `${opts.pool}/bench-${opts.tag}`;
  const dataRoot = join(opts.tmp, 'host');
  await mkdir(dataRoot, { recursive: true });
  progress(`starting 'sbx host' ${hostId} (ZFS ${zfsRoot}, gVisor; imports busybox)`);
  const host = await startChildWorker(
    'sbx host',
    [
      'host',
      '--host-id',
      hostId,
      '--temporal-address',
      server.address,
      '--zfs-root',
      zfsRoot,
      '--data-root',
      dataRoot,
      '--ensure-busybox',
      '--max-sessions',
      String(opts.maxSessions),
      '--shutdown-grace-ms',
      '2000',
      '--fleet',
      fleetId,
      '--control-task-queue',
      fleetTaskQueue,
      '--heartbeat-ms',
      '2000',
    ],
    /host worker ready/,
    cleanup,
  );
  const taskQueue = `sbx-control-bench-${opts.tag}`;
  progress("starting 'sbx control'");
  const control = await startChildWorker(
    'sbx control',
    ['control', '--temporal-address', server.address, '--default-host', hostId, '--task-queue', taskQueue],
    /control worker ready/,
    cleanup,
  );
  const client = await SandboxClient.connect({ address: server.address, taskQueue });
  cleanup.add('close the client', () => client.close());
  return {
    server,
    host,
    control,
    client,
    hostId,
    taskQueue,
    fleetId,
    fleetTaskQueue,
    zfsRoot,
    dataRoot,
    runscRoot: join(dataRoot, 'runsc'),
  };
}

/** The workers run from dist/: a build older than the source would measure other code. */
async function assertBuilt(): Promise<void> {
  const stamp = await stat(join(repoRoot, 'dist', '.build-stamp')).catch(() => undefined);
  const newest = async (dir: string): Promise<number> => {
    let latest = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      latest = Math.max(latest, entry.isDirectory() ? await newest(path) : (await stat(path)).mtimeMs);
    }
    return latest;
  };
  if (!stamp || stamp.mtimeMs < (await newest(join(repoRoot, 'src')))) {
    throw new Error('dist/ is older than src/: build first (npx tsc -p tsconfig.build.json && touch dist/.build-stamp)');
  }
}

export interface ChildWorker {
  name: string;
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/** `node dist/cli/main.js <args>` (or another script) as a child process; resolves once it logs `ready` (JSON logs). */
export async function startChildWorker(
  name: string,
  args: string[],
  ready: RegExp,
  cleanup: Cleanup,
  script: string[] = [join(repoRoot, 'dist', 'cli', 'main.js')],
): Promise<ChildWorker> {
  const child = spawn(process.execPath, [...script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SBX_LOG_FORMAT: 'json', SBX_LOG_LEVEL: 'info' },
  });
  let tail = '';
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  };
  cleanup.add(`stop child ${name} (pid ${child.pid})`, stop);
  const lines = createInterface({ input: child.stdout! });
  // SBX_BENCH_CHILD_LOGS=<dir> keeps each child's whole log there: why a workflow task failed under load.
  const logDir = process.env.SBX_BENCH_CHILD_LOGS;
  if (logDir) {
    const file = createWriteStream(join(logDir, `${name.replace(/\W+/g, '-')}-${child.pid}.log`));
    lines.on('line', (line) => file.write(line + '\n'));
  }
  child.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000)));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        tail = (tail + line + '\n').slice(-2000);
        if (ready.test(line)) resolve();
      });
      void exited.then(([code]) => reject(new Error(`${name} exited with code ${code}: ${tail.trim()}`)));
    }),
    120_000,
    `${name} start`,
  );
  return { name, child, pid: child.pid!, stop };
}
