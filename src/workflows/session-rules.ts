import type { ApplicationFailure } from '@temporalio/common';
import { SbxErrorType, sbxFailure } from '../common/errors.js';
import { turnSnapshotName } from '../common/names.js';
import { DEFAULT_MAX_NAMED_SNAPSHOTS, type SessionState, type SnapshotRecord, type SnapshotTarget } from '../protocol/messages.js';

/** Pure decisions of the session workflow: which operation may run in which state, and snapshot bookkeeping. */

export type Operation = 'exec' | 'files' | 'turnComplete' | 'snapshot' | 'rollback' | 'fork' | 'pause' | 'resume' | 'destroy';

/**
 * Throws a typed failure if `op` may not run in `state`. A paused session admits tool calls only
 * when `autoResume` is set (the caller resumes it first).
 */
export function assertOperationAllowed(state: SessionState, op: Operation, sessionId: string, autoResume: boolean): void {
  if (op === 'destroy') {
    if (state === 'destroyed') throw sbxFailure(SbxErrorType.SessionDestroyed, `session ${sessionId} is already destroyed`);
    return;
  }
  switch (state) {
    case 'active':
      if (op === 'resume') throw sbxFailure(SbxErrorType.InvalidState, `session ${sessionId} is not paused`);
      return;
    case 'paused':
      if (op === 'resume' || op === 'pause' || op === 'snapshot' || op === 'fork' || op === 'turnComplete') return;
      if ((op === 'exec' || op === 'files') && autoResume) return;
      if (op === 'rollback') return;
      throw sbxFailure(
        SbxErrorType.SessionPaused,
        `session ${sessionId} is paused: resume it first, or create it with autoResume to resume on the next tool call`,
      );
    case 'creating':
      throw sbxFailure(SbxErrorType.InvalidState, `session ${sessionId} is still being created: wait for create to return`);
    case 'destroying':
    case 'destroyed':
      throw sbxFailure(SbxErrorType.SessionDestroyed, `session ${sessionId} is ${state}; create a new session`);
    case 'failed':
      throw sbxFailure(SbxErrorType.InvalidState, `session ${sessionId} has failed; only destroy is possible`);
  }
}

/** The snapshot a rollback or fork targets; unknown or future targets are refused with a clear reason. */
export function resolveSnapshot(snapshots: SnapshotRecord[], target: SnapshotTarget, currentTurn: number): SnapshotRecord {
  if (target.turn !== undefined) {
    if (target.turn > currentTurn) {
      throw sbxFailure(
        SbxErrorType.InvalidArgument,
        `turn ${target.turn} is in the future: the session has completed ${currentTurn} turn(s)`,
      );
    }
    const name = turnSnapshotName(target.turn);
    const found = snapshots.find((s) => s.name === name);
    if (!found) throw sbxFailure(SbxErrorType.SnapshotNotFound, `the snapshot of turn ${target.turn} was pruned or rolled away`);
    return found;
  }
  const found = snapshots.find((s) => s.name === target.snapshot);
  if (!found) {
    const known = snapshots.map((s) => s.name).join(', ') || 'none';
    throw sbxFailure(SbxErrorType.SnapshotNotFound, `no snapshot named ${target.snapshot} (known: ${known})`);
  }
  return found;
}

/** Snapshots left after rolling back to `name`: it and everything older (as `zfs rollback -r`). */
export function snapshotsAfterRollback(snapshots: SnapshotRecord[], name: string): SnapshotRecord[] {
  const index = snapshots.findIndex((s) => s.name === name);
  return index < 0 ? snapshots : snapshots.slice(0, index + 1);
}

/** The turn count after rolling back to `target`: the newest turn snapshot still there. */
export function turnAfterRollback(kept: SnapshotRecord[]): number {
  return kept.reduce((turn, s) => Math.max(turn, s.turn ?? 0), 0);
}

/** Oldest turn snapshots beyond `max`; named snapshots are kept, and so is the newest turn. */
export function snapshotsToPrune(snapshots: SnapshotRecord[], max: number): string[] {
  const turns = snapshots.filter((s) => s.turn !== undefined);
  const excess = turns.length - Math.max(max, 1);
  return excess > 0 ? turns.slice(0, excess).map((s) => s.name) : [];
}

/**
 * The failure for one named snapshot too many, when the session already keeps `max`; turn snapshots
 * are pruned instead. A session started before the limit existed has no `max` and gets the default.
 */
export function namedSnapshotLimit(
  snapshots: SnapshotRecord[],
  max: number | undefined,
  sessionId: string,
): ApplicationFailure | undefined {
  max ??= DEFAULT_MAX_NAMED_SNAPSHOTS;
  const named = snapshots.filter((s) => s.turn === undefined).length;
  if (named < max) return undefined;
  return sbxFailure(
    SbxErrorType.InvalidState,
    `session ${sessionId} already keeps ${named} named snapshots, its maximum: roll back to an earlier one (later ones go) or fork a new session`,
  );
}
