/**
 * `npm run bench`: latency, throughput and memory of sbx on this machine, each orchestrated operation
 * next to the raw command it wraps and to Temporal's own floor, timed in the same run. Starts its own
 * embedded stack (Temporal dev server; `sbx host` on ZFS + gVisor and `sbx control` as processes of
 * their own; busybox template) and removes everything it made at the end, on failure and on Ctrl-C.
 * Progress on stderr, the table on stdout, JSON in bench/results/<timestamp>.json. Each phase lives in
 * bench/phases/; this file parses the flags and runs them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { destroyRecursive, runZfs } from '../src/activities/host/zfs-cli.js';
import { SESSION_PROPERTIES } from '../src/activities/host/zfs-storage.js';
import { repoRoot, runscPath, temporalCliPath } from '../src/dev/paths.js';
import type { Context } from './lib/context.js';
import { parseOptions, type Phase } from './lib/options.js';
import { killAllContainers, RawSandboxes } from './lib/raw.js';
import { renderBreakdown, renderRows } from './lib/report.js';
import { Cleanup, progress, startStack } from './lib/stack.js';
import { fmt, Recorder, summarize } from './lib/stats.js';
import { assertZfsResponsive, cmdVersion, destroySessions, removeCgroups } from './lib/util.js';
import { concurrency } from './phases/concurrency.js';
import { floor } from './phases/floor.js';
import { fronts } from './phases/fronts.js';
import { EXECS_PER_RUN, lifecycle } from './phases/lifecycle.js';
import { memory } from './phases/memory.js';
import { sizes } from './phases/sizes.js';
import { warmClaim } from './phases/warm.js';

const PHASE_RUNNERS: Record<Phase, (ctx: Context) => Promise<void>> = {
  floor,
  lifecycle,
  warm: warmClaim,
  sizes,
  concurrency,
  memory,
  fronts,
};

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
      runsc: (await cmdVersion(runscPath(), ['--version'])).replace(/^runsc version /, ''),
      zfsFuse: (await cmdVersion('dpkg-query', ['-W', 'zfs-fuse'])).replace(/^zfs-fuse\s+/, ''),
      temporal: (await cmdVersion(temporalCliPath(), ['--version'])).replace(/^temporal version /, ''),
    };
    progress(
      `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB; runsc ${versions.runsc}; zfs-fuse ${versions.zfsFuse}; temporal ${versions.temporal}`,
    );
    progress(`options: runs ${opts.runs}, warmup ${opts.warmup}, phases ${[...opts.only].join(',')}; working in ${zfsRoot} and ${tmp}`);

    const stack = await startStack(
      { tmp, tag, pool: opts.pool, maxSessions: Math.max(250, ...opts.concurrency.map((c) => 2 * c + 20)) },
      cleanup,
      async () => {
        // Runs after the workers stopped and before the server stops: nothing may hold files in a dataset when it goes.
        for (const root of [join(tmp, 'host', 'runsc'), rawRunscRoot, join(tmp, 'mem', 'runsc')]) {
          const killed = await killAllContainers(root);
          if (killed) progress(`cleanup: killed ${killed} container(s) under ${root}`);
        }
        await destroyRecursive(zfsRoot);
        datasetsGone = true;
        await removeCgroups(rawCgroup, () => true);
        await removeCgroups('/sbx', (name) => name.startsWith(`b${tag}-`));
      },
    );
    const live = new Set<string>();
    cleanup.add('destroy the remaining sessions', () => (interrupted ? Promise.resolve() : destroySessions(stack.client, live)));

    const templateSnapshot = (
      await runZfs('zfs', ['list', '-H', '-t', 'snapshot', '-o', 'name', '-r', `${zfsRoot}/templates/busybox`])
    ).stdout
      .split('\n')
      .filter(Boolean)
      .at(-1)!;
    // With the sessions' dataset properties (atime=off among them): raw differs from sbx by orchestration alone.
    await runZfs('zfs', ['create', ...SESSION_PROPERTIES.flatMap((property) => ['-o', property]), `${zfsRoot}/raw`]);
    await mkdir(rawRunscRoot, { recursive: true });
    const raw = new RawSandboxes(rawRunscRoot, `${zfsRoot}/raw`, templateSnapshot, rawCgroup, tmp);

    const ctx: Context = {
      opts,
      tag,
      tmp,
      stack,
      raw,
      rec: new Recorder(),
      rows: [],
      notes: [],
      live,
      breakdown: new Recorder(),
      cleanup,
      interrupted: () => interrupted,
    };
    // In PHASES order: the floor first, so every later row can be compared with it.
    for (const name of opts.only) {
      if (interrupted) break;
      await assertZfsResponsive(zfsRoot);
      const start = performance.now();
      progress(`phase ${name}`);
      try {
        await PHASE_RUNNERS[name](ctx);
      } catch (err) {
        if (interrupted) break;
        const message = `phase ${name} failed: ${(err as Error).stack ?? String(err)}`;
        progress(message);
        phaseErrors.push(message);
        ctx.rows.push({
          section: name,
          metric: `phase ${name}`,
          note: `FAILED: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)}`,
        });
      }
      progress(`phase ${name} took ${((performance.now() - start) / 1000).toFixed(0)} s`);
    }
    if (interrupted) return 130;

    const finishedAt = new Date();
    const header = [
      `# sbx bench — ${startedAt.toISOString()}`,
      '',
      `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}`,
      `versions: runsc ${versions.runsc}; zfs-fuse ${versions.zfsFuse}; Temporal CLI ${versions.temporal}`,
      `runs: ${opts.runs} measured after ${opts.warmup} warmup (discarded); exec ${EXECS_PER_RUN}× per run; times in ms unless stated; ` +
        `"raw" = the bare zfs/runsc commands, timed in the same run; "floor" = an update running a no-op activity on another process's queue (phase floor); ` +
        `+ms over raw = p50 − raw p50; +ms over floor = p50 − raw p50 − floor p50 (what sbx adds beyond the command and Temporal's own round trip)`,
      `processes: client = this process; 'sbx host' and 'sbx control' (dist/) each a process of its own; the floor's workflow and activity workers likewise`,
      `duration: ${((finishedAt.getTime() - startedAt.getTime()) / 60_000).toFixed(1)} min`,
      '',
    ].join('\n');
    const breakdownText = ctx.breakdown.series.size
      ? `\n## Where the time goes (workflow histories of the measured lifecycle sessions; event timestamps have 1 ms resolution)\n\n${renderBreakdown(ctx.breakdown)}\n` +
        `\nHelper commands the activities run around the raw one: runsc state p50 ${fmt(ctx.rec.get('raw runsc state')?.p50)} ms, zfs get p50 ${fmt(ctx.rec.get('raw zfs get mountpoint')?.p50)} ms\n`
      : '';
    const table = `${header}${renderRows(ctx.rows)}\n${breakdownText}`;
    process.stdout.write(table);

    const resultsDir = join(repoRoot, 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    // The table of the last run, committed so the README's headline rows have their source.
    await writeFile(join(resultsDir, 'latest.md'), table);
    const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    const series = Object.fromEntries([...ctx.rec.series].map(([name, samples]) => [name, { summary: summarize(samples), samples }]));
    const breakdown = Object.fromEntries([...ctx.breakdown.series].map(([name, samples]) => [name, summarize(samples)]));
    await writeFile(
      file,
      JSON.stringify(
        {
          startedAt,
          finishedAt,
          machine,
          versions,
          options: { ...opts, only: [...opts.only] },
          rows: ctx.rows,
          series,
          breakdown,
          errors: phaseErrors,
        },
        null,
        2,
      ) + '\n',
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
