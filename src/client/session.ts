import type { Client, WorkflowHandle } from '@temporalio/client';
import type { z } from 'zod';
import type { ProcessStatus } from '../common/processes.js';
import type { ExecRequestInput, ExecResult, ListDirResult, PathStat, ReadFileResult } from '../common/sandbox.js';
import { parseInput } from '../common/validate.js';
import {
  DeletePathRequest,
  deletePathUpdate,
  destroyUpdate,
  ExecRequest,
  execUpdate,
  ForkRequest,
  forkUpdate,
  infoQuery,
  killProcessUpdate,
  LaunchProcessRequest,
  launchProcessUpdate,
  ListDirRequest,
  listDirUpdate,
  listSnapshotsQuery,
  NamedSnapshotRequest,
  pauseNowUpdate,
  pauseSignal,
  PauseRequest,
  ProcessRef,
  processStatusUpdate,
  ReadFileRequest,
  readFileUpdate,
  ReadOutputRequest,
  readOutputUpdate,
  resumeNowUpdate,
  resumeSignal,
  rollbackUpdate,
  snapshotUpdate,
  StatPathRequest,
  statPathUpdate,
  SnapshotTarget,
  turnCompleteUpdate,
  WriteFilesRequest,
  writeFilesUpdate,
  type OutputPage,
  type PauseMode,
  type RollbackResult,
  type SessionInfo,
  type SessionState,
  type SnapshotRecord,
  type TurnResult,
} from '../protocol/messages.js';
import type { SessionWorkflow } from '../workflows/session/workflow.js';
import { QUERY_AHEAD_OF_HISTORY } from '../protocol/messages.js';
import { acrossContinueAsNew, SbxError, SbxErrorType, toSbxError } from './errors.js';
import { sessionWorkflowId } from '../common/names.js';

/** A handle on one session. Every call validates its input here first, then in the workflow. */
export class Session {
  private readonly handle: WorkflowHandle<typeof SessionWorkflow>;

