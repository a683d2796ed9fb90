import { startSbx, type SbxTestStack } from '../harness/sbx.js';

const MAX_SESSIONS = 3;

/** A host never holds more than its maximum of sessions, however many creates arrive at once. */
describe('a host at its maximum of sessions', () => {
  let sbx: SbxTestStack;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url, { maxSessions: MAX_SESSIONS });
  });

  afterAll(async () => {
    await sbx?.stop();
  });

  it('lets exactly its maximum of concurrent creates through and frees a slot on destroy', async () => {
    const ids = Array.from({ length: 8 }, (_, k) => `crowd-${k}`);
    const results = await Promise.allSettled(ids.map((sessionId) => sbx.client.createSession({ sessionId, template: 'busybox' })));
    const created = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { type?: string; message: string }] : []));
    expect(created).toHaveLength(MAX_SESSIONS);
    for (const refusal of refusals) {
      expect(refusal.type).toBe('CreateFailed');
      expect(refusal.message).toMatch(`maximum of ${MAX_SESSIONS} sessions`);
    }
    expect(await sbx.host.storage.listSandboxes()).toHaveLength(MAX_SESSIONS);

    // A destroyed session's slot goes to the next create, and only one.
    await created[0]!.session.destroy();
    const next = await Promise.allSettled(
      ['after-0', 'after-1'].map((sessionId) => sbx.client.createSession({ sessionId, template: 'busybox' })),
    );
    expect(next.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await sbx.host.storage.listSandboxes()).toHaveLength(MAX_SESSIONS);

    for (const r of next) if (r.status === 'fulfilled') await r.value.session.destroy();
    for (const { session } of created.slice(1)) await session.destroy();
  });
});
