import { sessionWorkflowId } from '../../src/common/names.js';
import type { Context } from '../lib/context.js';
import { historyBreakdown } from '../lib/history.js';
import { progress } from '../lib/stack.js';
import { Recorder } from '../lib/stats.js';
import { destroySessions, pool } from '../lib/util.js';

/** Creates per second with 1, 4, 16 concurrent clients. */
export async function concurrency(ctx: Context): Promise<void> {
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
    // What waits when clients are added: each step's dispatch and run time at this level.
    const split = new Recorder();
    await historyBreakdown(stack.client.temporal, ids.filter((id) => live.has(id)).map(sessionWorkflowId), split);
    for (const [metric] of split.series) {
      ctx.rows.push({ section: 'create under load', metric: `@${c} history: ${metric}`, orch: split.get(metric) });
    }
    progress(`concurrency ${c}: ${ok} sessions in ${(wallMs / 1000).toFixed(1)} s; destroying them`);
    const destroyStart = performance.now();
    await destroySessions(stack.client, new Set(ids.filter((id) => live.has(id))), c);
    for (const id of ids) live.delete(id);
    progress(`concurrency ${c}: destroyed in ${((performance.now() - destroyStart) / 1000).toFixed(1)} s`);
  }
}
