import { atMost, type Context, type Target } from '../lib/context.js';
import { MiB } from '../lib/options.js';
import { progress } from '../lib/stack.js';
import { fmt } from '../lib/stats.js';
import { expect, poolFree } from '../lib/util.js';
import { FLOOR_ACTIVITY } from './floor.js';

/** snapshot, rollback, fork and destroy with 1 MB … 1 GB of data in the workspace. */
export async function sizes(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag, live } = ctx;
  const samples = Math.max(3, Math.min(opts.runs, 10));
  const snapshotP50 = new Map<string, number>();
  for (const size of opts.sizes) {
    const free = await poolFree(opts.pool);
    const need = size.bytes * 1.25 + 256 * MiB;
    if (free < need) {
      progress(`size ${size.label}: skipped, pool ${opts.pool} has ${(free / MiB).toFixed(0)} MiB free, needs ${(need / MiB).toFixed(0)}`);
      ctx.rows.push({
        section: `workspace ${size.label}`,
        metric: 'snapshot / rollback',
        note: `skipped: not enough pool space (${(free / MiB).toFixed(0)} MiB free, need ${(need / MiB).toFixed(0)} MiB)`,
      });
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
    // A fork is a clone of the turn snapshot: its time should not grow with the workspace.
    for (let j = 0; j < Math.min(samples, 5); j++) {
      progress(`size ${size.label}: fork sample ${j + 1}`);
      const fork = await rec.time(`fork ${size.label}`, () => session.fork({ newSessionId: `${sid}-f${j}`, turn: 1 }));
      live.add(fork.id);
      await fork.destroy();
      live.delete(fork.id);
    }
    await rec.time(`destroy ${size.label}`, () => session.destroy());
    live.delete(sid);
    const snap = rec.get(`snapshot ${size.label}`)!;
    snapshotP50.set(size.label, snap.p50);
    ctx.rows.push({
      section,
      metric: `turnComplete right after writing ${size.label}`,
      orch: rec.get(`snapshot after write ${size.label}`),
      note: 'one sample: the snapshot syncs the freshly written data',
    });
    ctx.rows.push({
      section,
      metric: `turnComplete, ${size.label} resident`,
      orch: snap,
      raw: rec.get(`raw snapshot ${size.label}`),
      note: 'raw: zfs snapshot of the same dataset',
    });
    ctx.rows.push({
      section,
      metric: `rollback, ${size.label} resident`,
      orch: rec.get(`rollback ${size.label}`),
      raw: rec.get('raw rollback'),
      note: 'raw column: the lifecycle raw rollback (small workspace)',
    });
    const fork = rec.get(`fork ${size.label}`);
    ctx.rows.push({
      section,
      metric: `fork, ${size.label} resident`,
      orch: fork,
      raw: rec.get('raw fork'),
      floor: rec.get(FLOOR_ACTIVITY),
      note: 'client fork() until the child is active (polls from 10 ms, doubling to 100); raw column: the lifecycle raw fork (zfs clone + create + start, small workspace)',
      target: fork && atMost('p50 ≤ 400 ms', fork.p50, 400),
    });
    ctx.rows.push({
      section,
      metric: `destroy with ${size.label}`,
      orch: rec.get(`destroy ${size.label}`),
      raw: rec.get('raw destroy'),
      note: 'one sample; raw column: lifecycle raw destroy (small workspace)',
    });
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
          detail:
            large <= 1.5 * small
              ? `met (${(large / small).toFixed(2)}×)`
              : `missed: ${(large / small).toFixed(2)}× (by ${fmt(large - 1.5 * small)} ms)`,
        }
      : { text: 'p50 ≤ 1.5× the 1MB p50', status: 'n/a', detail: 'not measured (1MB or 1GB size skipped or not requested)' };
  if (row) row.target = target;
  else ctx.rows.push({ section: 'workspace 1GB', metric: 'turnComplete, 1GB resident', target, note: 'not measured' });
}
