import type { Context } from '../lib/context.js';
import { frontsExec } from '../lib/fronts.js';
import { EXECS_PER_RUN } from './lifecycle.js';

/** One exec through each front (SandboxClient, MCP, Nexus from a caller workflow), in the same run. */
export async function fronts(ctx: Context): Promise<void> {
  await frontsExec(ctx.stack, ctx.rec, { tag: ctx.tag, rounds: ctx.opts.runs, perRound: EXECS_PER_RUN, warmupRounds: ctx.opts.warmup });
  for (const metric of ['exec via SandboxClient', 'exec via MCP', 'exec via Nexus']) {
    ctx.rows.push({
      section: 'fronts',
      metric,
      orch: ctx.rec.get(metric),
      note: 'exec `true` on one session; Nexus timed in the caller workflow (namespace agents)',
    });
  }
}
