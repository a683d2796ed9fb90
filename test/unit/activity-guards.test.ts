import { jest } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import { lifecycleActivities, toolActivities } from '../../src/activities/host/activity-guards.js';

/** A promise with its resolver, to hold an activity open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('host activity guards', () => {
  it('starts a retried lifecycle attempt only after the earlier one on the same sandbox has ended', async () => {
    const events: string[] = [];
    const first = gate();
    let calls = 0;
    const acts = lifecycleActivities({
      async createSandbox(input: { sandboxId: string }) {
        const n = ++calls;
        events.push(`start ${n} ${input.sandboxId}`);
        if (n === 1) await first.promise;
        events.push(`end ${n} ${input.sandboxId}`);
      },
    });
    const env = new MockActivityEnvironment();
    const stale = env.run(acts.createSandbox, { sandboxId: 'a' });
    await tick();
    const retry = env.run(acts.createSandbox, { sandboxId: 'a' });
    const other = env.run(acts.createSandbox, { sandboxId: 'b' });
    await other;
    expect(events).toEqual(['start 1 a', 'start 2 b', 'end 2 b']);
    first.open();
    await Promise.all([stale, retry]);
    expect(events).toEqual(['start 1 a', 'start 2 b', 'end 2 b', 'end 1 a', 'start 3 a', 'end 3 a']);
  });

  it('heartbeats while a lifecycle activity runs', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
    try {
      const done = gate();
      const acts = lifecycleActivities({ destroySandbox: async (_: { sandboxId: string }) => done.promise });
      const env = new MockActivityEnvironment();
      let beats = 0;
      env.on('heartbeat', () => beats++);
      const running = env.run(acts.destroySandbox, { sandboxId: 'a' });
      await jest.advanceTimersByTimeAsync(10_000);
      done.open();
      await running;
      expect(beats).toBeGreaterThanOrEqual(4);
    } finally {
      jest.useRealTimers();
    }
  });

  it('refuses a tool call beyond the per-sandbox maximum with Busy, counting each sandbox apart', async () => {
    const held = gate();
    const acts = toolActivities({ execCommand: async (_: { sandboxId: string }) => held.promise }, 2);
    const env = new MockActivityEnvironment();
    const running = [env.run(acts.execCommand, { sandboxId: 'a' }), env.run(acts.execCommand, { sandboxId: 'a' })];
    await expect(env.run(acts.execCommand, { sandboxId: 'a' })).rejects.toMatchObject({ type: 'Busy' });
    const other = env.run(acts.execCommand, { sandboxId: 'b' });
    held.open();
    await Promise.all([...running, other]);
    // Slots come back when calls end.
    await env.run(acts.execCommand, { sandboxId: 'a' });
  });
});
