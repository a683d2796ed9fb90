import { ApplicationFailure } from '@temporalio/common';
import type { SnapshotRecord } from '../../src/protocol/messages.js';
import {
  assertOperationAllowed,
  namedSnapshotLimit,
  resolveSnapshot,
  snapshotsAfterRollback,
  snapshotsToPrune,
  turnAfterRollback,
} from '../../src/workflows/session-rules.js';

const snap = (name: string, turn?: number): SnapshotRecord => ({
  name,
  turn,
  createdAt: '2026-01-01T00:00:00Z',
  usedBytes: 0,
  referencedBytes: 0,
});

function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('assertOperationAllowed', () => {
  it('lets an active session do everything but resume', () => {
    for (const op of ['exec', 'files', 'turnComplete', 'snapshot', 'rollback', 'fork', 'pause', 'destroy'] as const) {
      expect(() => assertOperationAllowed('active', op, 's1', false)).not.toThrow();
    }
    expect(failureOf(() => assertOperationAllowed('active', 'resume', 's1', false)).type).toBe('InvalidState');
  });

  it('refuses a tool call on a paused session with SessionPaused unless autoResume is set', () => {
    const failure = failureOf(() => assertOperationAllowed('paused', 'exec', 's1', false));
    expect(failure.type).toBe('SessionPaused');
    expect(failure.message).toMatch(/resume it first/);
    expect(failure.nonRetryable).toBe(true);
    expect(() => assertOperationAllowed('paused', 'exec', 's1', true)).not.toThrow();
  });

  it('refuses everything on a destroyed session, and a second destroy too', () => {
    expect(failureOf(() => assertOperationAllowed('destroyed', 'exec', 's1', true)).type).toBe('SessionDestroyed');
    expect(failureOf(() => assertOperationAllowed('destroyed', 'destroy', 's1', true)).type).toBe('SessionDestroyed');
  });

  it('allows only destroy on a failed session', () => {
    expect(failureOf(() => assertOperationAllowed('failed', 'exec', 's1', false)).message).toMatch(/only destroy/);
    expect(() => assertOperationAllowed('failed', 'destroy', 's1', false)).not.toThrow();
  });
});

describe('snapshot bookkeeping', () => {
  const snapshots = [snap('turn-000001', 1), snap('before-refactor'), snap('turn-000002', 2), snap('turn-000003', 3)];

  it('resolves turns and names, and refuses future turns and unknown names with clear reasons', () => {
    expect(resolveSnapshot(snapshots, { turn: 2 }, 3).name).toBe('turn-000002');
    expect(resolveSnapshot(snapshots, { snapshot: 'before-refactor' }, 3).name).toBe('before-refactor');
    const future = failureOf(() => resolveSnapshot(snapshots, { turn: 7 }, 3));
    expect(future.type).toBe('InvalidArgument');
    expect(future.message).toMatch(/turn 7 is in the future.*3 turn/);
    const unknown = failureOf(() => resolveSnapshot(snapshots, { snapshot: 'nope' }, 3));
    expect(unknown.type).toBe('SnapshotNotFound');
    expect(unknown.message).toMatch(/known: turn-000001, before-refactor/);
  });

  it('keeps the target and older snapshots after a rollback, and the turn follows the newest kept turn', () => {
    const kept = snapshotsAfterRollback(snapshots, 'turn-000001');
    expect(kept.map((s) => s.name)).toEqual(['turn-000001']);
    expect(turnAfterRollback(kept)).toBe(1);
    const toNamed = snapshotsAfterRollback(snapshots, 'before-refactor');
    expect(toNamed.map((s) => s.name)).toEqual(['turn-000001', 'before-refactor']);
    expect(turnAfterRollback(toNamed)).toBe(1);
  });

  it('prunes the oldest turn snapshots beyond the maximum, never named ones nor the newest turn', () => {
    expect(snapshotsToPrune(snapshots, 2)).toEqual(['turn-000001']);
    expect(snapshotsToPrune(snapshots, 1)).toEqual(['turn-000001', 'turn-000002']);
    expect(snapshotsToPrune(snapshots, 0)).toEqual(['turn-000001', 'turn-000002']);
    expect(snapshotsToPrune(snapshots, 5)).toEqual([]);
  });
});

describe('namedSnapshotLimit', () => {
  it('allows named snapshots up to the maximum, not counting turn snapshots', () => {
    expect(namedSnapshotLimit([snap('a'), snap('turn-000001', 1), snap('turn-000002', 2)], 2, 's1')).toBeUndefined();
  });

  it('refuses one more with InvalidState and says what to do', () => {
    const failure = namedSnapshotLimit([snap('a'), snap('b')], 2, 's1');
    expect(failure?.type).toBe('InvalidState');
    expect(failure?.message).toMatch(/already keeps 2 named snapshots.*roll back/);
  });

  it('gives a session made before the limit the default of 100', () => {
    const many = Array.from({ length: 100 }, (_, i) => snap(`n${i}`));
    expect(namedSnapshotLimit(many.slice(1), undefined, 's1')).toBeUndefined();
    expect(namedSnapshotLimit(many, undefined, 's1')?.type).toBe('InvalidState');
  });
});
