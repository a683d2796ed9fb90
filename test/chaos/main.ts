import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ZFS_CLI, destroyRecursive, runZfs } from '../../src/activities/host/zfs-cli.js';
import { ProdCluster } from './prod-cluster.js';
import { runChaos } from './run.js';

/**
 * `npm run chaos -- --sessions 8 --steps 200 --seed 7`: the chaos run on its own server, hosts and
 * ZFS datasets. Prints the table; on a failure, the seed and the step list to replay it. Needs the
 * built CLI (`npm run build`) and the bootstrapped stack (zfs-fuse, runsc, Temporal CLI).
 * `--topology postgres` runs it on the production topology (scripts/prod-stack.sh) instead of a dev server.
 */
const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '8' },
    steps: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    pool: { type: 'string', default: process.env.SBX_POOL ?? 'sbx' },
    topology: { type: 'string', default: 'dev' },
  },
});
const seed = Number(values.seed);
const sessions = Number(values.sessions);
const steps = Number(values.steps);
if (
  ![seed, sessions, steps].every((n) => Number.isInteger(n) && n >= 0) ||
  sessions < 1 ||
  !['dev', 'postgres'].includes(values.topology)
) {
  console.error('usage: npm run chaos -- [--sessions N] [--steps N] [--seed N] [--pool NAME] [--topology dev|postgres]');
  process.exit(2);
}

// Hosts share the machine's pool and its lock on zfs changes with every other run on it.
process.env.SBX_ZFS_LOCK = DEFAULT_ZFS_CLI.lockPath;
process.env.SBX_RESERVE_MB ??= '16';
const dir = mkdtempSync(join(tmpdir(), 'sbx-chaos-'));
// PostgreSQL runs as the postgres user: the production topology's directory must be in its reach.
chmodSync(dir, 0o755);
const zfsRoot = `${values.pool}/chaos-${process.pid}-${Date.now().toString(36)}`;
const created = await runZfs('zfs', ['create', '-p', '-o', `mountpoint=${join(dir, 'zfs')}`, zfsRoot]);
if (created.exitCode !== 0) {
  console.error(`zfs create ${zfsRoot} failed: ${created.stderr.trim()} (run 'npm run bootstrap')`);
  process.exit(1);
}
console.log(
  `chaos: seed ${seed}, ${sessions} sessions x ${steps} steps on the ${values.topology} topology; scratch ${dir}, datasets ${zfsRoot}`,
);
const prod =
  values.topology === 'postgres'
    ? new ProdCluster(join(dir, 'prod'), { SBX_PROD_PREFIX: 'chaos', SBX_ZFS_PARENT: zfsRoot, SBX_HEARTBEAT_MS: '10000' })
    : undefined;
let passed = false;
try {
  if (prod) {
    console.log('  starting the production topology (PostgreSQL, Temporal server, 2 control and 2 host workers)');
    await prod.start();
  }
  const stepsFile = join(dir, 'steps.txt');
  console.log(`steps as they happen: ${stepsFile}`);
  const progress = (line: string) => console.log(`  ${line}`);
  const report = await runChaos({ seed, sessions, steps, dir, zfsRoot, stepsFile, progress, cluster: prod });
  passed = report.passed;
  console.log(report.summary(seed));
  if (!passed) {
    const failing = new Set([...report.divergences, ...report.lost].map((d) => d.sessionId));
    console.log(`\nreplay: npm run chaos -- --sessions ${sessions} --steps ${steps} --seed ${seed}`);
    console.log(`steps of the failing sessions, with every fault (all steps: ${stepsFile}):`);
    for (const line of report.steps) {
      if (/ FAULT | UP after /.test(line) || [...failing].some((id) => line.includes(` ${id} `))) console.log(line);
    }
  }
} finally {
  await prod?.stop().catch((err) => console.error(String(err)));
  await destroyRecursive(zfsRoot).catch((err) => console.error(`could not remove ${zfsRoot}: ${String(err)}`));
  if (passed) rmSync(dir, { recursive: true, force: true });
}
process.exit(passed ? 0 : 1);
