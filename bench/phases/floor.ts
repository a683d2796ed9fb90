import { join } from 'node:path';
import { repoRoot } from '../../src/dev/paths.js';
import { atMost, type Context, type Row, type Target } from '../lib/context.js';
import { historyBreakdown } from '../lib/history.js';
import { progress, startChildWorker } from '../lib/stack.js';
import { Recorder, type Summary } from '../lib/stats.js';
import { MiB } from '../lib/options.js';
import { activityUpdate, bareUpdate, bigUpdate, stopSignal } from '../floor/workflow.js';
import { sideBySide } from './side-by-side.js';

export const FLOOR_BARE = 'floor: bare update';
/** The floor every sbx row is compared with: update → no-op activity on another process's queue → result. */
export const FLOOR_ACTIVITY = 'floor: update → no-op activity';
/** The floor under an exec that prints 1 MiB: the same round trip, its activity answering 1 MiB. */
export const FLOOR_MIB = 'floor: update → activity answering 1 MiB';
const SAMPLES_PER_RUN = 5;
/** Issue 13: the round trip every sbx update pays, on this machine. */
const FLOOR_TARGET_MS = 25;

function floorTarget(s: Summary | undefined): Target {
  const text = `p50 ≤ ${FLOOR_TARGET_MS} ms`;
  if (!s) return { text, status: 'n/a', detail: 'no samples' };
  return atMost(text, s.p50, FLOOR_TARGET_MS);
}

/**
 * Temporal's own cost on this machine, against the bench's server: a workflow worker process and an
 * activity worker process (as `sbx control` and `sbx host`), the client here. What sbx adds to an
 * operation is its time beyond the raw command plus this floor.
 */
export async function floor(ctx: Context): Promise<void> {
  const { opts, rec, stack, tag, cleanup } = ctx;
  const workflowQueue = `bench-floor-${tag}`;
  const activityQueue = `bench-floor-${tag}-activities`;
  const script = ['--import', 'tsx', join(repoRoot, 'bench', 'floor', 'worker.ts')];
  const common = ['--temporal-address', stack.server.address];
  const workflows = await startChildWorker(
    'floor workflows',
    ['--role', 'workflows', '--task-queue', workflowQueue, ...common],
    /floor worker ready/,
    cleanup,
    script,
  );
  const activities = await startChildWorker(
    'floor activities',
    ['--role', 'activities', '--task-queue', activityQueue, ...common],
    /floor worker ready/,
    cleanup,
    script,
  );
  let beside: Row[];
  try {
    const handle = await stack.client.temporal.workflow.start('FloorWorkflow', {
      taskQueue: workflowQueue,
      workflowId: `bench-floor-${tag}`,
      args: [activityQueue],
    });
    const total = opts.warmup + opts.runs;
    for (let i = 0; i < total; i++) {
      const discard = i < opts.warmup;
      progress(`floor run ${i + 1}/${total}${discard ? ' (warmup, discarded)' : ''}`);
      for (let k = 0; k < SAMPLES_PER_RUN; k++) {
        const n = i * SAMPLES_PER_RUN + k;
        await rec.time(FLOOR_BARE, () => handle.executeUpdate(bareUpdate, { args: [n] }), discard);
        await rec.time(FLOOR_ACTIVITY, () => handle.executeUpdate(activityUpdate, { args: [n] }), discard);
      }
    }
    beside = await sideBySide(ctx, handle);
    await handle.signal(stopSignal);
    await handle.result();
    // A workflow per sample, as the lifecycle's 1 MiB exec runs in a session of its own: 1 MiB answers
    // fill a history fast, and the others' breakdown reads whole histories.
    for (let i = 0; i < total; i++) {
      const big = await stack.client.temporal.workflow.start('FloorWorkflow', {
        taskQueue: workflowQueue,
        workflowId: `bench-floor-${tag}-mib-${i}`,
        args: [activityQueue],
      });
      await big.executeUpdate(bareUpdate, { args: [i] });
      await rec.time(FLOOR_MIB, () => big.executeUpdate(bigUpdate, { args: [MiB] }), i < opts.warmup);
      await big.signal(stopSignal);
      await big.result();
    }
    // Where the round trip goes: dispatch of the activity and of the workflow task after it, as the server saw them.
    const split = new Recorder();
    await historyBreakdown(stack.client.temporal, [handle.workflowId], split);
    for (const [metric] of split.series) {
      ctx.rows.push({
        section: 'floor',
        metric: `floor history: ${metric}`,
        orch: split.get(metric),
        note: 'event timestamps, 1 ms resolution',
      });
    }
  } finally {
    await workflows.stop();
    await activities.stop();
  }
  ctx.rows.push(
    {
      section: 'floor',
      metric: FLOOR_BARE,
      orch: rec.get(FLOOR_BARE),
      note: 'update answered in the workflow task; workflow worker in a process of its own',
    },
    {
      section: 'floor',
      metric: FLOOR_ACTIVITY,
      orch: rec.get(FLOOR_ACTIVITY),
      note: 'the shape of an sbx exec: the update runs one no-op activity on a queue another process serves',
      target: floorTarget(rec.get(FLOOR_ACTIVITY)),
    },
    {
      section: 'floor',
      metric: FLOOR_MIB,
      orch: rec.get(FLOOR_MIB),
      note: 'the floor under an exec printing 1 MiB: 1 MiB crosses the activity result and the update result',
    },
    ...beside,
  );
}
