import type { z } from 'zod';
import type {
  ExecRequestInput,
  ExecResult,
  ListDirRequest,
  ListDirResult,
  ReadFileRequest,
  ReadFileResult,
  WriteFilesRequest,
} from '../common/sandbox.js';
import type {
  CreateSessionInput,
  ForkRequest,
  ForkResult,
  RollbackResult,
  SessionInfo,
  SnapshotTarget,
  TurnResult,
} from '../protocol/messages.js';

type OnSession<T = object> = { sessionId: string } & T;

/** The activities a platform registers (see createSandboxActivities); inputs as the Nexus operations'. */
export interface SandboxActivities {
  sandboxCreate(input: CreateSessionInput): Promise<SessionInfo>;
  sandboxExec(input: OnSession<ExecRequestInput>): Promise<ExecResult>;
  sandboxWriteFiles(input: OnSession<z.input<typeof WriteFilesRequest>>): Promise<void>;
  sandboxReadFile(input: OnSession<z.input<typeof ReadFileRequest>>): Promise<ReadFileResult>;
  sandboxListDir(input: OnSession<z.input<typeof ListDirRequest>>): Promise<ListDirResult>;
  sandboxTurnComplete(input: OnSession): Promise<TurnResult>;
  sandboxRollback(input: OnSession<SnapshotTarget>): Promise<RollbackResult>;
  sandboxFork(input: OnSession<ForkRequest>): Promise<ForkResult>;
  sandboxDestroy(input: OnSession): Promise<SessionInfo>;
  sandboxInfo(input: OnSession): Promise<SessionInfo>;
}
