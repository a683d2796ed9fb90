import { SessionId, turnSnapshotName } from '../../src/common/names.js';

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
});
