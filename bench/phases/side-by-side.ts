import type { WorkflowHandle } from '@temporalio/client';
import { atMost, type Context, type Row } from '../lib/context.js';
import { progress } from '../lib/stack.js';
import { fmt } from '../lib/stats.js';
import { expect, removed } from '../lib/util.js';
import { activityUpdate } from '../floor/workflow.js';

const FLOOR = 'side by side: floor';
const SAMPLES_PER_RUN = 5;
/** Issue 13: what sbx may add to an update beyond the raw command and Temporal's floor. */
const OVER_FLOOR_MS = 5;

/** The operations timed beside the floor: sbx's, and the raw command it wraps. */
const PAIRS = [
  { metric: 'exec true, beside the floor', raw: 'side by side: raw runsc exec', note: 'raw: runsc exec in a raw sandbox' },
  { metric: 'turnComplete, beside the floor', raw: 'side by side: raw zfs snapshot', note: 'raw: zfs snapshot of a raw sandbox' },
] as const;

/**
 * The floor, an sbx operation and its raw command, one after the other for every sample, so all
 * three see the same moment of a shared machine; apart, minutes apart, their drift is as large as
 * what sbx adds. Runs while the floor phase's workers are up, on its FloorWorkflow; returns its rows.
 */
export async function sideBySide(ctx: Context, floor: WorkflowHandle): Promise<Row[]> {
  const { opts, rec, stack, tag, raw, live } = ctx;
  const sid = `b${tag}-side`;
  const rawName = 'side';
  const { session } = await stack.client.createSession({ sessionId: sid, template: 'busybox' });
  live.add(sid);
  await raw.create(rawName);
  try {
    const total = opts.warmup + opts.runs;
    for (let i = 0; i < total; i++) {
      const discard = i < opts.warmup;
      progress(`side by side run ${i + 1}/${total}${discard ? ' (warmup, discarded)' : ''}`);
      for (let k = 0; k < SAMPLES_PER_RUN; k++) {
        const n = i * SAMPLES_PER_RUN + k;
        await rec.time(FLOOR, () => floor.executeUpdate(activityUpdate, { args: [n] }), discard);
        const ran = await rec.time(PAIRS[0].metric, () => session.exec({ toolCallId: `side-${n}`, command: 'true' }), discard);
        expect(ran.exitCode === 0, 'exec true beside the floor exits 0');
        await rec.time(PAIRS[0].raw, () => raw.exec(rawName, 'true'), discard);
        await rec.time(PAIRS[1].metric, () => session.turnComplete(), discard);
        await rec.time(PAIRS[1].raw, () => raw.snapshot(rawName, `t${n}`), discard);
      }
    }
  } finally {
    await session.destroy();
    live.delete(sid);
    await removed(stack.client, sid);
    await raw.destroy(rawName);
    await raw.removeCgroup(rawName);
  }
  const floorSummary = rec.get(FLOOR);
  const rows: Row[] = [];
  for (const { metric, raw: rawMetric, note } of PAIRS) {
    const row: Row = { section: 'side by side', metric, orch: rec.get(metric), raw: rec.get(rawMetric), floor: floorSummary, note };
    if (row.orch && row.raw && floorSummary) {
      const over = row.orch.p50 - row.raw.p50 - floorSummary.p50;
      row.target = atMost(`p50 ≤ raw + floor + ${OVER_FLOOR_MS} ms`, over, OVER_FLOOR_MS, { shown: `+${fmt(over)} ms` });
    }
    rows.push(row);
  }
  rows.push({
    section: 'side by side',
    metric: FLOOR,
    orch: floorSummary,
    note: `update → no-op activity, taken just before each pair (${SAMPLES_PER_RUN} per run)`,
  });
  return rows;
}
