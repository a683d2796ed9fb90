import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  CancellationScope,
  isCancellation,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import { TimeoutType, type ActivityOptions, type UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import type { HostActivities } from '../activities/host/activities.js';
import type { Placement, PlacementActivities } from '../activities/control/placement.js';
import { SbxErrorType, sbxFailure } from '../common/errors.js';
import { fleetWorkflowId, hostTaskQueue, hostToolsTaskQueue, sessionWorkflowId, turnSnapshotName, TURN_PREFIX } from '../common/names.js';
import type { ExecResult, SandboxOrigin } from '../common/sandbox.js';
import { parseInput } from '../common/validate.js';
import { sameValue } from '../common/same-value.js';
import {
  CreateSessionRequest,
  createUpdate,
  DEFAULT_MAX_TOOL_CALLS,
  destroyUpdate,
  ExecRequest,
  execUpdate,
  ForkRequest,
  ForkReady,
  forkReadySignal,
  forkUpdate,
  HostRef,
  hostLostSignal,
  releaseSignal,
  warmReleasedSignal,
  infoQuery,
  killProcessUpdate,
  LaunchProcessRequest,
  launchProcessUpdate,
  DeletePathRequest,
  deletePathUpdate,
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
  resumeNowUpdate,
  resumeSignal,
  rollbackUpdate,
  snapshotUpdate,
  SnapshotTarget,
  StatPathRequest,
  statPathUpdate,
  turnCompleteUpdate,
  WriteFilesRequest,
  writeFilesUpdate,
  type PauseMode,
  type RejectedSignal,
  type SessionInfo,
  type SessionState,
  type SnapshotRecord,
} from './messages.js';
import { IdleClock } from './idle-clock.js';
import { LifecycleLock } from './lifecycle-lock.js';
import { parseSessionInput } from './session-input.js';
import { SbxHost, SbxSessionState, SbxTemplate, SbxTurn } from './search-attributes.js';
import { currentDetails, sessionMemo, withHostSummaries, withPlacementSummaries, type LastToolCall } from './session-story.js';
import {
  assertOperationAllowed,
  namedSnapshotLimit,
  resolveSnapshot,
  snapshotsAfterRollback,
  snapshotsToPrune,
  turnAfterRollback,
  type Operation,
} from './session-rules.js';
import { ToolCallCache, type CachedToolCall } from './tool-call-cache.js';

export interface SessionWorkflowInput {
  request: CreateSessionRequest;
  /**
   * Set when a parent session forks this one: it reserves the fleet slot (when it has a fleet),
   * copies the filesystem, then signals forkReady.
   */
  forkOf?: { sessionId: string; snapshot: string; hostId: string; sandboxId?: string; fleetId?: string };
  carried?: CarriedSession;
}

/** Everything a session keeps across continue-as-new. */
export interface CarriedSession {
  state: SessionState;
  failureReason?: string;
  hostId?: string;
  /** The sandbox on the host when it is not the session's own id: a claimed warm sandbox. */
  sandboxId?: string;
  warmClaim?: { pool: string; readyAt: string };
  /** The fleet that reserved this session's slot, told at destroy. */
  fleetId?: string;
  turn: number;
  snapshots: SnapshotRecord[];
  pauseMode?: PauseMode;
  createdAt: string;
  deadline?: number;
  toolCalls: number;
  runs: number;
  toolCache: CachedToolCall[];
  lastRejectedSignal?: RejectedSignal;
}

const MAX_CACHED_TOOL_CALLS = 1000;
const CARRIED_OUTPUT_BUDGET_BYTES = 256 * 1024;
const FORK_COPY_TIMEOUT = '30 minutes';
const EXEC_RETRY = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 };
/** Host activities heartbeat every few seconds: a silent one lost its worker and is retried this soon. */
const HOST_HEARTBEAT_TIMEOUT = '15 seconds';

type PendingSignal = { kind: 'pause'; mode: PauseMode; reason: string } | { kind: 'resume' };

