import { describe, expect, test } from '@jest/globals';
import { destroyUpdate, infoQuery, type SessionInfo } from '../../../src/protocol/messages.js';
import { eventually } from '../harness/env.js';
import { env } from '../harness/current.js';
import { gate, heldBy } from '../harness/stubs.js';

describe('destroy', () => {
  test('answers once the sandbox is killed; the workflow closes only after the sandbox is removed', async () => {
    const removal = gate();
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({ destroySandbox: () => heldBy(removal) }));
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId });

    const answer = await handle.executeUpdate(destroyUpdate);
    expect(answer.state).toBe('destroyed');
    await eventually(
      async () => env.recorder.count('destroySandbox', sessionId),
      (n) => n === 1,
      'the removal to reach the host',
    );
    // The caller has its answer while the removal still runs, and the workflow waits for it.
    expect(env.recorder.timeline(sessionId)).not.toContain('destroySandbox:end');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect((await handle.query(infoQuery)).state).toBe('destroyed');

    removal.open();
    const final = (await handle.result()) as SessionInfo;
    expect(final.state).toBe('destroyed');
    expect(env.recorder.started(sessionId)).toEqual(['placeSession', 'createSandbox', 'stopSandbox', 'destroySandbox']);
  });

  test('a removal that keeps failing still closes the session as destroyed (the host reconcile removes the rest)', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId, () => ({
      destroySandbox: async () => {
        throw new Error('zfs: dataset is busy');
      },
    }));
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId });

    expect((await handle.executeUpdate(destroyUpdate)).state).toBe('destroyed');
    const final = (await handle.result()) as SessionInfo;
    expect(final.state).toBe('destroyed');
    expect(env.recorder.count('destroySandbox', sessionId)).toBeGreaterThan(1);
  });
});
