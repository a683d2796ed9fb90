import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { heartbeating } from '../control/heartbeating.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Activities = Record<string, (...args: any[]) => Promise<any>>;

/** The activities that change a sandbox's life: one attempt at a time per sandbox on this host. */
const LIFECYCLE = new Set([
  'createSandbox',
  'startSandbox',
  'stopSandbox',
  'destroySandbox',
  'snapshotSandbox',
  'rollbackSandbox',
  'destroySnapshots',
  'pauseSandbox',
  'resumeSandbox',
]);

const sandboxOf = (args: unknown[]): string | undefined => {
  const id = (args[0] as { sandboxId?: unknown } | undefined)?.sandboxId;
  return typeof id === 'string' ? id : undefined;
};

function mapActivities<A extends Activities>(activities: A, wrap: (name: string, fn: A[keyof A]) => A[keyof A]): A {
  return Object.fromEntries(Object.entries(activities).map(([name, fn]) => [name, wrap(name, fn as A[keyof A])])) as unknown as A;
}

/**
 * Activities for the lifecycle queue. Each heartbeats while it runs, so a retry after a lost worker
 * starts within the heartbeat timeout; and a retry that reaches this process while an earlier attempt
 * on the same sandbox still runs (its worker was cut off from the server, not dead) waits for that
 * attempt to end before it starts, so two attempts never copy, roll back or destroy at once.
 */
export function lifecycleActivities<A extends Activities>(activities: A): A {
  const running = new Map<string, Promise<unknown>>();
  return mapActivities(activities, (name, fn) => {
    if (!LIFECYCLE.has(name)) return ((...args: unknown[]) => heartbeating(() => fn(...args))) as A[keyof A];
    return (async (...args: unknown[]) => {
      const key = sandboxOf(args);
      if (key === undefined) return heartbeating(() => fn(...args));
      const before = running.get(key);
      const attempt = heartbeating(async () => {
        await before?.catch(() => undefined);
        return fn(...args);
      });
      running.set(key, attempt);
      try {
        return await attempt;
      } finally {
        if (running.get(key) === attempt) running.delete(key);
      }
    }) as A[keyof A];
  });
}

/**
 * Activities for the tools queue: each heartbeats, and one sandbox runs at most `perSandbox` of them
 * at once here, whatever its session asked for; more are refused with Busy before anything runs.
 */
export function toolActivities<A extends Activities>(activities: A, perSandbox: number): A {
  const counts = new Map<string, number>();
  return mapActivities(
    activities,
    (_name, fn) =>
      (async (...args: unknown[]) => {
        const key = sandboxOf(args);
        if (key === undefined) return heartbeating(() => fn(...args));
        const count = counts.get(key) ?? 0;
        if (count >= perSandbox) {
          throw sbxFailure(
            SbxErrorType.Busy,
            `sandbox ${key} already runs ${perSandbox} tool calls, this host's maximum per session; wait for one to finish`,
          );
        }
        counts.set(key, count + 1);
        try {
          return await heartbeating(() => fn(...args));
        } finally {
          const left = counts.get(key)! - 1;
          if (left === 0) counts.delete(key);
          else counts.set(key, left);
        }
      }) as A[keyof A],
  );
}
