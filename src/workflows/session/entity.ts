import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  ApplicationFailure,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { fleetWorkflowId } from '../../common/names.js';
import type { ExecResult } from '../../common/sandbox.js';
import { parseInput } from '../../common/validate.js';
import {
  DEFAULT_MAX_TOOL_CALLS,
  releaseSignal,
  warmReleasedSignal,
  type CreateSessionRequest,
  type PauseMode,
  type SessionInfo,
  type SessionState,
} from '../../protocol/messages.js';
import { SbxSessionState } from '../../protocol/search-attributes.js';
import type { CarriedSession, SessionWorkflowInput } from '../../protocol/session-input.js';
import { LifecycleLock } from '../lifecycle-lock.js';
import { assertOperationAllowed, type Operation } from '../session-rules.js';
import { currentDetails, type LastToolCall } from '../session-story.js';
import { ToolCallCache } from '../tool-call-cache.js';
import { HostCalls } from './host-calls.js';
import { onSessionBaseline, sessionPatched } from './patches.js';

const MAX_CACHED_TOOL_CALLS = 1000;
const CARRIED_OUTPUT_BUDGET_BYTES = 256 * 1024;

export type PendingSignal = { kind: 'pause'; mode: PauseMode; reason: string } | { kind: 'resume' };
export type ForkOrigin = NonNullable<SessionWorkflowInput['forkOf']>;

/** Where a placed session's sandbox lives. */
export interface SandboxPlace {
  hostId: string;
  sandboxId: string;
}

/**
 * One session: the state it carries across continue-as-new, the lifecycle lock its handlers share,
 * and its transitions. Handlers and the main loop act through it (Temporal's safe-message-handlers
 * sample: the entity owns state and lock, the workflow function wires handlers and runs the loop).
 */
export class SessionEntity {
  readonly sessionId: string;
  readonly req: CreateSessionRequest;
  readonly forkOf: ForkOrigin | undefined;
  record: CarriedSession;
  readonly cache: ToolCallCache;
  readonly inFlight = new Map<string, Promise<ExecResult>>();
  readonly lock = new LifecycleLock();
  readonly pending: PendingSignal[] = [];
  readonly host: HostCalls;
  // Sessions recorded before the limit existed carry no maxToolCalls.
  readonly maxToolCalls: number;
  createError: ApplicationFailure | undefined;
  destroyRequested = false;
  destroyError: ApplicationFailure | undefined;
  forkReady: { ok: boolean; message?: string; started?: boolean } | undefined;
  /** Bumped when a tool call starts or ends (and after pauseNow/resumeNow): the main loop's idle clock watches it. */
  activitySeq = 0;
  toolsRunning = 0;
  lifetimeExpired = false;
  lastToolCall: LastToolCall | undefined;
  /** Continue-as-new is pending: new tool calls are refused and execs in flight handed over to the next run. */
  continuing = false;
  /** Rejects once `continuing` is set (see tools.ts `handover`); one per run. */
  handingOver: Promise<never> | undefined;

  constructor(
    input: SessionWorkflowInput,
    /** Memo and activity summaries for the Web UI: histories from before they existed keep none. */
    readonly story: boolean,
  ) {
    this.req = input.request;
    this.sessionId = this.req.sessionId;
    this.forkOf = input.forkOf;
    this.record = input.carried ?? {
      state: 'creating',
      turn: 0,
      snapshots: [],
      createdAt: new Date().toISOString(),
      deadline: this.req.maxLifetimeMs > 0 ? Date.now() + this.req.maxLifetimeMs : undefined,
      toolCalls: 0,
      runs: 0,
      toolCache: [],
    };
    this.record.runs++;
    this.cache = new ToolCallCache(MAX_CACHED_TOOL_CALLS, this.record.toolCache);
    this.maxToolCalls = this.req.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS;
    this.host = new HostCalls(this);
  }

  get state(): SessionState {
    return this.record.state;
  }

  /** The sandbox on the host: the session's own id, or the warm sandbox it claimed. */
  get sandboxId(): string {
    return this.record.sandboxId ?? this.sessionId;
  }

  /** Where the sandbox lives. Every host call comes after placement; before it there is nothing to act on. */
  placed(): SandboxPlace {
    const { hostId } = this.record;
    if (hostId === undefined) throw sbxFailure(SbxErrorType.InvalidState, `session ${this.sessionId} has no host yet`);
    return { hostId, sandboxId: this.sandboxId };
  }

  /** Placement found the host (and maybe a warm sandbox); they stay the session's from now on. */
  placeOn(hostId: string, fleetId: string | undefined, warm?: { sandboxId: string; pool: string; readyAt: string }): void {
    this.record = { ...this.record, hostId, fleetId };
    if (warm) this.record = { ...this.record, sandboxId: warm.sandboxId, warmClaim: { pool: warm.pool, readyAt: warm.readyAt } };
  }

