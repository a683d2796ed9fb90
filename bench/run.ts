/**
 * `npm run bench`: latency, throughput and memory of sbx on this machine, each orchestrated operation
 * next to the raw command it wraps, timed in the same run. Starts its own embedded stack (Temporal dev
 * server, host worker on ZFS + gVisor, control worker, busybox template) and removes everything it
 * made at the end, on failure and on Ctrl-C. Progress on stderr, the table on stdout, JSON in
 * bench/results/<timestamp>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { execa } from 'execa';
import { destroyRecursive, runZfs } from '../src/activities/host/zfs-cli.js';
import { SandboxClient } from '../src/client/sandbox-client.js';
import type { Session } from '../src/client/session.js';
import { sessionWorkflowId, warmPoolWorkflowId } from '../src/common/names.js';
import { repoRoot, temporalCliPath } from '../src/dev/paths.js';
import { configureWarmPoolSignal, warmPoolStatusQuery, type SessionInfo, type WarmPoolStatus } from '../src/workflows/messages.js';
import { ControlConfig, startControlWorker } from '../src/workers/control.js';
import { frontsExec } from './lib/fronts.js';
import { historyBreakdown } from './lib/history.js';
import { killAllContainers, RawSandboxes } from './lib/raw.js';
import { Cleanup, progress, startChildWorker, startStack, withTimeout, type BenchStack } from './lib/stack.js';
import { fmt, Recorder, summarize, type Summary } from './lib/stats.js';

const MiB = 1024 * 1024;
const BIG_OUTPUT = "head -c 1048576 /dev/zero | tr '\\0' a";
const PHASES = ['lifecycle', 'warm', 'sizes', 'concurrency', 'memory', 'fronts'] as const;
type Phase = (typeof PHASES)[number];
/** exec samples per lifecycle run (exec is cheap; more samples make its p99 mean something). */
const EXECS_PER_RUN = 3;

interface Options {
  runs: number;
  warmup: number;
  sizes: Array<{ label: string; bytes: number }>;
  concurrency: number[];
  idle: number[];
  only: Set<Phase>;
  pool: string;
  quick: boolean;
}

interface Target {
  text: string;
  status: 'met' | 'missed' | 'n/a';
  detail: string;
}

interface Row {
  section: string;
  metric: string;
  orch?: Summary;
  raw?: Summary;
  /** A single number (throughput, RSS) instead of a latency distribution. */
  value?: { amount: number; unit: string };
  note?: string;
  target?: Target;
}

interface Context {
  opts: Options;
  tag: string;
  tmp: string;
  stack: BenchStack;
  raw: RawSandboxes;
  rec: Recorder;
  rows: Row[];
  notes: string[];
  live: Set<string>;
  breakdown: Recorder;
}

// ---------------------------------------------------------------------------------------------- options

function parseSize(text: string): { label: string; bytes: number } {
  const match = /^(\d+)\s*(K|M|G)i?B?$/i.exec(text.trim());
  if (!match) throw new Error(`size ${JSON.stringify(text)} is not like 1MB, 100MB or 1GB`);
  const unit = { K: 1024, M: MiB, G: 1024 * MiB }[match[2]!.toUpperCase() as 'K' | 'M' | 'G'];
  const bytes = Number(match[1]) * unit;
  if (bytes < MiB || bytes % MiB !== 0) throw new Error(`size ${text} must be a whole number of MiB, at least 1MB`);
  return { label: `${match[1]}${match[2]!.toUpperCase()}B`, bytes };
}

