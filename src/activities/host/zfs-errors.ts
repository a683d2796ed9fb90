import type { ApplicationFailure } from '@temporalio/common';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';

/** What a finished (or never started) `zfs`/`zpool` command left behind. */
export interface ZfsOutcome {
  stderr: string;
  exitCode?: number;
  /** Set when the command could not be spawned at all (e.g. `ENOENT`). */
  spawnCode?: string;
  /** Set when the host's zfs lock was not taken in time, or the command ran past its time limit. */
  timedOut?: 'lock' | 'command';
}

export interface ZfsOperation {
  /** A verb phrase: "clone", "snapshot", "roll back"… */
  operation: string;
  dataset: string;
  /** The precise type for "does not exist", when the caller knows what was missing. */
  notFound?: SbxErrorType;
}

// Order matters: a faulted pool can also print "does not exist"-like noise, and a quota below the
// used space mentions "space" without being out of it.
const rules: Array<[RegExp, SbxErrorType]> = [
  [/zfs-fuse daemon|connect: (connection refused|no such file)/i, SbxErrorType.CommandMissing],
  [/I\/O is currently suspended|pool I\/O|is currently unavailable|suspended|faulted/i, SbxErrorType.PoolFaulted],
  [/does not exist|no such pool|could not find any snapshots/i, SbxErrorType.NotFound],
  [/already exists|destination '[^']*' exists/i, SbxErrorType.AlreadyExists],
  [/less than current used|bad numeric value|invalid (character|name)|use 'none'/i, SbxErrorType.InvalidArgument],
  [/out of space|quota exceeded|no space left/i, SbxErrorType.NoSpace],
  [/busy/i, SbxErrorType.Busy],
];

export function classifyZfsError(outcome: ZfsOutcome, notFound: SbxErrorType = SbxErrorType.NotFound): SbxErrorType {
  if (outcome.spawnCode === 'ENOENT') return SbxErrorType.CommandMissing;
  if (outcome.timedOut) return SbxErrorType.Busy;
  for (const [pattern, type] of rules) {
    if (pattern.test(outcome.stderr)) return type === SbxErrorType.NotFound ? notFound : type;
  }
  return SbxErrorType.CommandFailed;
}

const NOT_FOUND_TYPES: ReadonlySet<SbxErrorType> = new Set([
  SbxErrorType.NotFound,
  SbxErrorType.SessionNotFound,
  SbxErrorType.SnapshotNotFound,
  SbxErrorType.TemplateNotFound,
]);

function advice(type: SbxErrorType): string {
  if (NOT_FOUND_TYPES.has(type)) return 'it does not exist';
  switch (type) {
    case SbxErrorType.AlreadyExists:
      return 'it already exists; destroy it first or choose another name';
    case SbxErrorType.InvalidArgument:
      return 'the value was refused; a quota must be above the space already used';
    case SbxErrorType.NoSpace:
      return "the pool or the dataset's quota is out of space; free space or raise the quota";
    case SbxErrorType.Busy:
      return 'the dataset is busy (files still in use); retry shortly';
    case SbxErrorType.PoolFaulted:
      return "the ZFS pool is faulted or its I/O is suspended; check 'zpool status' on the host";
    case SbxErrorType.CommandMissing:
      return 'ZFS is not usable on this host: install it (Debian: zfs-fuse or zfsutils-linux) and make sure its daemon runs';
    default:
      return 'see the zfs message';
  }
}

/** A typed failure whose message names the operation and dataset and says what to do. */
export function zfsFailure(outcome: ZfsOutcome, op: ZfsOperation): ApplicationFailure {
  const type = classifyZfsError(outcome, op.notFound);
  if (outcome.timedOut) {
    const why =
      outcome.timedOut === 'lock'
        ? "another zfs change held this host's zfs lock past the wait limit"
        : 'zfs did not finish within its time limit and was stopped (zfs-fuse may be overloaded or stuck)';
    return sbxFailure(type, `Could not ${op.operation} ${op.dataset}: ${why}; retry shortly.`, {
      dataset: op.dataset,
      timedOut: outcome.timedOut,
    });
  }
  const said = outcome.stderr.trim().split('\n').filter(Boolean).join('; ');
  const message = `Could not ${op.operation} ${op.dataset}: ${advice(type)}.${said ? ` (zfs: ${said})` : ''}`;
  return sbxFailure(type, message, { dataset: op.dataset, exitCode: outcome.exitCode, stderr: outcome.stderr });
}