/** One workflow per session (id `sbx-session-<sessionId>`): it owns the session's whole lifecycle. */
export async function SessionWorkflow(raw: SessionWorkflowInput): Promise<SessionInfo> {
  // Histories from before the check keep their path; new runs fail at once on a bad start.
  const started = workflowInfo();
  const input = patched('session-validates-input')
    ? (parseSessionInput(raw, {
        workflowId: started.workflowId,
        parentWorkflowId: started.parent?.workflowId,
        continuedFromRunId: started.continuedFromExecutionRunId,
      }) as SessionWorkflowInput)
    : raw;
  const req = input.request;
  const sessionId = req.sessionId;
  // Memo and activity summaries for the Web UI are new commands: histories from before keep none.
  const story = patched('session-tells-story');
  const now = () => new Date().getTime();
  const s: CarriedSession = input.carried ?? {
    state: 'creating',
    turn: 0,
    snapshots: [],
    createdAt: new Date().toISOString(),
    deadline: req.maxLifetimeMs > 0 ? now() + req.maxLifetimeMs : undefined,
    toolCalls: 0,
    runs: 0,
    toolCache: [],
  };
  s.runs++;
  const cache = new ToolCallCache(MAX_CACHED_TOOL_CALLS, s.toolCache);
  const inFlight = new Map<string, Promise<ExecResult>>();
  const lock = new LifecycleLock();
  const pending: PendingSignal[] = [];
  let createError: ApplicationFailure | undefined;
  let destroyRequested = false;
  let destroyError: ApplicationFailure | undefined;
  let forkReady: { ok: boolean; message?: string } | undefined;
  let activitySeq = 0;
  let toolsRunning = 0;
  // Sessions recorded before the limit existed carry no maxToolCalls.
  const maxToolCalls = req.maxToolCalls ?? DEFAULT_MAX_TOOL_CALLS;
  let hostProbe: Promise<boolean> | undefined;
  /** Tool calls on the host, so a destroy can stop them instead of waiting for them to end. */
  const toolScopes = new Set<CancellationScope>();
  let lifetimeExpired = false;
  const sandboxId = () => s.sandboxId ?? sessionId;
  let lastToolCall: LastToolCall | undefined;
  /** The session's current details: the Web UI shows them on its page (User Metadata in UI 2.42). */
  const showStory = () => setCurrentDetails(currentDetails({ ...s, template: req.template, lastToolCall }));
  const summarized = (acts: ActivityInterfaceFor<HostActivities>) => (story ? withHostSummaries(acts) : acts);

  const info = (): SessionInfo => ({
    sessionId,
    state: s.state,
    failureReason: s.failureReason,
    hostId: s.hostId,
    template: req.template,
    turn: s.turn,
    snapshots: s.snapshots,
    pauseMode: s.state === 'paused' ? s.pauseMode : undefined,
    forkedFrom: input.forkOf ? { sessionId: input.forkOf.sessionId, snapshot: input.forkOf.snapshot } : undefined,
    sandboxId: sandboxId(),
    warmClaim: s.warmClaim,
    createdAt: s.createdAt,
    toolCalls: s.toolCalls,
    runs: s.runs,
    lastRejectedSignal: s.lastRejectedSignal,
  });

  const setState = (state: SessionState, failureReason?: string) => {
    s.state = state;
    s.failureReason = failureReason;
    upsertSearchAttributes([{ key: SbxSessionState, value: state }]);
    showStory();
    log.info('session state changed', { sessionId, state, failureReason });
  };

  // A fleet's place waits for capacity while hosts boot.
  const placing = proxyActivities<PlacementActivities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '20 seconds' });
  const placement = story ? withPlacementSummaries(placing) : placing;
  // A warm claim is one quick update: as a local activity it completes within the create's first task.
  const claimer = proxyLocalActivities<PlacementActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });

  /** Gives the fleet slot (and a claimed warm sandbox) back; either may already be gone, which is fine. */
  async function releaseSlot(): Promise<void> {
    if (s.warmClaim) {
      await getExternalWorkflowHandle(s.warmClaim.pool)
        .signal(warmReleasedSignal, { sandboxId: sandboxId() })
        .catch((err) => log.warn('could not tell the warm pool', { sessionId, error: String(err) }));
    }
    if (!s.fleetId || !s.hostId) return;
    await releaseFleetSlot(s.fleetId, sandboxId(), s.hostId);
    s.fleetId = undefined;
  }

  /** Tells a fleet that the slot `key` on `hostId` is free again; the fleet may already be gone. */
  async function releaseFleetSlot(fleetId: string, key: string, hostId: string): Promise<void> {
    await getExternalWorkflowHandle(fleetWorkflowId(fleetId))
      .signal(releaseSignal, { sessionId: key, hostId })
      .catch((err) => log.warn('could not release the fleet slot', { sessionId, slot: key, error: String(err) }));
  }
  const hostOptions = (hostId: string) => ({
    taskQueue: hostTaskQueue(hostId),
    // Fires when no worker of that host picks the task up: the host is gone. Never retried.
    scheduleToStartTimeout: req.hostTimeoutMs,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: HOST_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
  });
  const hostActs = () => summarized(proxyActivities<HostActivities>(hostOptions(s.hostId!)));
  type HostActs = ReturnType<typeof hostActs>;

  /**
   * Runs a tool call on the host's tools queue, whose slots lifecycle work never needs. A call no
   * tool slot took within hostTimeoutMs means the host is busy, not lost, unless the host also fails
   * to answer a probe on its lifecycle queue: only then is the session marked host-lost.
   */
  async function onTool<T>(what: string, call: (acts: HostActs) => Promise<T>, options: Partial<ActivityOptions> = {}): Promise<T> {
    const ownQueue = patched('tool-calls-on-tools-queue');
    const queue = ownQueue ? { taskQueue: hostToolsTaskQueue(s.hostId!) } : {};
    const scope = new CancellationScope();
    toolScopes.add(scope);
    try {
      return await scope.run(() => call(summarized(proxyActivities<HostActivities>({ ...hostOptions(s.hostId!), ...options, ...queue }))));
    } catch (err) {
      if (isCancellation(err) && destroyRequested) {
        throw sbxFailure(SbxErrorType.SessionDestroyed, `session ${sessionId} is being destroyed: its '${what}' was stopped`);
      }
      if (ownQueue && timedOut(err, TimeoutType.SCHEDULE_TO_START) && (await hostAnswers())) {
        throw sbxFailure(
          SbxErrorType.Busy,
          `host ${s.hostId} is up but had no free tool slot for '${what}' within ${req.hostTimeoutMs} ms; nothing ran, try again`,
        );
      }
      throw hostFailure(what, err);
    } finally {
      toolScopes.delete(scope);
    }
  }

  /** A destroy stops the tool calls in flight (a `sleep 3600` would hold it for an hour otherwise). */
  function stopTools(): void {
    if (toolScopes.size === 0 || !patched('destroy-stops-tool-calls')) return;
    for (const scope of toolScopes) scope.cancel();
  }

  /** Whether the host picks up a health probe on its lifecycle queue; concurrent callers share one probe. */
  function hostAnswers(): Promise<boolean> {
    hostProbe ??= hostActs()
      .hostHealth()
      .then(
        () => true,
        (err) => !(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure),
      )
      .finally(() => {
        hostProbe = undefined;
      });
    return hostProbe;
  }

  /** Runs a host activity, turning its failures into the typed failures the client sees. */
  async function onHost<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw hostFailure(what, err);
    }
  }

  function timedOut(err: unknown, type: TimeoutType): boolean {
    return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === type;
  }

  function hostFailure(what: string, err: unknown): ApplicationFailure {
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      if (err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
        if (s.state !== 'destroying') setState('failed', 'host-lost');
        return sbxFailure(
          SbxErrorType.HostLost,
          `host ${s.hostId} did not pick up '${what}' within ${req.hostTimeoutMs} ms; session ${sessionId} is marked failed (host-lost)`,
        );
      }
      return sbxFailure(
        SbxErrorType.HostLost,
        `host ${s.hostId} stopped responding during '${what}'; it may or may not have completed`,
      );
    }
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure) {
      return sbxFailure((cause.type as SbxErrorType) ?? SbxErrorType.CommandFailed, cause.message);
    }
    return sbxFailure(SbxErrorType.CommandFailed, `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }

  const allowed = (op: Operation) => assertOperationAllowed(s.state, op, sessionId, req.autoResume);

  /** A tool call: resumes a paused session first when autoResume is set, then shares the lock. */
  async function runTool<T>(fn: () => Promise<T>): Promise<T> {
    activitySeq++;
    toolsRunning++;
    try {
      if (s.state === 'paused' && req.autoResume) await lock.runExclusive(resume);
      return await lock.runShared(async () => {
        if (s.state !== 'active') {
          allowed('exec');
          throw sbxFailure(SbxErrorType.SessionPaused, `session ${sessionId} was paused while the call waited; resume it`);
        }
        try {
          return await fn();
        } finally {
          activitySeq++;
        }
      });
    } finally {
      toolsRunning--;
    }
  }

  /** Runs a tool call shown as the session's last one: running, then how it ended. */
  async function shownAs<T>(call: LastToolCall, run: () => Promise<T>, ended: (result: T) => LastToolCall = () => ({ ...call, ended: true })): Promise<T> {
    lastToolCall = call;
    showStory();
    try {
      const result = await run();
      lastToolCall = ended(result);
      return result;
    } catch (err) {
      lastToolCall = { ...call, failed: (err instanceof ApplicationFailure && err.type) || 'error' };
      throw err;
    } finally {
      showStory();
    }
  }

  /** In validators: a session runs at most maxToolCalls tool calls at once; more are refused, leaving no trace. */
  function assertToolSlot(): void {
    if (toolsRunning >= maxToolCalls) {
      throw sbxFailure(
        SbxErrorType.Busy,
        `session ${sessionId} already runs ${maxToolCalls} tool calls (its maxToolCalls); wait for one to finish, then try again`,
      );
    }
  }

  async function resume(): Promise<void> {
    if (s.state !== 'paused') return;
    await onHost('resume', () => hostActs().resumeSandbox({ sandboxId: sandboxId(), mode: s.pauseMode ?? 'freeze', resources: req.resources }));
    s.pauseMode = undefined;
    setState('active');
  }

  async function pause(mode: PauseMode): Promise<void> {
    if (s.state !== 'active') return;
    await onHost('pause', () => hostActs().pauseSandbox({ sandboxId: sandboxId(), mode }));
    s.pauseMode = mode;
    setState('paused');
  }

  async function create(): Promise<void> {
    const undo: Array<() => Promise<unknown>> = [];
    try {
      if (input.forkOf) {
        s.hostId = input.forkOf.hostId;
        s.fleetId = input.forkOf.fleetId;
      } else {
        const ask = { sessionId, template: req.template, hostId: req.hostId, resources: req.resources, quotaBytes: req.quotaBytes };
        let placed: Placement | null = null;
        let claimAgain = true;
        if (!req.hostId && patched('warm-claim-local-activity')) {
          try {
            placed = await claimer.claimWarmSandbox(ask);
            claimAgain = false;
          } catch (err) {
            // The claim may have landed before its answer was lost: the placement activity asks the
            // pool again, which returns the same sandbox to the same session.
            log.warn('warm claim failed; placing through the placement activity', { sessionId, error: String(err) });
          }
        }
        placed ??= await placement.placeSession({ ...ask, claim: claimAgain });
        s.hostId = placed.hostId;
        s.fleetId = placed.fleetId;
        if (placed.warm) {
          s.sandboxId = placed.warm.sandboxId;
          s.warmClaim = { pool: placed.warm.pool, readyAt: placed.warm.readyAt };
        }
      }
      upsertSearchAttributes([{ key: SbxHost, value: s.hostId }]);
      if (s.warmClaim) {
        // A claimed warm sandbox is already made and started: the session is ready now.
        setState('active');
        return;
      }
      let origin: SandboxOrigin = { kind: 'template', template: req.template };
      if (input.forkOf) {
        if (!(await condition(() => forkReady !== undefined, FORK_COPY_TIMEOUT))) {
          throw sbxFailure(SbxErrorType.CreateFailed, `session ${input.forkOf.sessionId} never finished copying the fork`);
        }
        if (!forkReady!.ok) throw sbxFailure(SbxErrorType.CreateFailed, forkReady!.message ?? 'the fork copy failed');
        origin = { kind: 'snapshot', sandboxId: input.forkOf.sandboxId ?? input.forkOf.sessionId, snapshot: input.forkOf.snapshot };
      }
      const acts = hostActs();
      // Each undo is registered before its step runs and is idempotent, so a step that failed half-way is undone too.
      undo.push(() => acts.destroySandbox({ sandboxId: sandboxId() }));
      await onHost('create sandbox', () => acts.createSandbox({ sandboxId: sandboxId(), origin, quotaBytes: req.quotaBytes }));
      undo.push(() => acts.stopSandbox({ sandboxId: sandboxId() }));
      await onHost('start sandbox', () => acts.startSandbox({ sandboxId: sandboxId(), resources: req.resources }));
      setState('active');
    } catch (err) {
      const failure = err instanceof ApplicationFailure ? err : hostFailure('create', err);
      const hostLost = failure.type === SbxErrorType.HostLost;
      if (failure.type !== SbxErrorType.AlreadyExists && !hostLost) {
        for (const step of undo.reverse()) {
          await step().catch((undoErr) => log.warn('undo of a failed create step failed', { sessionId, error: String(undoErr) }));
        }
      }
      // A request the host refuses as invalid (a quota over its maximum) keeps its type: the caller must change it.
      const type = hostLost ? SbxErrorType.HostLost : failure.type === SbxErrorType.InvalidArgument ? SbxErrorType.InvalidArgument : SbxErrorType.CreateFailed;
      createError = sbxFailure(
        type,
        `session ${sessionId} could not be created: ${failure.message}`,
      );
      setState('failed', hostLost ? 'host-lost' : 'create-failed');
      await releaseSlot();
    }
  }

  async function destroy(): Promise<void> {
    // setState clears the failure reason: read it first (reading it after made every destroy of a
    // host-lost session wait hostTimeoutMs for the lost host).
    const hostLost = s.failureReason === 'host-lost';
    setState('destroying');
    // A lost host cannot be reached; its reconcile at next start removes what closed sessions left.
    if (s.hostId && !(hostLost && patched('destroy-skips-lost-host'))) {
      try {
        await onHost('destroy', () => hostActs().destroySandbox({ sandboxId: sandboxId() }));
      } catch (err) {
        const failure = err as ApplicationFailure;
        if (failure.type !== SbxErrorType.HostLost) {
          destroyError = failure;
          destroyRequested = false;
          setState('failed', 'destroy-failed');
          return;
        }
        log.warn('host unreachable during destroy; leaving cleanup to its reconcile', { sessionId, hostId: s.hostId });
      }
    }
    await releaseSlot();
    setState('destroyed');
  }

  setHandler(infoQuery, info);
  setHandler(listSnapshotsQuery, () => s.snapshots);

  setHandler(
    createUpdate,
    async () => {
      await condition(() => s.state !== 'creating');
      if (createError) throw createError;
      return info();
    },
    {
      validator: (raw) => {
        const asked = parseInput(CreateSessionRequest, raw, 'create request');
        if (!sameValue(asked, req)) {
          throw sbxFailure(SbxErrorType.SessionExists, `session ${sessionId} already exists with different parameters`);
        }
      },
    },
  );

  setHandler(
    execUpdate,
    async (raw) => {
      const request = ExecRequest.parse(raw);
      const recorded = cache.get(request.toolCallId);
      if (recorded) return recorded.result;
      const running = inFlight.get(request.toolCallId);
      if (running) return running;
      const call = runTool(async () => {
        const shown: LastToolCall = { name: 'exec', toolCallId: request.toolCallId, command: request.command };
        const result = await shownAs(
          shown,
          () =>
            onTool('exec', (acts) => acts.execCommand({ sandboxId: sandboxId(), request, resources: req.resources }), {
              startToCloseTimeout: request.timeoutMs + 60_000,
              heartbeatTimeout: '30 seconds',
              // A command may have run on a host that died mid-way. The host's tool-call journal makes a
              // retry safe (it returns the recorded result, or OutcomeUnknown, and never runs it twice),
              // so a host that comes back answers what really happened instead of a bare HostLost.
              retry: patched('exec-retry-through-journal') ? EXEC_RETRY : { maximumAttempts: 1 },
            }),
          ({ exitCode, status }) => ({ ...shown, result: { exitCode, status } }),
        );
        s.toolCalls++;
        cache.record(request.toolCallId, result);
        return result;
      });
      inFlight.set(request.toolCallId, call);
      try {
        return await call;
      } finally {
        inFlight.delete(request.toolCallId);
      }
    },
    {
      validator: (raw) => {
        const { toolCallId } = parseInput(ExecRequest, raw, 'exec request');
        allowed('exec');
        // A repeated toolCallId answers from the record or joins the call in flight: no new slot.
        if (!cache.get(toolCallId) && !inFlight.has(toolCallId)) assertToolSlot();
      },
    },
  );

  /**
   * A tool-call update: validated (input and session state) before it is accepted, then run on the
   * host under the shared lock. Its name labels errors.
   */
  function toolUpdate<S extends z.ZodType, R>(
    update: UpdateDefinition<R, [z.input<S>]>,
    schema: S,
    operation: Operation,
    call: (acts: HostActs, request: z.output<S>) => Promise<R>,
  ): void {
    setHandler(update, (raw) => runTool(() => shownAs({ name: update.name }, () => onTool(update.name, (acts) => call(acts, schema.parse(raw))))), {
      validator: (raw) => (parseInput(schema, raw, `${update.name} request`), allowed(operation), assertToolSlot()),
    });
  }

  toolUpdate(writeFilesUpdate, WriteFilesRequest, 'files', (acts, request) => acts.writeFiles({ sandboxId: sandboxId(), ...request }));
  toolUpdate(readFileUpdate, ReadFileRequest, 'files', (acts, request) => acts.readFile({ sandboxId: sandboxId(), request }));
  toolUpdate(listDirUpdate, ListDirRequest, 'files', (acts, request) => acts.listDir({ sandboxId: sandboxId(), request }));
  toolUpdate(statPathUpdate, StatPathRequest, 'files', (acts, request) => acts.statPath({ sandboxId: sandboxId(), request }));
  toolUpdate(deletePathUpdate, DeletePathRequest, 'files', (acts, request) => acts.deletePath({ sandboxId: sandboxId(), request }));
  toolUpdate(launchProcessUpdate, LaunchProcessRequest, 'exec', (acts, request) => acts.launchProcess({ sandboxId: sandboxId(), request }));
  toolUpdate(processStatusUpdate, ProcessRef, 'files', (acts, { processId }) => acts.processStatus({ sandboxId: sandboxId(), processId }));
  toolUpdate(killProcessUpdate, ProcessRef, 'files', (acts, { processId }) => acts.killProcess({ sandboxId: sandboxId(), processId }));

  setHandler(
    turnCompleteUpdate,
    () =>
      lock.runExclusive(async () => {
        allowed('turnComplete');
        const turn = s.turn + 1;
        const name = turnSnapshotName(turn);
        const snap = await onHost('turn snapshot', () => hostActs().snapshotSandbox({ sandboxId: sandboxId(), name }));
        s.snapshots.push({ name, turn, createdAt: new Date().toISOString(), usedBytes: snap.usedBytes, referencedBytes: snap.referencedBytes });
        s.turn = turn;
        upsertSearchAttributes([{ key: SbxTurn, value: turn }]);
        showStory();
        const prune = snapshotsToPrune(s.snapshots, req.maxSnapshots);
        if (prune.length > 0) {
          await onHost('prune snapshots', () => hostActs().destroySnapshots({ sandboxId: sandboxId(), names: prune }));
          s.snapshots = s.snapshots.filter((snapshot) => !prune.includes(snapshot.name));
        }
        return { snapshotId: name, turn, usedBytes: snap.referencedBytes };
      }),
    { validator: () => allowed('turnComplete') },
  );

  setHandler(
    snapshotUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        allowed('snapshot');
        const { name } = NamedSnapshotRequest.parse(raw);
        const existing = s.snapshots.find((snapshot) => snapshot.name === name);
        if (existing) return existing;
        const full = namedSnapshotLimit(s.snapshots, req.maxNamedSnapshots, sessionId);
        if (full && patched('named-snapshot-cap')) throw full;
        const snap = await onHost('snapshot', () => hostActs().snapshotSandbox({ sandboxId: sandboxId(), name }));
        const record: SnapshotRecord = {
          name,
          createdAt: new Date().toISOString(),
          usedBytes: snap.usedBytes,
          referencedBytes: snap.referencedBytes,
        };
        s.snapshots.push(record);
        return record;
      }),
    {
      validator: (raw) => {
        const { name } = parseInput(NamedSnapshotRequest, raw, 'snapshot request');
        if (name.startsWith(TURN_PREFIX)) {
          throw sbxFailure(SbxErrorType.InvalidArgument, `snapshot names starting with '${TURN_PREFIX}' are reserved for turns`);
        }
        allowed('snapshot');
        if (!s.snapshots.some((snapshot) => snapshot.name === name)) {
          const full = namedSnapshotLimit(s.snapshots, req.maxNamedSnapshots, sessionId);
          if (full) throw full;
        }
      },
    },
  );

  setHandler(
    rollbackUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        allowed('rollback');
        const target = resolveSnapshot(s.snapshots, SnapshotTarget.parse(raw), s.turn);
        // The sandbox restarts on the rolled-back filesystem, so a paused one comes back active.
        await onHost('rollback', () => hostActs().rollbackSandbox({ sandboxId: sandboxId(), name: target.name, resources: req.resources }));
        s.snapshots = snapshotsAfterRollback(s.snapshots, target.name);
        s.turn = turnAfterRollback(s.snapshots);
        upsertSearchAttributes([{ key: SbxTurn, value: s.turn }]);
        showStory();
        if (s.state === 'paused') {
          s.pauseMode = undefined;
          setState('active');
        }
        return { snapshotId: target.name, turn: s.turn };
      }),
    {
      validator: (raw) => {
        resolveSnapshot(s.snapshots, parseInput(SnapshotTarget, raw, 'rollback request'), s.turn);
        allowed('rollback');
      },
    },
  );

  setHandler(
    forkUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        allowed('fork');
        const request = ForkRequest.parse(raw);
        const source = resolveSnapshot(s.snapshots, request, s.turn);
        // A fork takes a slot on its source's host like any session; without one it fails here,
        // before anything is made.
        const fleetId = s.fleetId && patched('fork-reserves-fleet-slot') ? s.fleetId : undefined;
        if (fleetId) {
          await placement
            .reserveSlot({ sessionId: request.newSessionId, template: req.template, hostId: s.hostId! })
            .catch((err) => {
              throw err instanceof ActivityFailure && err.cause instanceof ApplicationFailure
                ? sbxFailure(err.cause.type as SbxErrorType, `cannot fork into ${request.newSessionId}: ${err.cause.message}`)
                : err;
            });
        }
        const child = await startChild(SessionWorkflow, {
          workflowId: sessionWorkflowId(request.newSessionId),
          args: [
            {
              request: { ...req, sessionId: request.newSessionId, hostId: s.hostId },
              forkOf: { sessionId, snapshot: source.name, hostId: s.hostId!, sandboxId: sandboxId(), fleetId },
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: SbxSessionState, value: 'creating' },
            { key: SbxTemplate, value: req.template },
            { key: SbxHost, value: s.hostId! },
            { key: SbxTurn, value: 0 },
          ],
          staticSummary: `sbx session ${request.newSessionId}, forked from ${sessionId}@${source.name}`,
          ...(story ? { memo: sessionMemo(req) } : {}),
        }).catch(async (err: Error) => {
          if (fleetId) await releaseFleetSlot(fleetId, request.newSessionId, s.hostId!);
          throw sbxFailure(SbxErrorType.SessionExists, `cannot fork into ${request.newSessionId}: ${err.message}`);
        });
        try {
          await onHost('fork copy', () =>
            hostActs().createSandbox({
              sandboxId: request.newSessionId,
              origin: { kind: 'snapshot', sandboxId: sandboxId(), snapshot: source.name },
              quotaBytes: req.quotaBytes,
            }),
          );
        } catch (err) {
          await child.signal(forkReadySignal, { ok: false, message: (err as Error).message });
          throw err;
        }
        await child.signal(forkReadySignal, { ok: true });
        return { sessionId: request.newSessionId, fromSnapshot: source.name };
      }),
    {
      validator: (raw) => {
        const request = parseInput(ForkRequest, raw, 'fork request');
        if (request.newSessionId === sessionId) {
          throw sbxFailure(SbxErrorType.InvalidArgument, 'a fork needs a new session id, not the source id');
        }
        resolveSnapshot(s.snapshots, request, s.turn);
        allowed('fork');
      },
    },
  );

  setHandler(
    destroyUpdate,
    async () => {
      destroyError = undefined;
      destroyRequested = true;
      stopTools();
      await condition(() => s.state === 'destroyed' || destroyError !== undefined);
      if (destroyError) throw destroyError;
      return info();
    },
    { validator: () => allowed('destroy') },
  );

  /**
   * A signal has no reply, and one that throws would fail the workflow task over and over: input that
   * does not parse is recorded where info shows it, logged with its reason, and otherwise ignored.
   */
  function signalInput<S extends z.ZodType>(name: string, schema: S, raw: unknown): z.output<S> | undefined {
    try {
      return parseInput(schema, raw, `${name} signal input`);
    } catch (err) {
      const reason = (err as Error).message;
      s.lastRejectedSignal = { name, reason, at: new Date().toISOString() };
      log.warn('rejected a signal', { sessionId, signal: name, reason });
      return undefined;
    }
  }

  setHandler(hostLostSignal, (raw) => {
    const hostId = signalInput('hostLost', HostRef, raw)?.hostId;
    if (hostId === undefined || hostId !== s.hostId || s.state === 'destroyed' || s.state === 'destroying' || s.state === 'failed') return;
    log.warn('the fleet reports this session\'s host lost', { sessionId, hostId });
    setState('failed', 'host-lost');
  });
  setHandler(forkReadySignal, (raw) => {
    forkReady = signalInput('forkReady', ForkReady, raw) ?? forkReady;
  });
  setHandler(pauseSignal, (raw) => {
    const request = signalInput('pause', PauseRequest, raw ?? {});
    if (request) pending.push({ kind: 'pause', mode: request.mode, reason: 'signal' });
  });
  setHandler(resumeSignal, () => {
    pending.push({ kind: 'resume' });
  });
  // The update twins run under the lifecycle lock like the signals' queue, and answer with the outcome.
  setHandler(
    pauseNowUpdate,
    async (raw) => {
      const { mode } = PauseRequest.parse(raw ?? {});
      await lock.runExclusive(async () => {
        allowed('pause');
        await pause(mode);
      });
      activitySeq++; // the main loop re-arms its idle timer for the new state
      return info();
    },
    { validator: (raw) => (parseInput(PauseRequest, raw ?? {}, 'pauseNow request'), allowed('pause')) },
  );
  setHandler(
    resumeNowUpdate,
    async () => {
      await lock.runExclusive(async () => {
        if (s.state !== 'active') allowed('resume');
        await resume();
      });
      activitySeq++;
      return info();
    },
    { validator: () => s.state === 'active' || allowed('resume') },
  );

  showStory();
  const memo = sessionMemo(req);
  const memoShown = workflowInfo().memo ?? {};
  // A start without sbx's client (the `temporal` CLI) carries no memo, or one that does not match the request.
  if (story && Object.entries(memo).some(([key, value]) => !sameValue(memoShown[key], value))) upsertMemo(memo);
  if (s.state === 'creating') {
    upsertSearchAttributes([
      { key: SbxTemplate, value: req.template },
      { key: SbxTurn, value: 0 },
    ]);
    await create();
  }
  if (s.deadline !== undefined) {
    const remaining = Math.max(0, s.deadline - now());
    void sleep(remaining).then(() => {
      lifetimeExpired = true;
    });
  }

  // One timer per idle period instead of two timer rows per tool call.
  const idleClock = patched('one-idle-timer-per-period') ? new IdleClock(req.idleTimeoutMs) : undefined;
  for (;;) {
    const seen = activitySeq;
    const idleTimeout = s.state === 'active' && req.idleTimeoutMs > 0 ? req.idleTimeoutMs : undefined;
    const wake = () =>
      destroyRequested || lifetimeExpired || pending.length > 0 || activitySeq !== seen || workflowInfo().continueAsNewSuggested;
    const woke = idleClock
      ? await idleClock.wait(idleTimeout !== undefined, wake)
      : idleTimeout === undefined ? (await condition(wake), true) : await condition(wake, idleTimeout);
    // A tool call starting or ending, or one still running when the period ends, is activity.
    if (activitySeq !== seen || (!woke && !lock.idle)) idleClock?.touch();
    if (!woke && lock.idle) pending.push({ kind: 'pause', mode: req.idlePauseMode, reason: 'idle' });
    if (lifetimeExpired && !destroyRequested && s.state !== 'destroyed') {
      log.info('session reached its max lifetime; destroying', { sessionId });
      destroyRequested = true;
      stopTools();
    }
    if (destroyRequested) {
      await lock.runExclusive(destroy);
      if (s.state === 'destroyed') break;
      continue;
    }
    while (pending.length > 0) {
      const signal = pending.shift()!;
      await lock
        .runExclusive(() => (signal.kind === 'pause' ? pause(signal.mode) : resume()))
        .catch((err) => log.warn(`${signal.kind} failed`, { sessionId, error: String(err) }));
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && lock.idle);
      if (destroyRequested || pending.length > 0) continue;
      await continueAsNew<typeof SessionWorkflow>({
        request: req,
        forkOf: input.forkOf,
        carried: { ...s, toolCache: cache.carry(CARRIED_OUTPUT_BUDGET_BYTES) },
      });
    }
  }
  await condition(allHandlersFinished);
  return info();
}