  info(): SessionInfo {
    const s = this.record;
    return {
      sessionId: this.sessionId,
      state: s.state,
      failureReason: s.failureReason,
      hostId: s.hostId,
      template: this.req.template,
      turn: s.turn,
      snapshots: s.snapshots,
      pauseMode: s.state === 'paused' ? s.pauseMode : undefined,
      forkedFrom: this.forkOf ? { sessionId: this.forkOf.sessionId, snapshot: this.forkOf.snapshot } : undefined,
      sandboxId: this.sandboxId,
      warmClaim: s.warmClaim,
      createdAt: s.createdAt,
      toolCalls: s.toolCalls,
      runs: s.runs,
      lastRejectedSignal: s.lastRejectedSignal,
    };
  }

  /** The session's current details: the Web UI shows them on its page (User Metadata in UI 2.42). */
  showStory(): void {
    setCurrentDetails(currentDetails({ ...this.record, template: this.req.template, lastToolCall: this.lastToolCall }));
  }

  setState(state: SessionState, failureReason?: string): void {
    this.record.state = state;
    this.record.failureReason = failureReason;
    this.upsert([{ key: SbxSessionState, value: state }]);
    this.showStory();
    log.info('session state changed', { sessionId: this.sessionId, state, failureReason });
  }

  /** Upserts only the attributes whose value changes: each upsert is a command and an event (histories from before sent all). */
  upsert(pairs: SearchAttributeUpdatePair[]): void {
    const shown = workflowInfo().typedSearchAttributes;
    const changed = pairs.filter((pair) => shown.get(pair.key) !== pair.value);
    const sent = changed.length < pairs.length && sessionPatched('upsert-only-changes') ? changed : pairs;
    if (sent.length > 0) upsertSearchAttributes(sent);
  }

  /**
   * The search attributes a create shows. sbx's fronts set all but the host at start
   * (sessionStartOptions): a run on the baseline upserts only a difference, histories from before all.
   */
  upsertOnCreate(pairs: SearchAttributeUpdatePair[]): void {
    if (onSessionBaseline()) this.upsert(pairs);
    else upsertSearchAttributes(pairs);
  }

  allowed(op: Operation): void {
    assertOperationAllowed(this.record.state, op, this.sessionId, this.req.autoResume);
  }

  /** In validators: a session runs at most maxToolCalls tool calls at once; more are refused, leaving no trace. */
  assertToolSlot(): void {
    if (this.toolsRunning >= this.maxToolCalls) {
      throw sbxFailure(
        SbxErrorType.Busy,
        `session ${this.sessionId} already runs ${this.maxToolCalls} tool calls (its maxToolCalls); wait for one to finish, then try again`,
      );
    }
  }

  /** Gives the fleet slot (and a claimed warm sandbox) back; either may already be gone, which is fine. */
  async releaseSlot(): Promise<void> {
    const s = this.record;
    if (s.warmClaim) {
      await getExternalWorkflowHandle(s.warmClaim.pool)
        .signal(warmReleasedSignal, { sandboxId: this.sandboxId })
        .catch((err) => log.warn('could not tell the warm pool', { sessionId: this.sessionId, error: String(err) }));
    }
    if (!s.fleetId || !s.hostId) return;
    await this.releaseFleetSlot(s.fleetId, this.sandboxId, s.hostId);
    this.record.fleetId = undefined;
  }

  /** Tells a fleet that the slot `key` on `hostId` is free again; the fleet may already be gone. */
  async releaseFleetSlot(fleetId: string, key: string, hostId: string): Promise<void> {
    await getExternalWorkflowHandle(fleetWorkflowId(fleetId))
      .signal(releaseSignal, { sessionId: key, hostId })
      .catch((err) => log.warn('could not release the fleet slot', { sessionId: this.sessionId, slot: key, error: String(err) }));
  }

  /**
   * A signal has no reply, and one that throws would fail the workflow task over and over: input that
   * does not parse is recorded where info shows it, logged with its reason, and otherwise ignored.
   */
  signalInput<S extends z.ZodType>(name: string, schema: S, raw: unknown): z.output<S> | undefined {
    try {
      return parseInput(schema, raw, `${name} signal input`);
    } catch (err) {
      const reason = (err as Error).message;
      this.record.lastRejectedSignal = { name, reason, at: new Date().toISOString() };
      log.warn('rejected a signal', { sessionId: this.sessionId, signal: name, reason });
      return undefined;
    }
  }

  /** The input of this session's next run when it continues as new. */
  continuation(): SessionWorkflowInput {
    return {
      request: this.req,
      forkOf: this.forkOf,
      carried: { ...this.record, toolCache: this.cache.carry(CARRIED_OUTPUT_BUDGET_BYTES) },
    };
  }
}
