import { SandboxId, SessionId, WARM_PREFIX, turnSnapshotName } from '../../src/common/names.js';

describe('names', () => {
  it.each(['a', 'session-1', '0abc', 'x'.repeat(63)])('accepts %s', (id) => {
    expect(SessionId.safeParse(id).success).toBe(true);
  });

  it.each(['', 'a/b', '..', 'a@b', 'has space', 'x'.repeat(64), 'x'.repeat(200), '-lead', 'Upper'])('refuses %j', (id) => {
    expect(SessionId.safeParse(id).success).toBe(false);
  });

  it('names turn snapshots with six digits', () => {
    expect(turnSnapshotName(1)).toBe('turn-000001');
    expect(turnSnapshotName(123456)).toBe('turn-123456');
  });

  it.each(['warm-1', 'warm-', 'warm-abc-def'])('refuses the reserved warm-pool prefix in session id %j', (id) => {
    const result = SessionId.safeParse(id);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.message).join('\n')).toMatch(/reserved/);
  });

  it.each(['warm', 'warmup-1', 'x-warm-1'])('accepts session id %j that only resembles the prefix', (id) => {
    expect(SessionId.safeParse(id).success).toBe(true);
  });

  it('accepts warm-pool ids and session ids as sandbox ids', () => {
    expect(WARM_PREFIX).toBe('warm-');
    for (const id of ['warm-1', 'warm-abc-def', 'session-1', 'a']) expect(SandboxId.safeParse(id).success).toBe(true);
  });

  it.each(['', 'Warm-1', 'warm_1', 'a/b', '-lead', 'x'.repeat(64)])('refuses sandbox id %j', (id) => {
    expect(SandboxId.safeParse(id).success).toBe(false);
  });
});