const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
const ints = (text: string, what: string) =>
  list(text).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: ${s} is not a whole number`);
    return n;
  });

function parseOptions(argv: string[]): Options {
  const cmd = new Command('bench')
    .description('sbx benchmark: orchestrated operations vs the raw zfs/runsc commands they wrap')
    .option('--runs <n>', 'measured runs per operation (default 12, which keeps a full run near 20 min on 2 cores; --quick 3)')
    .option('--warmup <n>', 'discarded runs before measuring (default 2; --quick 1)')
    .option('--sizes <list>', 'workspace sizes for snapshot/rollback (default 1MB,100MB,1GB; --quick 1MB,100MB)')
    .option('--concurrency <list>', 'concurrent clients for create throughput (default 1,4,16; --quick 1,4)')
    .option('--idle <list>', 'idle session counts for the memory phase (default 0,50,200; --quick 0,5)')
    .option('--only <names>', `run only these phases: ${PHASES.join(', ')}`)
    .option('--pool <name>', 'ZFS pool (the bench works in <pool>/bench-<random> only)', 'sbx')
    .option('--quick', 'small counts for a smoke run', false)
    .showHelpAfterError();
  cmd.parse(argv);
  const o = cmd.opts<{ runs?: string; warmup?: string; sizes?: string; concurrency?: string; idle?: string; only?: string; pool: string; quick: boolean }>();
  const q = o.quick;
  const only = new Set<Phase>();
  for (const name of o.only ? list(o.only) : PHASES) {
    if (!(PHASES as readonly string[]).includes(name)) throw new Error(`--only: unknown phase ${name}; phases are ${PHASES.join(', ')}`);
    only.add(name as Phase);
  }
  const runs = ints(o.runs ?? (q ? '3' : '12'), '--runs')[0]!;
  if (runs < 1) throw new Error('--runs must be at least 1');
  return {
    runs,
    warmup: ints(o.warmup ?? (q ? '1' : '2'), '--warmup')[0]!,
    sizes: list(o.sizes ?? (q ? '1MB,100MB' : '1MB,100MB,1GB')).map(parseSize),
    concurrency: ints(o.concurrency ?? (q ? '1,4' : '1,4,16'), '--concurrency').filter((c) => c > 0),
    idle: [...new Set(ints(o.idle ?? (q ? '0,5' : '0,50,200'), '--idle'))].sort((a, b) => a - b),
    only,
    pool: o.pool,
    quick: q,
  };
}

// ---------------------------------------------------------------------------------------------- helpers

async function waitState(session: Session, want: SessionInfo['state'], timeoutMs = 120_000): Promise<void> {
  // Session.pause/resume poll every 100 ms; 5 ms here so the number is the operation, not the poll.
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await session.info();
    if (info.state === want) return;
    if (info.state === 'failed' || info.state === 'destroyed') throw new Error(`session ${session.id} is ${info.state} (${info.failureReason ?? ''}), not ${want}`);
    if (performance.now() > deadline) throw new Error(`session ${session.id} is still ${info.state}, not ${want}`);
    await sleep(5);
  }
}

/** Fails fast when zfs-fuse stops answering, rather than letting every later step hang on it. */
async function assertZfsResponsive(dataset: string): Promise<void> {
  const result = await execa('zfs', ['list', '-H', '-o', 'name', dataset], { reject: false, timeout: 60_000 });
  if (result.timedOut || result.exitCode !== 0) {
    throw new Error(`zfs-fuse is not answering (zfs list ${dataset}: ${result.timedOut ? 'no answer in 60 s' : String(result.stderr).trim()}): stopping the bench`);
  }
}

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function poolFree(pool: string): Promise<number> {
  // zfs-fuse's zpool has no -p; the pool's root dataset reports what is still available, in bytes.
  const result = await runZfs('zfs', ['get', '-Hp', '-o', 'value', 'available', pool]);
  if (result.exitCode !== 0) throw new Error(`zfs get available ${pool}: ${result.stderr}`);
  return Number(result.stdout.trim());
}

async function memAvailable(): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8');
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
}

async function statusField(pid: number | 'self', field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
}

/** Proportional set size summed over every process whose command line names `needle` (the sandboxes of one runsc root). */
async function pssOf(needle: string): Promise<{ bytes: number; processes: number }> {
  let bytes = 0;
  let processes = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(needle)) continue;
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    const pss = /^Pss:\s+(\d+) kB/m.exec(rollup);
    if (pss) {
      bytes += Number(pss[1]) * 1024;
      processes++;
    }
  }
  return { bytes, processes };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function destroySessions(client: SandboxClient, live: Set<string>, concurrency = 8): Promise<void> {
  await pool([...live], concurrency, async (id) => {
    try {
      await withTimeout(client.session(id).destroy(), 120_000, `destroy ${id}`);
    } catch (err) {
      if (!/destroyed|not found/i.test((err as Error).message)) progress(`destroy ${id} failed: ${(err as Error).message}`);
    }
    live.delete(id);
  });
}

/** Empty cgroups left under `parent` (runsc leaves them after delete), then `parent` itself when it is ours alone. */
async function removeCgroups(parent: string, mine: (name: string) => boolean): Promise<void> {
  const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const dir of ['', ...controllers].map((c) => join('/sys/fs/cgroup', c, parent))) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && mine(e.name)) await rmdir(join(dir, e.name)).catch(() => undefined);
    if (parent !== '/sbx') await rmdir(dir).catch(() => undefined);
  }
}

const cmdVersion = async (file: string, args: string[]) => {
  const result = await execa(file, args, { reject: false });
  return result.exitCode === 0 ? String(result.stdout).trim().split('\n')[0]! : `unknown (${file} ${args.join(' ')} failed)`;
};

// ---------------------------------------------------------------------------------------------- phases

async function lifecycle(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag } = ctx;
  const total = opts.warmup + opts.runs;
  const workflowIds: string[] = [];
  for (let i = 0; i < total; i++) {
    const discard = i < opts.warmup;
    progress(`lifecycle run ${i + 1}/${total}${discard ? ' (warmup, discarded)' : ''}`);
    const sid = `b${tag}-l${i}`;
    const orchestrated = () => orchestratedLifecycle(ctx, sid, discard);
    const bare = () => rawLifecycle(ctx, `r${i}`, discard);
    // Alternate which goes first, so neither always runs on a warmer machine.
    if (i % 2 === 0) {
      await orchestrated();
      await bare();
    } else {
      await bare();
      await orchestrated();
    }
    if (!discard) workflowIds.push(sessionWorkflowId(sid));
  }
  progress('reading the workflow histories of the measured runs');
  await historyBreakdown(stack.client.temporal, workflowIds, ctx.breakdown);

  const pair = (metric: string, rawName: string | undefined, target?: 'update' | 'create', note?: string) => {
    const orch = rec.get(metric);
    const base = rawName ? rec.get(rawName) : undefined;
    const row: Row = { section: 'lifecycle', metric, orch, raw: base, note };
    if (target && orch && base) {
      const overhead = orch.p50 - base.p50;
      const limit = target === 'update' ? 15 : 40;
      row.target = {
        text: target === 'update' ? 'p50 ≤ raw + 15 ms' : 'p50 ≤ raw clone+start + 40 ms',
        status: overhead <= limit ? 'met' : 'missed',
        detail: overhead <= limit ? `met (+${fmt(overhead)} ms)` : `missed by ${fmt(overhead - limit)} ms`,
      };
    }
    ctx.rows.push(row);
  };
  pair('create', 'raw create', 'create', 'raw: zfs clone + config.json + runsc create + start');
  pair('first exec', 'raw first exec', 'update', 'exec `true` right after create');
  pair('exec true', 'raw exec true', 'update', `${EXECS_PER_RUN} per run; raw: runsc exec`);
  pair('exec 1 MiB', 'raw exec 1 MiB', 'update', 'prints 1 MiB; raw: runsc exec');
  pair('turnComplete', 'raw turnComplete', 'update', 'raw: zfs snapshot');
  pair('rollback', 'raw rollback', 'update', 'raw: runsc kill+delete, zfs rollback -r, runsc create+start');
  pair('fork', 'raw fork', undefined, 'client fork() polls the child every 100 ms; raw: zfs send|recv + create+start');
  pair('pause (freeze)', 'raw pause', undefined, 'signal + info poll (5 ms); raw: runsc pause');
  pair('resume (freeze)', 'raw resume', undefined, 'signal + info poll (5 ms); raw: runsc resume');
  pair('hibernate', 'raw hibernate', undefined, 'pause(hibernate); raw: runsc checkpoint');
  pair('restore', 'raw restore', undefined, 'resume() of a hibernated session; raw: runsc delete + restore');
  pair('destroy', 'raw destroy', undefined, 'raw: runsc kill+delete + zfs destroy');
}

async function orchestratedLifecycle(ctx: Context, sid: string, discard: boolean): Promise<void> {
  const { rec, stack, live } = ctx;
  const t = <T>(name: string, fn: () => Promise<T>) => rec.time(name, fn, discard);
  const { session } = await t('create', () => stack.client.createSession({ sessionId: sid, template: 'busybox' }));
  live.add(sid);
  expect((await t('first exec', () => session.exec({ toolCallId: 'first', command: 'true' }))).exitCode === 0, 'first exec exits 0');
  for (let k = 0; k < EXECS_PER_RUN; k++) {
    expect((await t('exec true', () => session.exec({ toolCallId: `true-${k}`, command: 'true' }))).exitCode === 0, 'exec true exits 0');
  }
  const big = await t('exec 1 MiB', () => session.exec({ toolCallId: 'big', command: BIG_OUTPUT }));
  expect(big.stdout.length === MiB && !big.truncated, `1 MiB of output (got ${big.stdout.length}, truncated ${big.truncated})`);
  await session.exec({ toolCallId: 'w1', command: 'echo one > /workspace/f' });
  await t('turnComplete', () => session.turnComplete());
  await session.exec({ toolCallId: 'w2', command: 'echo two > /workspace/f' });
  await t('rollback', () => session.rollback({ turn: 1 }));
  expect((await session.exec({ toolCallId: 'check-rollback', command: 'cat /workspace/f' })).stdout.trim() === 'one', 'rollback restores f');
  const fork = await t('fork', () => session.fork({ newSessionId: `${sid}-f`, turn: 1 }));
  live.add(fork.id);
  await fork.destroy();
  live.delete(fork.id);
  await t('pause (freeze)', async () => {
    await session.pause('freeze', { wait: false });
    await waitState(session, 'paused');
  });
  await t('resume (freeze)', async () => {
    await session.resume({ wait: false });
    await waitState(session, 'active');
  });
  await t('hibernate', async () => {
    await session.pause('hibernate', { wait: false });
    await waitState(session, 'paused');
  });
  await t('restore', async () => {
    await session.resume({ wait: false });
    await waitState(session, 'active');
  });
  expect((await session.exec({ toolCallId: 'check-restore', command: 'cat /workspace/f' })).stdout.trim() === 'one', 'f survives hibernate/restore');
  await t('destroy', () => session.destroy());
  live.delete(sid);
}

async function rawLifecycle(ctx: Context, name: string, discard: boolean): Promise<void> {
  const { rec, raw } = ctx;
  const t = <T>(metric: string, fn: () => Promise<T>) => rec.time(metric, fn, discard);
  await t('raw create', () => raw.create(name));
  await t('raw first exec', () => raw.exec(name, 'true'));
  for (let k = 0; k < EXECS_PER_RUN; k++) await t('raw exec true', () => raw.exec(name, 'true'));
  const big = await t('raw exec 1 MiB', () => raw.exec(name, BIG_OUTPUT));
  expect(big.length === MiB, `raw 1 MiB of output (got ${big.length})`);
  // The helper commands the activities add around the raw one (state checks, property reads).
  await t('raw runsc state', () => raw.runsc(['state', raw.cid(name)]));
  await t('raw zfs get mountpoint', () => raw.mountpoint(name));
  await raw.exec(name, 'echo one > /workspace/f');
  await t('raw turnComplete', () => raw.snapshot(name, 't1'));
  await raw.exec(name, 'echo two > /workspace/f');
  await t('raw rollback', () => raw.rollback(name, 't1'));
  expect((await raw.exec(name, 'cat /workspace/f')).trim() === 'one', 'raw rollback restores f');
  await t('raw fork', () => raw.fork(name, 't1', `${name}-f`));
  await raw.destroy(`${name}-f`);
  await raw.removeCgroup(`${name}-f`);
  await t('raw pause', () => raw.pause(name));
  await t('raw resume', () => raw.resume(name));
  const image = await raw.imagePath(name);
  await t('raw hibernate', () => raw.checkpoint(name, image));
  await t('raw restore', () => raw.restore(name, image));
  expect((await raw.exec(name, 'cat /workspace/f')).trim() === 'one', 'raw f survives checkpoint/restore');
  await t('raw destroy', () => raw.destroy(name));
  await raw.removeCgroup(name);
}

/**
 * Warm claim against cold create, both through a fleet: a second control worker runs the fleet (the
 * bench host heartbeats to it) with a warm pool. Each run waits for a full pool, then creates one
 * session that claims a warm sandbox and one that asks for other resources, so it is created cold.
 */
async function warmClaim(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag, live } = ctx;
  const size = 2;
  progress(`starting a fleet control worker with a warm pool of ${size}`);
  const control = await startControlWorker(
    ControlConfig.parse({
      temporalAddress: stack.server.address,
      taskQueue: stack.fleetTaskQueue,
      fleet: {
        fleetId: stack.fleetId,
        provisioner: 'static',
        staticHosts: [stack.hostId],
        warmPools: [`busybox=${size}`],
        settings: { minHosts: 1, maxHosts: 1, warmSlots: 0, maxSessionsPerHost: 250 },
      },
    }),
    stack.logger,
  );
  const client = await SandboxClient.connect({ address: stack.server.address, taskQueue: stack.fleetTaskQueue });
  const pool = client.temporal.workflow.getHandle(warmPoolWorkflowId(stack.fleetId, 'busybox'));
  const poolUntil = async (what: string, check: (s: WarmPoolStatus) => boolean) => {
    const deadline = performance.now() + 180_000;
    for (;;) {
      const status = await pool.query(warmPoolStatusQuery);
      if (check(status)) return;
      if (performance.now() > deadline) throw new Error(`warm pool never ${what}: ${JSON.stringify(status)}`);
      await sleep(20);
    }
  };
  try {
    const total = opts.warmup + opts.runs;
    for (let i = 0; i < total; i++) {
      const discard = i < opts.warmup;
      progress(`warm run ${i + 1}/${total}${discard ? ' (warmup, discarded)' : ''}`);
      await poolUntil('filled', (s) => s.ready === size);
      const asked = Date.now();
      const warm = await rec.time('create (warm claim)', () => client.createSession({ sessionId: `b${tag}-w${i}`, template: 'busybox' }), discard);
      live.add(warm.session.id);
      expect(warm.info.warmClaim !== undefined && Date.parse(warm.info.warmClaim.readyAt) < asked, 'the warm create claimed a sandbox made before it');
      expect((await rec.time('first exec (warm)', () => warm.session.exec({ toolCallId: 'first', command: 'true' }), discard)).exitCode === 0, 'exec in a claimed sandbox');
      const cold = await rec.time(
        'create (cold, fleet)',
        () => client.createSession({ sessionId: `b${tag}-c${i}`, template: 'busybox', resources: { memoryMb: 256 } }),
        discard,
      );
      live.add(cold.session.id);
      expect(cold.info.warmClaim === undefined, 'a create with other resources is cold');
      for (const { session } of [warm, cold]) {
        await session.destroy();
        live.delete(session.id);
      }
    }
    await pool.signal(configureWarmPoolSignal, { fleetId: stack.fleetId, template: 'busybox', size: 0 });
    await poolUntil('emptied', (s) => s.sandboxes.length === 0);
  } finally {
    await client.close();
    await control.shutdown();
  }
  const target = (s: Summary | undefined): Target =>
    s === undefined
      ? { text: 'p50 ≤ 30 ms, p99 ≤ 100 ms', status: 'n/a', detail: 'no samples' }
      : {
          text: 'p50 ≤ 30 ms, p99 ≤ 100 ms',
          status: s.p50 <= 30 && s.p99 <= 100 ? 'met' : 'missed',
          detail: s.p50 <= 30 && s.p99 <= 100 ? 'met' : `missed: p50 ${fmt(s.p50)}, p99 ${fmt(s.p99)}`,
        };
  ctx.rows.push(
    {
      section: 'warm',
      metric: 'create (warm claim)',
      orch: rec.get('create (warm claim)'),
      note: `client create until active, claiming from a pool of ${size}: one claim update from a local activity, in which the pool hands the sandbox to the session on its host (one host activity)`,
      target: target(rec.get('create (warm claim)')),
    },
    { section: 'warm', metric: 'first exec (warm)', orch: rec.get('first exec (warm)'), note: 'exec `true` in the claimed sandbox' },
    {
      section: 'warm',
      metric: 'create (cold, fleet)',
      orch: rec.get('create (cold, fleet)'),
      note: 'same fleet, other resources: fleet place + zfs clone + runsc create/start',
    },
  );
}

async function sizes(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag, live } = ctx;
  const samples = Math.max(3, Math.min(opts.runs, 10));
  const snapshotP50 = new Map<string, number>();
  for (const size of opts.sizes) {
    const free = await poolFree(opts.pool);
    const need = size.bytes * 1.25 + 256 * MiB;
    if (free < need) {
      progress(`size ${size.label}: skipped, pool ${opts.pool} has ${(free / MiB).toFixed(0)} MiB free, needs ${(need / MiB).toFixed(0)}`);
      ctx.rows.push({ section: `workspace ${size.label}`, metric: 'snapshot / rollback', note: `skipped: not enough pool space (${(free / MiB).toFixed(0)} MiB free, need ${(need / MiB).toFixed(0)} MiB)` });
      continue;
    }
    const sid = `b${tag}-s${size.label.toLowerCase()}`;
    progress(`size ${size.label}: creating session ${sid}`);
    const { session } = await stack.client.createSession({ sessionId: sid, template: 'busybox' });
    live.add(sid);
    const dataset = `${stack.zfsRoot}/sessions/${sid}`;
    progress(`size ${size.label}: writing ${size.label} of random data inside the sandbox (dd through gVisor and zfs-fuse)`);
    const count = size.bytes / MiB;
    const writeStart = performance.now();
    const written = await session.exec({
      toolCallId: 'write',
      command: `dd if=/dev/urandom of=/workspace/data.bin bs=1048576 count=${count} 2>&1 && ls -l /workspace/data.bin`,
      timeoutMs: 20 * 60_000,
    });
    const writeMs = performance.now() - writeStart;
    expect(written.exitCode === 0, `dd of ${size.label} succeeded: ${written.stdout.slice(-300)}`);
    rec.add(`write ${size.label}`, writeMs);
    const section = `workspace ${size.label}`;
    ctx.rows.push({
      section,
      metric: `write ${size.label} in sandbox (dd)`,
      value: { amount: size.bytes / MiB / (writeMs / 1000), unit: 'MiB/s' },
      note: `${(writeMs / 1000).toFixed(1)} s for ${size.label} (exec, dd if=/dev/urandom)`,
    });
    progress(`size ${size.label}: written in ${(writeMs / 1000).toFixed(1)} s; snapshot right after the write`);
    await rec.time(`snapshot after write ${size.label}`, () => session.turnComplete());
    for (let j = 0; j < samples; j++) {
      progress(`size ${size.label}: snapshot/rollback sample ${j + 1}/${samples}`);
      await session.exec({ toolCallId: `touch-${j}`, command: `echo ${j} > /workspace/small` });
      await rec.time(`snapshot ${size.label}`, () => session.turnComplete());
      // The bare command on the very same dataset, then gone again (the workflow never sees it).
      await rec.time(`raw snapshot ${size.label}`, () => ctx.raw.zfs(['snapshot', `${dataset}@raw-${j}`]));
      await ctx.raw.zfs(['destroy', `${dataset}@raw-${j}`], true);
      await session.exec({ toolCallId: `change-${j}`, command: `echo changed > /workspace/small` });
      await rec.time(`rollback ${size.label}`, () => session.rollback({ turn: 1 }));
    }
    await rec.time(`destroy ${size.label}`, () => session.destroy());
    live.delete(sid);
    const snap = rec.get(`snapshot ${size.label}`)!;
    snapshotP50.set(size.label, snap.p50);
    ctx.rows.push({ section, metric: `turnComplete right after writing ${size.label}`, orch: rec.get(`snapshot after write ${size.label}`), note: 'one sample: the snapshot syncs the freshly written data' });
    ctx.rows.push({ section, metric: `turnComplete, ${size.label} resident`, orch: snap, raw: rec.get(`raw snapshot ${size.label}`), note: 'raw: zfs snapshot of the same dataset' });
    ctx.rows.push({ section, metric: `rollback, ${size.label} resident`, orch: rec.get(`rollback ${size.label}`), raw: rec.get('raw rollback'), note: 'raw column: the lifecycle raw rollback (small workspace)' });
    ctx.rows.push({ section, metric: `destroy with ${size.label}`, orch: rec.get(`destroy ${size.label}`), raw: rec.get('raw destroy'), note: 'one sample; raw column: lifecycle raw destroy (small workspace)' });
  }
  // Target: snapshot at 1 GB within 1.5× of 1 MB.
  const small = snapshotP50.get('1MB');
  const large = snapshotP50.get('1GB');
  const row = ctx.rows.find((r) => r.metric === 'turnComplete, 1GB resident');
  const target: Target =
    small !== undefined && large !== undefined
      ? {
          text: 'p50 ≤ 1.5× the 1MB p50',
          status: large <= 1.5 * small ? 'met' : 'missed',
          detail: large <= 1.5 * small ? `met (${(large / small).toFixed(2)}×)` : `missed: ${(large / small).toFixed(2)}× (by ${fmt(large - 1.5 * small)} ms)`,
        }
      : { text: 'p50 ≤ 1.5× the 1MB p50', status: 'n/a', detail: 'not measured (1MB or 1GB size skipped or not requested)' };
  if (row) row.target = target;
  else ctx.rows.push({ section: 'workspace 1GB', metric: 'turnComplete, 1GB resident', target, note: 'not measured' });
}

async function concurrency(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag, live } = ctx;
  for (const c of opts.concurrency) {
    const total = Math.max(opts.runs, 2 * c);
    progress(`concurrency ${c}: creating ${total} sessions with ${c} concurrent clients`);
    const ids = Array.from({ length: total }, (_, k) => `b${tag}-c${c}-${k}`);
    const errors: string[] = [];
    const start = performance.now();
    await pool(ids, c, async (sid) => {
      try {
        await rec.time(`create @${c}`, () => stack.client.createSession({ sessionId: sid, template: 'busybox' }));
        live.add(sid);
      } catch (err) {
        live.add(sid);
        errors.push((err as Error).message.replace(/\s+/g, ' '));
      }
    });
    const wallMs = performance.now() - start;
    const ok = total - errors.length;
    const created = rec.get(`create @${c}`);
    ctx.rows.push({
      section: 'create under load',
      metric: `create, ${c} concurrent client${c === 1 ? '' : 's'}`,
      orch: created,
      raw: rec.get('raw create'),
      note: `${ok}/${total} created${errors.length ? `; ${errors.length} failed: ${errors[0]!.slice(0, 120)}` : ''}; raw column: lifecycle raw create (sequential)`,
    });
    ctx.rows.push({
      section: 'create under load',
      metric: `throughput, ${c} concurrent`,
      value: { amount: ok / (wallMs / 1000), unit: 'sessions/s' },
      note: `${ok} sessions in ${(wallMs / 1000).toFixed(1)} s`,
    });
    progress(`concurrency ${c}: ${ok} sessions in ${(wallMs / 1000).toFixed(1)} s; destroying them`);
    const destroyStart = performance.now();
    await destroySessions(stack.client, new Set(ids.filter((id) => live.has(id))), c);
    for (const id of ids) live.delete(id);
    progress(`concurrency ${c}: destroyed in ${((performance.now() - destroyStart) / 1000).toFixed(1)} s`);
  }
}

async function memory(ctx: Context, cleanup: Cleanup): Promise<void> {
  const { opts, stack, tag, tmp } = ctx;
  const maxIdle = Math.max(0, ...opts.idle);
  const hostId = `bench-${tag}-mem`;
  const taskQueue = `sbx-control-bench-${tag}-mem`;
  const dataRoot = join(tmp, 'mem');
  const runscRoot = join(dataRoot, 'runsc');
  await mkdir(dataRoot, { recursive: true });
  progress(`memory: starting 'sbx host' and 'sbx control' as child processes (node dist/cli/main.js)`);
  const host = await startChildWorker(
    'sbx host',
    [
      'host',
      '--host-id', hostId,
      '--temporal-address', stack.server.address,
      '--zfs-root', `${stack.zfsRoot}/mem`,
      '--data-root', dataRoot,
      '--ensure-busybox',
      '--max-sessions', String(Math.max(50, maxIdle + 10)),
      '--shutdown-grace-ms', '2000',
    ],
    /host worker ready/,
    cleanup,
  );
  const control = await startChildWorker(
    'sbx control',
    ['control', '--temporal-address', stack.server.address, '--default-host', hostId, '--task-queue', taskQueue],
    /control worker ready/,
    cleanup,
  );
  const client = await SandboxClient.connect({ address: stack.server.address, taskQueue });
  const live = new Set<string>();
  cleanup.add('close the memory-phase client', () => client.close());
  cleanup.add('destroy the memory-phase sessions', () => (interrupted ? Promise.resolve() : destroySessions(client, live)));

  let created = 0;
  let stoppedAt: string | undefined;
  const MIN_AVAILABLE = 2 * 1024 * MiB;
  for (const level of opts.idle) {
    if (created < level && !stoppedAt) progress(`memory: creating sessions up to ${level} idle`);
    const batch: number[] = [];
    for (let k = created; k < level; k++) batch.push(k);
    await pool(batch, 4, async (k) => {
      if (stoppedAt) return;
      if ((await memAvailable()) < MIN_AVAILABLE) {
        stoppedAt ??= `stopped at ${created} sessions: MemAvailable below 2 GiB`;
        return;
      }
      const sid = `b${tag}-m${k}`;
      live.add(sid);
      try {
        await client.createSession({ sessionId: sid, template: 'busybox' });
        created++;
        if (created % 25 === 0) progress(`memory: ${created} sessions`);
      } catch (err) {
        stoppedAt ??= `stopped at ${created} sessions: create failed: ${(err as Error).message.slice(0, 160)}`;
      }
    });
    progress(`memory: ${created} idle sessions${stoppedAt ? ` (${stoppedAt})` : ''}; settling 5 s`);
    await sleep(5000);
    const hostRss = await statusField(host.pid, 'VmRSS');
    const controlRss = await statusField(control.pid, 'VmRSS');
    const sandboxes = await pssOf(runscRoot);
    const selfRss = await statusField('self', 'VmRSS');
    const section = `memory, ${level} idle sessions`;
    const reached = created < level ? ` (only ${created} reached: ${stoppedAt})` : '';
    const mb = (b: number) => b / MiB;
    const hostTarget: Target | undefined =
      level === 0
        ? { text: '≤ 150 MB idle', status: mb(hostRss) <= 150 ? 'met' : 'missed', detail: mb(hostRss) <= 150 ? `met (${fmt(mb(hostRss))} MB)` : `missed by ${fmt(mb(hostRss) - 150)} MB` }
        : undefined;
    const controlTarget: Target | undefined =
      level === 200
        ? created >= 200
          ? { text: '≤ 300 MB at 200 sessions', status: mb(controlRss) <= 300 ? 'met' : 'missed', detail: mb(controlRss) <= 300 ? `met (${fmt(mb(controlRss))} MB)` : `missed by ${fmt(mb(controlRss) - 300)} MB` }
          : { text: '≤ 300 MB at 200 sessions', status: 'n/a', detail: `only ${created} sessions reached` }
        : undefined;
    ctx.rows.push({ section, metric: `sbx host RSS (child pid ${host.pid})`, value: { amount: mb(hostRss), unit: 'MB' }, note: `VmRSS${reached}`, target: hostTarget });
    ctx.rows.push({ section, metric: `sbx control RSS (child pid ${control.pid})`, value: { amount: mb(controlRss), unit: 'MB' }, note: `VmRSS${reached}`, target: controlTarget });
    ctx.rows.push({ section, metric: 'gVisor sandboxes, total PSS', value: { amount: mb(sandboxes.bytes), unit: 'MB' }, note: `${sandboxes.processes} runsc processes${created ? `, ${fmt(mb(sandboxes.bytes) / created)} MB per session` : ''}` });
    ctx.rows.push({ section, metric: 'bench process RSS', value: { amount: mb(selfRss), unit: 'MB' }, note: 'in-process dev-stack workers + client (not the measured pair)' });
  }
  progress(`memory: destroying ${live.size} sessions`);
  await destroySessions(client, live);
  await control.stop();
  await host.stop();
  await killAllContainers(runscRoot);
}

// ---------------------------------------------------------------------------------------------- report

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 || i >= cells.length - 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function renderRows(rows: Row[]): string {
  const header = ['metric', 'n', 'p50', 'p90', 'p99', 'raw p50', 'raw p90', 'raw p99', '×raw', '+ms p50', 'target', 'verdict', 'note'];
  const out: string[][] = [];
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      out.push([`**${section}**`, '', '', '', '', '', '', '', '', '', '', '', '']);
    }
    const o = r.orch;
    const b = r.raw;
    if (r.value) {
      out.push([r.metric, '1', `${fmt(r.value.amount)} ${r.value.unit}`, '', '', '', '', '', '', '', r.target?.text ?? '', r.target?.detail ?? '', r.note ?? '']);
      continue;
    }
    out.push([
      r.metric,
      o ? String(o.n) : '-',
      fmt(o?.p50),
      fmt(o?.p90),
      fmt(o?.p99),
      fmt(b?.p50),
      fmt(b?.p90),
      fmt(b?.p99),
      o && b ? `${(o.p50 / b.p50).toFixed(2)}` : '-',
      o && b ? fmt(o.p50 - b.p50) : '-',
      r.target?.text ?? '',
      r.target?.detail ?? '',
      (r.note ?? '').replace(/\s+/g, ' '),
    ]);
  }
  return table(header, out);
}

function renderBreakdown(rec: Recorder): string {
  const names = [...rec.series.keys()].sort();
  return table(
    ['step (ms)', 'n', 'p50', 'p90', 'p99', '', '', ''],
    names.map((name) => {
      const s = rec.get(name)!;
      return [name, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.p99), '', '', ''];
    }),
  );
}

// ---------------------------------------------------------------------------------------------- main

let interrupted = false;

async function main(): Promise<number> {
  const opts = parseOptions(process.argv);
  const startedAt = new Date();
  const tag = randomBytes(3).toString('hex');
  const tmp = await mkdtemp(join(tmpdir(), 'sbx-bench-'));
  const cleanup = new Cleanup();
  let datasetsGone = false;
  cleanup.add(`remove ${tmp}`, async () => {
    if (datasetsGone) await rm(tmp, { recursive: true, force: true });
    else progress(`leaving ${tmp}: its datasets were not all destroyed`);
  });
  const onSignal = (signal: string) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${signal}: cleaning up (again to force)`);
    void cleanup.run().then(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const zfsRoot = `${opts.pool}/bench-${tag}`;
  const rawRunscRoot = join(tmp, 'raw-runsc');
  const rawCgroup = `/sbx-bench-${tag}`;
  const phaseErrors: string[] = [];
  try {
    const machine = {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: +(totalmem() / 1024 ** 3).toFixed(1),
      kernel: release(),
      node: process.version,
    };
    const versions = {
      runsc: (await cmdVersion('runsc', ['--version'])).replace(/^runsc version /, ''),
      zfsFuse: (await cmdVersion('dpkg-query', ['-W', 'zfs-fuse'])).replace(/^zfs-fuse\s+/, ''),
      temporal: (await cmdVersion(temporalCliPath(), ['--version'])).replace(/^temporal version /, ''),
    };
    progress(`machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB; runsc ${versions.runsc}; zfs-fuse ${versions.zfsFuse}; temporal ${versions.temporal}`);
    progress(`options: runs ${opts.runs}, warmup ${opts.warmup}, phases ${[...opts.only].join(',')}; working in ${zfsRoot} and ${tmp}`);

    const stack = await startStack({ tmp, tag, pool: opts.pool, maxSessions: Math.max(250, ...opts.concurrency.map((c) => 2 * c + 20)) }, cleanup, async () => {
      // Runs after the workers stopped and before the server stops: nothing may hold files in a dataset when it goes.
      for (const root of [join(tmp, 'host', 'runsc'), rawRunscRoot, join(tmp, 'mem', 'runsc')]) {
        const killed = await killAllContainers(root);
        if (killed) progress(`cleanup: killed ${killed} container(s) under ${root}`);
      }
      await destroyRecursive(zfsRoot);
      datasetsGone = true;
      await removeCgroups(rawCgroup, () => true);
      await removeCgroups('/sbx', (name) => name.startsWith(`b${tag}-`));
    });
    const live = new Set<string>();
    cleanup.add('destroy the remaining sessions', () => (interrupted ? Promise.resolve() : destroySessions(stack.client, live)));

    const templateSnapshot = (await runZfs('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${zfsRoot}/templates/busybox`])).stdout.split('\n').filter(Boolean).at(-1)!;
    await runZfs('zfs', ['create', `${zfsRoot}/raw`]);
    await mkdir(rawRunscRoot, { recursive: true });
    const raw = new RawSandboxes(rawRunscRoot, `${zfsRoot}/raw`, templateSnapshot, rawCgroup, tmp);

    const ctx: Context = { opts, tag, tmp, stack, raw, rec: new Recorder(), rows: [], notes: [], live, breakdown: new Recorder() };
    const phase = async (name: Phase, fn: () => Promise<void> | void) => {
      if (!opts.only.has(name) || interrupted) return;
      await assertZfsResponsive(zfsRoot);
      const start = performance.now();
      progress(`phase ${name}`);
      try {
        await fn();
      } catch (err) {
        if (interrupted) return;
        const message = `phase ${name} failed: ${(err as Error).stack ?? String(err)}`;
        progress(message);
        phaseErrors.push(message);
        ctx.rows.push({ section: name, metric: `phase ${name}`, note: `FAILED: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)}` });
      }
      progress(`phase ${name} took ${((performance.now() - start) / 1000).toFixed(0)} s`);
    };
    await phase('lifecycle', () => lifecycle(ctx));
    await phase('warm', () => warmClaim(ctx));
    await phase('sizes', () => sizes(ctx));
    await phase('concurrency', () => concurrency(ctx));
    await phase('memory', () => memory(ctx, cleanup));
    await phase('fronts', async () => {
      await frontsExec(ctx.stack, ctx.rec, { tag, rounds: opts.runs, perRound: EXECS_PER_RUN, warmupRounds: opts.warmup });
      for (const metric of ['exec via SandboxClient', 'exec via MCP', 'exec via Nexus']) {
        ctx.rows.push({ section: 'fronts', metric, orch: ctx.rec.get(metric), note: 'exec `true` on one session; Nexus timed in the caller workflow (namespace agents)' });
      }
    });
    if (interrupted) return 130;

    const finishedAt = new Date();
    const header = [
      `# sbx bench — ${startedAt.toISOString()}`,
      '',
      `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}`,
      `versions: runsc ${versions.runsc}; zfs-fuse ${versions.zfsFuse}; Temporal CLI ${versions.temporal}`,
      `runs: ${opts.runs} measured after ${opts.warmup} warmup (discarded); exec ${EXECS_PER_RUN}× per run; times in ms unless stated; ` +
        `"raw" = the bare zfs/runsc commands, timed in the same run; ×raw and +ms compare p50s`,
      `workers: latency phases use an in-process host + control worker; the memory phase runs 'sbx host' and 'sbx control' as child processes`,
      `duration: ${((finishedAt.getTime() - startedAt.getTime()) / 60_000).toFixed(1)} min`,
      '',
    ].join('\n');
    const breakdownText = ctx.breakdown.series.size
      ? `\n## Where the time goes (workflow histories of the measured lifecycle sessions; event timestamps have 1 ms resolution)\n\n${renderBreakdown(ctx.breakdown)}\n` +
        `\nHelper commands the activities run around the raw one: runsc state p50 ${fmt(ctx.rec.get('raw runsc state')?.p50)} ms, zfs get p50 ${fmt(ctx.rec.get('raw zfs get mountpoint')?.p50)} ms\n`
      : '';
    process.stdout.write(`${header}${renderRows(ctx.rows)}\n${breakdownText}`);

    const resultsDir = join(repoRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    const series = Object.fromEntries([...ctx.rec.series].map(([name, samples]) => [name, { summary: summarize(samples), samples }]));
    const breakdown = Object.fromEntries([...ctx.breakdown.series].map(([name, samples]) => [name, summarize(samples)]));
    await writeFile(
      file,
      JSON.stringify({ startedAt, finishedAt, machine, versions, options: { ...opts, only: [...opts.only] }, rows: ctx.rows, series, breakdown, errors: phaseErrors }, null, 2) + '\n',
    );
    progress(`results written to ${file}`);
    return phaseErrors.length ? 1 : 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    if (!interrupted) await cleanup.run();
  }
}

process.exit(await main());
