import { Context } from '@temporalio/activity';

/**
 * Heartbeats every 2 s while `fn` runs, so an attempt lost with its control worker is retried on
 * another within the activity's heartbeat timeout rather than at the end of its start-to-close
 * timeout. Only for idempotent work.
 */
export async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}
