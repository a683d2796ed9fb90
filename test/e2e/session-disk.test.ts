import { SbxError } from '../../src/client/errors.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { sessionClosed } from '../harness/session-closed.js';

const MiB = 1024 * 1024;

/**
 * Every session has a quota within the host's maximum; one that writes until full hurts nobody else.
 * Writes stop at 100 MiB, so that without quotas this fails instead of filling the shared test pool.
 */
describe('session disk quotas', () => {
  let sbx: SbxTestStack;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url, { defaultQuotaBytes: 64 * MiB, maxQuotaBytes: 256 * MiB });
  });

  afterAll(async () => {
    await sbx?.stop();
  });

  it('refuses quotaBytes: 1 at once, with a sentence rather than an errno', async () => {
    const refused = await sbx.client.createSession({ sessionId: 'tiny-quota', quotaBytes: 1 }).catch((err) => err);
    expect(refused).toBeInstanceOf(SbxError);
    expect(refused).toMatchObject({
      type: 'InvalidArgument',
      message: expect.stringContaining('quotaBytes must be at least 16777216 (16 MiB)'),
    });
    expect(await sbx.host.storage.sandboxExists('tiny-quota')).toBe(false);
  });

  it("refuses a quota over the host's maximum before anything is made", async () => {
    const refused = await sbx.client.createSession({ sessionId: 'greedy', quotaBytes: 512 * MiB }).catch((err) => err);
    expect(refused).toMatchObject({
      type: 'InvalidArgument',
      message: expect.stringMatching(/quotaBytes 536870912 is more than host .* allows \(at most 268435456\)/),
    });
    expect(await sbx.host.storage.listSandboxes()).not.toContain('greedy');
  });

  it('gives a session that asks for none the host default', async () => {
    const { session, info } = await sbx.client.createSession({ sessionId: 'defaulted' });
    const out = await session.exec({
      toolCallId: 'fill',
      command: 'dd if=/dev/zero of=/workspace/big bs=1M count=100 2>/dev/null; wc -c < /workspace/big',
    });
    const size = Number(out.stdout.trim());
    expect(size).toBeGreaterThan(48 * MiB);
    expect(size).toBeLessThanOrEqual(64 * MiB);
    expect(info.state).toBe('active');
    await session.destroy();
  });

  it('a session writing until full gets ENOSPC; it still snapshots and is destroyed, and its neighbours work', async () => {
    const { session: filler } = await sbx.client.createSession({ sessionId: 'filler', quotaBytes: 32 * MiB });
    const { session: neighbour } = await sbx.client.createSession({ sessionId: 'neighbour' });

    const fill = await filler.exec({ toolCallId: 'fill', command: 'dd if=/dev/zero of=/workspace/big bs=1M count=100; echo "dd exit $?"' });
    expect(fill.stdout).toMatch(/dd exit [1-9]/);
    expect(fill.stderr).toMatch(/quota|No space/i);
    expect(await sbx.host.storage.usedBytes('filler')).toBeGreaterThan(30 * MiB);

    // The neighbour writes while the filler is full.
    const wrote = await neighbour.exec({
      toolCallId: 'write',
      command: 'dd if=/dev/zero of=/workspace/n bs=1M count=8 2>/dev/null && wc -c < /workspace/n',
    });
    expect(wrote).toMatchObject({ exitCode: 0, stdout: `${8 * MiB}\n` });

    const turn = await filler.turnComplete();
    expect(turn).toMatchObject({ turn: 1 });
    expect((await filler.destroy()).state).toBe('destroyed');
    await sessionClosed(sbx.client, 'filler');
    expect(await sbx.host.storage.sandboxExists('filler')).toBe(false);

    const { session: late } = await sbx.client.createSession({ sessionId: 'late' });
    expect(await late.exec({ toolCallId: 'w', command: 'echo hi > /workspace/f && cat /workspace/f' })).toMatchObject({
      exitCode: 0,
      stdout: 'hi\n',
    });
    await late.destroy();
    await neighbour.destroy();
  });
});
