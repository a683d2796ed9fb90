import type { Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { z } from 'zod';
import { SessionId, sessionWorkflowId } from '../common/names.js';
import type { ExecResult, ListDirResult, ReadFileResult } from '../common/sandbox.js';
import { parseInput } from '../common/validate.js';
import {
  destroyUpdate,
  ExecRequest,
  execUpdate,
  ForkRequest,
  forkUpdate,
  infoQuery,
  ListDirRequest,
  listDirUpdate,
  pauseNowUpdate,
  PauseRequest,
  ReadFileRequest,
  readFileUpdate,
  ReadOutputRequest,
  readOutputUpdate,
  resumeNowUpdate,
  rollbackUpdate,
  SnapshotTarget,
  turnCompleteUpdate,
  WriteFilesRequest,
  writeFilesUpdate,
  type ForkResult,
  type OutputPage,
  type RollbackResult,
  type SessionInfo,
  type TurnResult,
} from '../protocol/messages.js';
import { acrossContinueAsNew, SbxError, SbxErrorType, toSbxError } from './errors.js';
import { Session } from './session.js';

/**
 * The session operations of the fronts that take one flat object per call (`{sessionId, ...request}`):
 * the Nexus service and the MCP server. Each validates with the client's own schema and sends the same
 * update or query as `Session`, and fails with an SbxError.
 */

export const SessionRef = z.object({ sessionId: SessionId });

/** Each operation's request schema, less the sessionId every one of them also takes. */
export const sessionOpSchemas = {
  exec: ExecRequest,
  writeFiles: WriteFilesRequest,
  readFile: ReadFileRequest,
  readOutput: ReadOutputRequest,
  listDir: ListDirRequest,
  turnComplete: z.object({}),
  rollback: SnapshotTarget,
  fork: ForkRequest,
  pause: PauseRequest,
  resume: z.object({}),
  destroy: z.object({}),
  info: z.object({}),
} as const;
export type SessionOpName = keyof typeof sessionOpSchemas;

export interface OpOptions {
  /**
   * Makes a retried call the same update (Temporal keeps one outcome per update id): a Nexus request
   * id. Exec always uses its toolCallId.
   */
  updateId?: string;
  /** A fork waits for its new session to be active until then, at most. */
  deadline?: Date;
}

const FORK_WAIT_MS = 120_000;

export class SessionOps {
  constructor(private readonly client: Client) {}

  /** `{sessionId, ...request}` parsed with SessionRef and the operation's schema, or InvalidArgument. */
  parse<N extends SessionOpName>(op: N, input: unknown): { sessionId: string; request: z.output<(typeof sessionOpSchemas)[N]> } {
    const raw = input ?? {};
    try {
      const { sessionId } = parseInput(SessionRef, raw, `${op} request`);
      return {
        sessionId,
        request: parseInput(sessionOpSchemas[op] as z.ZodType, raw, `${op} request`) as z.output<(typeof sessionOpSchemas)[N]>,
      };
    } catch (err) {
      throw toSbxError(err, (raw as { sessionId?: string }).sessionId ?? '?');
    }
  }

  async exec(input: unknown): Promise<ExecResult> {
    const { sessionId, request } = this.parse('exec', input);
    return this.update(sessionId, execUpdate, [request], `exec-${request.toolCallId}`);
  }

  async writeFiles(input: unknown, o: OpOptions = {}): Promise<void> {
    const { sessionId, request } = this.parse('writeFiles', input);
    return this.update(sessionId, writeFilesUpdate, [request], o.updateId);
  }

  async readFile(input: unknown): Promise<ReadFileResult> {
    const { sessionId, request } = this.parse('readFile', input);
    return this.update(sessionId, readFileUpdate, [request]);
  }

  async readOutput(input: unknown): Promise<OutputPage> {
    const { sessionId, request } = this.parse('readOutput', input);
    return this.update(sessionId, readOutputUpdate, [request]);
  }

  async listDir(input: unknown): Promise<ListDirResult> {
    const { sessionId, request } = this.parse('listDir', input);
    return this.update(sessionId, listDirUpdate, [request]);
  }

  async turnComplete(input: unknown, o: OpOptions = {}): Promise<TurnResult> {
    const { sessionId } = this.parse('turnComplete', input);
    return this.update(sessionId, turnCompleteUpdate, [], o.updateId);
  }

  async rollback(input: unknown, o: OpOptions = {}): Promise<RollbackResult> {
    const { sessionId, request } = this.parse('rollback', input);
    return this.update(sessionId, rollbackUpdate, [request], o.updateId);
  }

  /** Forks, then waits for the new session to be active (until `deadline`, when given). */
  async fork(input: unknown, o: OpOptions = {}): Promise<ForkResult> {
    const { sessionId, request } = this.parse('fork', input);
    const result = await this.update(sessionId, forkUpdate, [request], o.updateId);
    const waitMs = Math.max(0, (o.deadline?.getTime() ?? Date.now() + FORK_WAIT_MS) - Date.now());
    await new Session(this.client, result.sessionId).created(waitMs).catch((err: unknown) => {
      if (!(err instanceof SbxError && err.type === SbxErrorType.InvalidState)) throw err;
      throw new SbxError(SbxErrorType.Busy, `fork ${result.sessionId} is still being created; ask again for the same fork`);
    });
    return result;
  }

  async pause(input: unknown, o: OpOptions = {}): Promise<SessionInfo> {
    const { sessionId, request } = this.parse('pause', input);
    return this.update(sessionId, pauseNowUpdate, [request], o.updateId);
  }

  async resume(input: unknown, o: OpOptions = {}): Promise<SessionInfo> {
    const { sessionId } = this.parse('resume', input);
    return this.update(sessionId, resumeNowUpdate, [], o.updateId);
  }

  async destroy(input: unknown, o: OpOptions = {}): Promise<SessionInfo> {
    const { sessionId } = this.parse('destroy', input);
    return this.update(sessionId, destroyUpdate, [], o.updateId);
  }

  async info(input: unknown): Promise<SessionInfo> {
    const { sessionId } = this.parse('info', input);
    return this.query(sessionId);
  }

  private query(sessionId: string): Promise<SessionInfo> {
    return this.call(sessionId, (handle) => handle.query(infoQuery));
  }

  private update<R, A extends unknown[]>(sessionId: string, def: UpdateDefinition<R, A>, args: A, updateId?: string): Promise<R> {
    // The definitions are typed where they are made; here one path serves updates with and without args.
    return this.call(sessionId, (handle) => handle.executeUpdate(def.name, { args: args as unknown as [unknown], updateId }) as Promise<R>);
  }

  /** As `Session`: a closed session's "not found" is told apart as SessionDestroyed. */
  private async call<T>(sessionId: string, fn: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>): Promise<T> {
    const handle = this.client.workflow.getHandle(sessionWorkflowId(sessionId));
    try {
      return await acrossContinueAsNew(() => fn(handle), sessionId);
    } catch (err) {
      const error = toSbxError(err, sessionId);
      if (error.type !== SbxErrorType.SessionNotFound) throw error;
      const closed = await handle.describe().then(
        (d) => d.status.name !== 'RUNNING',
        () => false,
      );
      throw closed
        ? new SbxError(SbxErrorType.SessionDestroyed, `session ${sessionId} is destroyed; create a new session`, { cause: err })
        : error;
    }
  }
}
