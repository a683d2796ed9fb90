import { startSbx, type SbxTestStack } from '../harness/sbx.js';

/** Operations sent to one session at the same moment run one after the other, never interleaved. */
describe('concurrent operations on one session', () => {
  let sbx: SbxTestStack;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  });

  afterAll(async () => {
    await sbx?.stop();
  });

  it('gives concurrent turns distinct numbers and runs concurrent rollbacks one at a time', async () => {
    const { session, info } = await sbx.client.createSession({ sessionId: 'together', template: 'busybox' });
    await session.exec({ toolCallId: 'one', command: 'echo 1 > /workspace/n' });
    const turns = await Promise.all([session.turnComplete(), session.turnComplete(), session.turnComplete()]);
    expect(turns.map((t) => t.turn).sort()).toEqual([1, 2, 3]);
    expect((await session.listSnapshots()).map((s) => s.name)).toEqual(['turn-000001', 'turn-000002', 'turn-000003']);

    await session.exec({ toolCallId: 'two', command: 'echo 2 > /workspace/n' });
    const rollbacks = await Promise.allSettled([session.rollback({ turn: 1 }), session.rollback({ turn: 1 })]);
    // The first rolls back; the second finds turn 1 still there and rolls back again, or is refused.
    expect(rollbacks[0]).toMatchObject({ status: 'fulfilled', value: { turn: 1 } });
    if (rollbacks[1].status === 'rejected') expect(rollbacks[1].reason).toMatchObject({ type: expect.any(String) });
    expect(await sbx.host.runtime.state(info.sandboxId)).toBe('running');
    expect((await session.exec({ toolCallId: 'after', command: 'cat /workspace/n' })).stdout).toBe('1\n');
    expect((await session.info()).turn).toBe(1);
    expect((await session.destroy()).state).toBe('destroyed');
  });
});
