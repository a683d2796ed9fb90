export { SandboxClient, type SandboxClientOptions, type SessionSummary } from './sandbox-client.js';
export { Session } from './session.js';
export { SbxError, SbxErrorType } from './errors.js';
export { warmPoolStatuses } from './warm-pools.js';
export type {
  SessionInfo,
  SnapshotRecord,
  TurnResult,
  RollbackResult,
  ForkResult,
  SessionState,
  PauseMode,
  WarmPoolStatus,
} from '../protocol/messages.js';
export type { ExecResult, ReadFileResult, DirEntry, ListDirResult } from '../common/sandbox.js';
