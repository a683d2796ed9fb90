import { startSbx, type SbxTestStack } from '../harness/sbx.js';

/** The run's dev server suggests continue-as-new at 400 history events (see test/harness/setup-stack.ts). */
describe('a long session across continue-as-new', () => {
  let sbx: SbxTestStack;
  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  });
  afterAll(async () => {
    await sbx?.stop();
  });

  it('keeps its state and toolCallId dedupe over hundreds of execs', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'long-1' });
    const execs = 240;
    const batch = 4;
    for (let i = 0; i < execs; i += batch) {
      await Promise.all(
        Array.from({ length: batch }, (_, j) =>
          session.exec({ toolCallId: `append-${i + j}`, command: `echo ${i + j} >> /workspace/lines.txt` }),
        ),
      );
      if (i === 100) await session.turnComplete();
    }
    const info = await session.info();
    expect(info.runs).toBeGreaterThan(1);
    expect(info).toMatchObject({ state: 'active', turn: 1, toolCalls: execs });
    expect(info.snapshots.map((s) => s.name)).toEqual(['turn-000001']);

    // Ids from the first run and from the latest are both recognised: nothing runs again.
    for (const id of ['append-0', `append-${execs - 1}`]) {
      const again = await session.exec({ toolCallId: id, command: 'echo again >> /workspace/lines.txt' });
      expect(again.exitCode).toBe(0);
    }
    const count = await session.exec({ toolCallId: 'count', command: 'wc -l < /workspace/lines.txt' });
    expect(count.stdout.trim()).toBe(String(execs));
    expect((await session.info()).toolCalls).toBe(execs + 1);

    expect(await session.rollback({ turn: 1 })).toEqual({ snapshotId: 'turn-000001', turn: 1 });
    await session.destroy();
  });
});
