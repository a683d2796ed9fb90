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

  it('answers a resent call whose output was dropped at continue-as-new with outputExpired', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'long-2' });
    // Two 200 KB outputs: only the newer fits the 256 KB carried across continue-as-new.
    const big = (id: string) =>
      session.exec({ toolCallId: id, command: `head -c 200000 /dev/zero | tr '\\0' a; echo ${id} >> /workspace/big.txt` });
    expect((await big('big-old')).stdout).toHaveLength(200_000);
    expect((await big('big-new')).stdout).toHaveLength(200_000);
    const runs = (await session.info()).runs;
    for (let i = 0; (await session.info()).runs === runs; i++) {
      await session.exec({ toolCallId: `small-${i}`, command: 'true' });
    }

    const old = await session.exec({ toolCallId: 'big-old', command: 'echo again >> /workspace/big.txt' });
    expect(old).toMatchObject({ exitCode: 0, stdout: '', outputExpired: true });
    const newer = await session.exec({ toolCallId: 'big-new', command: 'echo again >> /workspace/big.txt' });
    expect(newer.stdout).toHaveLength(200_000);
    expect(newer.outputExpired).toBeUndefined();
    expect((await session.readFile('/workspace/big.txt')).content).toBe('big-old\nbig-new\n');
    await session.destroy();
  });
});