  constructor(
    private readonly client: Client,
    readonly id: string,
  ) {
    this.handle = client.workflow.getHandle<typeof SessionWorkflow>(sessionWorkflowId(id));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await acrossContinueAsNew(fn, this.id);
    } catch (err) {
      const error = toSbxError(err, this.id);
      if (error.type !== SbxErrorType.SessionNotFound) throw error;
      // Temporal answers "not found" for a closed workflow too: tell a destroyed session apart.
      const closed = await this.handle.describe().then(
        (d) => d.status.name !== 'RUNNING',
        () => false,
      );
      throw closed
        ? new SbxError(SbxErrorType.SessionDestroyed, `session ${this.id} is destroyed; create a new session`, { cause: err })
        : error;
    }
  }

  private valid<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
    try {
      return parseInput(schema, value, what);
    } catch (err) {
      throw toSbxError(err, this.id);
    }
  }

  /** Runs a command in the sandbox. A toolCallId seen before returns its recorded result. */
  async exec(request: ExecRequestInput): Promise<ExecResult> {
    const parsed = this.valid(ExecRequest, request, 'exec request');
    return this.call(() => this.handle.executeUpdate(execUpdate, { args: [parsed], updateId: `exec-${parsed.toolCallId}` }));
  }

  /**
   * One page of an exec's full output, kept on the host when it was too large for its result
   * (`result.fullOutput.ref`); pass `nextOffset` back as `offset` for the next page.
   */
  async readOutput(ref: string, options: Omit<z.input<typeof ReadOutputRequest>, 'ref'> = {}): Promise<OutputPage> {
    const parsed = this.valid(ReadOutputRequest, { ...options, ref }, 'readOutput request');
    return this.call(() => this.handle.executeUpdate(readOutputUpdate, { args: [parsed] }));
  }

  async writeFiles(files: z.input<typeof WriteFilesRequest>['files']): Promise<void> {
    const parsed = this.valid(WriteFilesRequest, { files }, 'writeFiles request');
    return this.call(() => this.handle.executeUpdate(writeFilesUpdate, { args: [parsed] }));
  }

  async readFile(path: string, options: Omit<z.input<typeof ReadFileRequest>, 'path'> = {}): Promise<ReadFileResult> {
    const parsed = this.valid(ReadFileRequest, { ...options, path }, 'readFile request');
    return this.call(() => this.handle.executeUpdate(readFileUpdate, { args: [parsed] }));
  }

  /** One page of entries sorted by name; pass `nextCursor` back as `cursor` for the next. */
  async listDir(path = '/workspace', options: Omit<z.input<typeof ListDirRequest>, 'path'> = {}): Promise<ListDirResult> {
    const parsed = this.valid(ListDirRequest, { ...options, path }, 'listDir request');
    return this.call(() => this.handle.executeUpdate(listDirUpdate, { args: [parsed] }));
  }

  /** What is at `path` (a symlink is described, not followed). */
  async statPath(path: string): Promise<PathStat> {
    const parsed = this.valid(StatPathRequest, { path }, 'statPath request');
    return this.call(() => this.handle.executeUpdate(statPathUpdate, { args: [parsed] }));
  }

  /** Deletes a file, a symlink (not its target) or an empty directory; `recursive` for a whole tree. */
  async deletePath(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const parsed = this.valid(DeletePathRequest, { ...options, path }, 'deletePath request');
    return this.call(() => this.handle.executeUpdate(deletePathUpdate, { args: [parsed] }));
  }

  /** Starts a long-running program (a dev server, a watcher); it is lost on rollback, which restarts the sandbox. */
  async launchProcess(request: z.input<typeof LaunchProcessRequest>): Promise<ProcessStatus> {
    const parsed = this.valid(LaunchProcessRequest, request, 'launchProcess request');
    return this.call(() => this.handle.executeUpdate(launchProcessUpdate, { args: [parsed] }));
  }

  async processStatus(processId: string): Promise<ProcessStatus> {
    const parsed = this.valid(ProcessRef, { processId }, 'processStatus request');
    return this.call(() => this.handle.executeUpdate(processStatusUpdate, { args: [parsed] }));
  }

  /** SIGTERM to the process group, SIGKILL after 2 s. */
  async killProcess(processId: string): Promise<ProcessStatus> {
    const parsed = this.valid(ProcessRef, { processId }, 'killProcess request');
    return this.call(() => this.handle.executeUpdate(killProcessUpdate, { args: [parsed] }));
  }

  /** Snapshots the sandbox as `turn-NNNNNN` at the end of an agent turn. */
  async turnComplete(): Promise<TurnResult> {
    return this.call(() => this.handle.executeUpdate(turnCompleteUpdate));
  }

  async snapshot(name: string): Promise<SnapshotRecord> {
    const parsed = this.valid(NamedSnapshotRequest, { name }, 'snapshot request');
    return this.call(() => this.handle.executeUpdate(snapshotUpdate, { args: [parsed] }));
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return this.call(() => this.handle.query(listSnapshotsQuery));
  }

  /** Waits for tools in flight, then the sandbox sees exactly the snapshot; later snapshots are gone. */
  async rollback(target: SnapshotTarget): Promise<RollbackResult> {
    const parsed = this.valid(SnapshotTarget, target, 'rollback request');
    return this.call(() => this.handle.executeUpdate(rollbackUpdate, { args: [parsed] }));
  }

  /** A new session from one of this session's snapshots; this one is untouched. Returns once it is active. */
  async fork(request: ForkRequest): Promise<Session> {
    const parsed = this.valid(ForkRequest, request, 'fork request');
    const result = await this.call(() => this.handle.executeUpdate(forkUpdate, { args: [parsed] }));
    const forked = new Session(this.client, result.sessionId);
    await forked.created();
    return forked;
  }

  /**
   * Waits while a new session (a fork) is being created; CreateFailed when it ended anything but
   * active. Past `timeoutMs` still creating: InvalidState, as `waitFor`.
   */
  async created(timeoutMs?: number): Promise<SessionInfo> {
    const info = await this.waitFor((state) => state.state !== 'creating', 'active', timeoutMs);
    if (info.state !== 'active') {
      throw new SbxError(SbxErrorType.CreateFailed, `fork ${this.id} ended ${info.state}: ${info.failureReason ?? 'unknown reason'}`);
    }
    return info;
  }

  /** Signals a pause; with `wait`, returns once the session is paused. */
  async pause(mode: PauseMode = 'freeze', { wait = true } = {}): Promise<void> {
    const parsed = this.valid(PauseRequest, { mode }, 'pause request');
    await this.call(() => this.handle.signal(pauseSignal, parsed));
    if (wait) await this.waitFor((info) => info.state !== 'active' && info.state !== 'creating', 'paused');
  }

  /** Signals a resume; with `wait`, returns once the session is active again. */
  async resume({ wait = true } = {}): Promise<void> {
    await this.call(() => this.handle.signal(resumeSignal));
    if (wait) await this.waitFor((info) => info.state !== 'paused', 'active');
  }

  /** Pauses through the `pauseNow` update: returns the paused session's info, or throws why it could not. */
  async pauseNow(mode: PauseMode = 'freeze'): Promise<SessionInfo> {
    const parsed = this.valid(PauseRequest, { mode }, 'pauseNow request');
    return this.call(() => this.handle.executeUpdate(pauseNowUpdate, { args: [parsed] }));
  }

  /** Resumes through the `resumeNow` update: returns the active session's info, or throws why it could not. */
  async resumeNow(): Promise<SessionInfo> {
    return this.call(() => this.handle.executeUpdate(resumeNowUpdate));
  }

  async destroy(): Promise<SessionInfo> {
    return this.call(() => this.handle.executeUpdate(destroyUpdate));
  }

  async info(): Promise<SessionInfo> {
    return this.call(() => this.handle.query(infoQuery));
  }

  /**
   * Polls `info` until `done` holds; a bounded wait that names the state it expected. The first polls
   * come quickly (a fork is usually active by the first), then every 100 ms.
   */
  async waitFor(done: (info: SessionInfo) => boolean, expected?: SessionState, timeoutMs = 120_000): Promise<SessionInfo> {
    const deadline = performance.now() + timeoutMs;
    for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 100)) {
      const info = await this.info().catch((err: SbxError) => {
        // A restarted worker answers once a workflow task has taken the session's pending events.
        if (err.message.includes(QUERY_AHEAD_OF_HISTORY) && performance.now() < deadline) return undefined;
        throw err;
      });
      if (info && done(info)) return info;
      if (info && performance.now() > deadline) {
        throw new SbxError(SbxErrorType.InvalidState, `session ${this.id} is still ${info.state}${expected ? `, not ${expected}` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
