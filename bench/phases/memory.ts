import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxClient } from '../../src/client/sandbox-client.js';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../../src/workers/control-config.js';
import { atMost, type Context, type Target } from '../lib/context.js';
import { MiB } from '../lib/options.js';
import { killAllContainers } from '../lib/raw.js';
import { progress, startChildWorker } from '../lib/stack.js';
import { fmt } from '../lib/stats.js';
import { destroySessions, memAvailable, pool, pssOf, statusField } from '../lib/util.js';
import { replayCost } from './replay.js';

/**
 * How long the sessions stay idle before the reading. The workers' V8 heaps keep the pages a burst of
 * creates freed until V8's memory reducer returns them, 15-30 s after the burst; an earlier reading
 * measures the burst (control: 336 MB at 5 s, 251 MB at 30 s, 200 sessions).
 */
const SETTLE_MS = 40_000;

/** RSS of 'sbx host' and 'sbx control' (child processes of their own) at 0, 50, 200 idle sessions. */
export async function memory(ctx: Context): Promise<void> {
  const { opts, stack, tag, tmp, cleanup } = ctx;
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
      '--host-id',
      hostId,
      '--temporal-address',
      stack.server.address,
      '--zfs-root',
      `${stack.zfsRoot}/mem`,
      '--data-root',
      dataRoot,
      '--ensure-busybox',
      '--max-sessions',
      String(Math.max(50, maxIdle + 10)),
      '--shutdown-grace-ms',
      '2000',
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
  cleanup.add('destroy the memory-phase sessions', () => (ctx.interrupted() ? Promise.resolve() : destroySessions(client, live)));

  let created = 0;
  const createdIds: string[] = [];
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
        createdIds.push(sid);
        if (created % 25 === 0) progress(`memory: ${created} sessions`);
      } catch (err) {
        stoppedAt ??= `stopped at ${created} sessions: create failed: ${(err as Error).message.slice(0, 160)}`;
      }
    });
    progress(`memory: ${created} idle sessions${stoppedAt ? ` (${stoppedAt})` : ''}; idle for ${SETTLE_MS / 1000} s`);
    await sleep(SETTLE_MS);
    const hostRss = await statusField(host.pid, 'VmRSS');
    const controlRss = await statusField(control.pid, 'VmRSS');
    const sandboxes = await pssOf(runscRoot);
    const selfRss = await statusField('self', 'VmRSS');
    const section = `memory, ${level} idle sessions`;
    const reached = created < level ? ` (only ${created} reached: ${stoppedAt})` : '';
    const mb = (b: number) => b / MiB;
    const hostTarget: Target | undefined = level === 0 ? atMost('≤ 150 MB idle', mb(hostRss), 150, { unit: 'MB' }) : undefined;
    const controlTarget: Target | undefined =
      level === 200
        ? created >= 200
          ? atMost('≤ 300 MB at 200 sessions', mb(controlRss), 300, { unit: 'MB' })
          : { text: '≤ 300 MB at 200 sessions', status: 'n/a', detail: `only ${created} sessions reached` }
        : undefined;
    ctx.rows.push({
      section,
      metric: `sbx host RSS (child pid ${host.pid})`,
      value: { amount: mb(hostRss), unit: 'MB' },
      note: `VmRSS after ${SETTLE_MS / 1000} s idle${reached}`,
      target: hostTarget,
    });
    ctx.rows.push({
      section,
      metric: `sbx control RSS (child pid ${control.pid})`,
      value: { amount: mb(controlRss), unit: 'MB' },
      note: `VmRSS after ${SETTLE_MS / 1000} s idle${reached}`,
      target: controlTarget,
    });
    ctx.rows.push({
      section,
      metric: 'gVisor sandboxes, total PSS',
      value: { amount: mb(sandboxes.bytes), unit: 'MB' },
      note: `${sandboxes.processes} runsc processes${created ? `, ${fmt(mb(sandboxes.bytes) / created)} MB per session` : ''}`,
    });
    ctx.rows.push({
      section,
      metric: 'bench process RSS',
      value: { amount: mb(selfRss), unit: 'MB' },
      note: 'the client and the raw commands (the workers are child processes)',
    });
  }
  const cacheSize = Number(process.env.SBX_MAX_CACHED_WORKFLOWS ?? DEFAULT_MAX_CACHED_WORKFLOWS);
  if (!ctx.interrupted()) await replayCost(ctx, client, createdIds, cacheSize);
  progress(`memory: destroying ${live.size} sessions`);
  await destroySessions(client, live);
  await control.stop();
  await host.stop();
  await killAllContainers(runscRoot);
}
