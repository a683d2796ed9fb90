import { ApplicationFailure } from '@temporalio/common';
import * as nexus from 'nexus-rpc';
import type { z } from 'zod';
import { isSbxErrorType, type SbxErrorType } from '../common/errors.js';
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
  OutputPage,
  PauseMode,
  ReadOutputRequest,
  RollbackResult,
  SessionInfo,
  SnapshotTarget,
  TurnResult,
} from '../protocol/messages.js';

/**
 * The Nexus service `sbx.sandbox.v1`: what an agent workflow in any namespace imports to drive sbx
 * sessions through a Nexus endpoint (`sbx` under `sbx dev`). Types only, no Node modules: it is safe in
 * a workflow bundle. Inputs are the client's request schemas with the session's id beside them.
 *
 * `createSession` is asynchronous: it returns once the session is active, and its result (the
 * session's final info) arrives when the session is destroyed, so the caller's workflow holds the
 * session for its whole life. Every other operation is synchronous.
 */
export const SBX_NEXUS_SERVICE = 'sbx.sandbox.v1';
/** The endpoint `sbx dev` registers; on a real cluster the operator names it (see the README). */
export const SBX_NEXUS_ENDPOINT = 'sbx';

type OnSession<T = object> = { sessionId: string } & T;

export const sbxSandboxService = nexus.service(SBX_NEXUS_SERVICE, {
  createSession: nexus.operation<CreateSessionInput, SessionInfo>(),
  exec: nexus.operation<OnSession<ExecRequestInput>, ExecResult>(),
  writeFiles: nexus.operation<OnSession<z.input<typeof WriteFilesRequest>>, void>(),
  readFile: nexus.operation<OnSession<z.input<typeof ReadFileRequest>>, ReadFileResult>(),
  readOutput: nexus.operation<OnSession<z.input<typeof ReadOutputRequest>>, OutputPage>(),
  listDir: nexus.operation<OnSession<z.input<typeof ListDirRequest>>, ListDirResult>(),
  turnComplete: nexus.operation<OnSession, TurnResult>(),
  rollback: nexus.operation<OnSession<SnapshotTarget>, RollbackResult>(),
  /** Returns once the new session is active; it lives until destroyed (it is no createSession of the caller's). */
  fork: nexus.operation<OnSession<ForkRequest>, ForkResult>(),
  pause: nexus.operation<OnSession<{ mode?: PauseMode }>, SessionInfo>(),
  resume: nexus.operation<OnSession, SessionInfo>(),
  destroy: nexus.operation<OnSession, SessionInfo>(),
  info: nexus.operation<OnSession, SessionInfo>(),
});
export type SbxSandboxService = typeof sbxSandboxService;

/** An sbx error as a Nexus caller sees it: the type to act on (see SbxErrorType) and what to do. */
export interface SbxNexusError {
  type: SbxErrorType;
  message: string;
}

/**
 * The sbx error inside a failed operation (a NexusOperationFailure in a workflow), or undefined when
 * the failure is not sbx's (a timeout, a cancellation). Busy and transient faults never arrive here:
 * Nexus retries them until the operation's schedule-to-close timeout.
 */
export function sbxErrorOf(err: unknown): SbxNexusError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ApplicationFailure && isSbxErrorType(e.type)) return { type: e.type, message: e.message };
  }
  return undefined;
}
