import type { SandboxClient } from '../../src/client/sandbox-client.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import type { Context } from '../lib/context.js';
import { progress } from '../lib/stack.js';
import { Recorder } from '../lib/stats.js';
import { expect } from '../lib/util.js';

/** Calls that give one session a long history (about 10 events each), as a busy agent's session has. */
const LONG_HISTORY_EXECS = 300;
const ROUNDS = 3;

/**
 * What the control worker's workflow cache costs a caller: `exec true` on a session still cached, and on
 * one evicted (its next call replays its whole history), for a short history and a long one. Sessions are
 * evicted by calling `cacheSize + 5` other sessions first; with no eviction (a cache larger than the
 * sessions) the "evicted" rows measure cached sessions.
 */
export async function replayCost(ctx: Context, client: SandboxClient, sessionIds: string[], cacheSize: number): Promise<void> {
  const touches = cacheSize + 5;
  if (sessionIds.length < 1 + ROUNDS * touches) {
    ctx.notes.push(`replay cost: skipped, ${sessionIds.length} sessions cannot evict a cache of ${cacheSize} ${ROUNDS} times`);
    return;
  }
  const [longId, ...others] = sessionIds as [string, ...string[]];
  const rec = new Recorder();
  let call = 0;
  const exec = async (sessionId: string, series: string) => {
    const result = await rec.time(series, () => client.session(sessionId).exec({ toolCallId: `replay-${call++}`, command: 'true' }));
    expect(result.exitCode === 0, 'exec true exits 0');
  };
  progress(`replay cost: ${LONG_HISTORY_EXECS} execs on ${longId} for a long history`);
  for (let k = 0; k < LONG_HISTORY_EXECS; k++) await exec(longId, k < LONG_HISTORY_EXECS - 20 ? 'build' : 'cached, long history');
  const events = (await client.temporal.workflow.getHandle(sessionWorkflowId(longId)).describe()).historyLength;
  for (let round = 0; round < ROUNDS; round++) {
    progress(`replay cost: round ${round + 1}/${ROUNDS}, evicting ${longId} by calling ${touches} other sessions`);
    // The sessions called here were last active at their create, long ago: each is evicted too.
    for (const id of others.slice(round * touches, (round + 1) * touches)) await exec(id, 'evicted, short history');
    await exec(longId, 'evicted, long history');
    await exec(longId, 'cached, long history');
  }
  const section = `replay cost (cache of ${cacheSize} workflows)`;
  const rows: [string, string][] = [
    ['cached, long history', `the session just called, ${events} history events`],
    ['evicted, long history', `replays its ${events} history events first`],
    ['evicted, short history', 'a session idle since its create: replays its create'],
  ];
  for (const [series, note] of rows) ctx.rows.push({ section, metric: `exec true, ${series}`, orch: rec.get(series), note });
}
