import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { HostId, RunId, SandboxId, SessionId, SnapshotName, TemplateName } from '../common/names.js';
import type { FleetConfigInput } from './fleet-config.js';
import type { WarmPoolConfigInput } from './warm-pool-config.js';
import { LaunchProcessRequest, ProcessId, type ProcessStatus } from '../common/processes.js';
import {
  DEFAULT_RESOURCES,
  DeletePathRequest,
  ExecRequest,
  ListDirRequest,
  QuotaBytes,
  ReadFileRequest,
  Resources,
  StatPathRequest,
  WriteFilesRequest,
  type ListDirResult,
  type PathStat,
  type ExecResult,
  type ReadFileResult,
} from '../common/sandbox.js';
import { lazySchema } from '../common/lazy-schema.js';

/** Every message of the session workflow, defined once and imported by workflow and client alike. */

export const SessionState = lazySchema(() => z.enum(['creating', 'active', 'paused', 'destroying', 'destroyed', 'failed']));
export type SessionState = z.infer<typeof SessionState>;
export const PauseMode = lazySchema(() => z.enum(['freeze', 'hibernate']));
export type PauseMode = z.infer<typeof PauseMode>;

/** Tool calls a session runs at once unless its create request says otherwise. */
export const DEFAULT_MAX_TOOL_CALLS = 4;

const durationMs = (what: string) =>
  z.number().int(`${what} must be a whole number of milliseconds`).min(0, `${what} must not be negative`);

export const DEFAULT_MAX_NAMED_SNAPSHOTS = 100;
/** Labels travel with the create request and the workflow's details: a bounded few. */
const MAX_LABELS = 64;

/** What a session is made with. `hostId` is optional: placement picks one when absent. */
export const CreateSessionRequest = lazySchema(() =>
  z.object({
    sessionId: SessionId,
    template: TemplateName.default('busybox'),
    hostId: HostId.optional(),
    resources: Resources.default(DEFAULT_RESOURCES),
    quotaBytes: QuotaBytes.optional(),
    /** Auto-pause after this long without a tool call; 0 disables. */
    idleTimeoutMs: durationMs('idleTimeoutMs').default(30 * 60_000),
    idlePauseMode: PauseMode.default('freeze'),
    /** Destroy this long after creation; 0 disables. */
    maxLifetimeMs: durationMs('maxLifetimeMs').default(24 * 3600_000),
    /** An exec on a paused session resumes it instead of failing with SessionPaused. */
    autoResume: z.boolean().default(false),
    /** Oldest turn snapshots beyond this are pruned; the newest is always kept. */
    maxSnapshots: z.number().int().min(1, 'maxSnapshots must be at least 1').max(10_000).default(100),
    /**
     * Tool calls this session runs at once; more are refused with Busy. The host may allow fewer
     * (its maxToolCallsPerSession), answering Busy too.
     */
    maxToolCalls: z
      .number()
      .int('maxToolCalls must be a whole number')
      .min(1, 'maxToolCalls must be at least 1')
      .max(64, 'maxToolCalls must be at most 64')
      .default(DEFAULT_MAX_TOOL_CALLS),
    /** Named snapshots the session may keep; one more is refused (rollback drops later ones). */
    maxNamedSnapshots: z.number().int().min(0).max(1000, 'maxNamedSnapshots may be at most 1000').default(DEFAULT_MAX_NAMED_SNAPSHOTS),
    labels: z
      .record(z.string().max(63), z.string().max(256))
      .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)
      .default({}),
    /** How long a host may take to pick up a task before it counts as lost. */
    hostTimeoutMs: durationMs('hostTimeoutMs').min(1000, 'hostTimeoutMs must be at least 1000').default(60_000),
  }),
);
export type CreateSessionRequest = z.output<typeof CreateSessionRequest>;
export type CreateSessionInput = z.input<typeof CreateSessionRequest>;

export const SnapshotTarget = lazySchema(() =>
  z
    .object({ turn: z.number().int().min(1, 'turn must be at least 1').optional(), snapshot: SnapshotName.optional() })
    .refine((t) => (t.turn === undefined) !== (t.snapshot === undefined), 'give exactly one of turn or snapshot'),
);
export type SnapshotTarget = z.infer<typeof SnapshotTarget>;

export const ForkRequest = lazySchema(() => z.object({ newSessionId: SessionId }).and(SnapshotTarget));
export type ForkRequest = z.infer<typeof ForkRequest>;

export const NamedSnapshotRequest = lazySchema(() => z.object({ name: SnapshotName }));
export const ProcessRef = lazySchema(() => z.object({ processId: ProcessId }));
export const PauseRequest = lazySchema(() => z.object({ mode: PauseMode.default('freeze') }));

export interface SnapshotRecord {
  name: string;
  /** Set for turn snapshots. */
  turn?: number;
  createdAt: string;
  usedBytes: number;
  referencedBytes: number;
}

/** A signal the session could not act on: kept so callers and the UI see why nothing happened. */
export interface RejectedSignal {
  name: string;
  reason: string;
  at: string;
}

export interface SessionInfo {
  sessionId: string;
  state: SessionState;
  failureReason?: string;
  hostId?: string;
  template: string;
  turn: number;
  snapshots: SnapshotRecord[];
  pauseMode?: PauseMode;
  forkedFrom?: { sessionId: string; snapshot: string };
  /** The sandbox on the host: the session's own id, or the warm sandbox it claimed. */
  sandboxId: string;
  /** Set when the session claimed a warm sandbox: its pool and when it was ready. */
  warmClaim?: { pool: string; readyAt: string };
  createdAt: string;
  toolCalls: number;
  runs: number;
  /** The latest signal refused for its input (signals have no reply); absent when none was. */
  lastRejectedSignal?: RejectedSignal;
}

export interface TurnResult {
  snapshotId: string;
  turn: number;
  usedBytes: number;
}

export interface RollbackResult {
  snapshotId: string;
  turn: number;
}

export interface ForkResult {
  sessionId: string;
  fromSnapshot: string;
}

export const createUpdate = defineUpdate<SessionInfo, [CreateSessionInput]>('create');
export const execUpdate = defineUpdate<ExecResult, [z.input<typeof ExecRequest>]>('exec');
export const writeFilesUpdate = defineUpdate<void, [z.input<typeof WriteFilesRequest>]>('writeFiles');
export const readFileUpdate = defineUpdate<ReadFileResult, [z.input<typeof ReadFileRequest>]>('readFile');
export const listDirUpdate = defineUpdate<ListDirResult, [z.input<typeof ListDirRequest>]>('listDir');
export const statPathUpdate = defineUpdate<PathStat, [z.input<typeof StatPathRequest>]>('statPath');
export const deletePathUpdate = defineUpdate<void, [z.input<typeof DeletePathRequest>]>('deletePath');
export const turnCompleteUpdate = defineUpdate<TurnResult, []>('turnComplete');
export const snapshotUpdate = defineUpdate<SnapshotRecord, [z.input<typeof NamedSnapshotRequest>]>('snapshot');
export const rollbackUpdate = defineUpdate<RollbackResult, [SnapshotTarget]>('rollback');
export const forkUpdate = defineUpdate<ForkResult, [ForkRequest]>('fork');
export const destroyUpdate = defineUpdate<SessionInfo, []>('destroy');
export const launchProcessUpdate = defineUpdate<ProcessStatus, [z.input<typeof LaunchProcessRequest>]>('launchProcess');
export const processStatusUpdate = defineUpdate<ProcessStatus, [z.input<typeof ProcessRef>]>('processStatus');
export const killProcessUpdate = defineUpdate<ProcessStatus, [z.input<typeof ProcessRef>]>('killProcess');

/** One page of a tool call's full output (see ExecResult.fullOutput), read back by its reference. */
export const MAX_OUTPUT_PAGE_BYTES = 1024 * 1024;
export const OutputStream = lazySchema(() => z.enum(['stdout', 'stderr']));
export type OutputStream = z.infer<typeof OutputStream>;
export const ReadOutputRequest = lazySchema(() =>
  z.object({
    /** `fullOutput.ref` of the exec result. */
    ref: z.string().min(1).max(200, 'ref must be at most 200 characters'),
    stream: OutputStream.default('stdout'),
    /** Where the page starts, in bytes; the page's `nextOffset` is where the next one does. */
    offset: z.number().int('offset must be a whole number of bytes').min(0, 'offset must not be negative').default(0),
    maxBytes: z
      .number()
      .int()
      .positive()
      .max(MAX_OUTPUT_PAGE_BYTES, `maxBytes may be at most ${MAX_OUTPUT_PAGE_BYTES}: read further pages with offset`)
      .default(MAX_OUTPUT_PAGE_BYTES),
  }),
);
export interface OutputPage {
  stream: OutputStream;
  /** UTF-8 text when the page is valid UTF-8 (a page never splits a character), else base64. */
  data: string;
  encoding: 'utf8' | 'base64';
  offset: number;
  /** Bytes of the stream kept on the host. */
  totalBytes: number;
  /** Set when the stream goes on past this page. */
  nextOffset?: number;
}
export const readOutputUpdate = defineUpdate<OutputPage, [z.input<typeof ReadOutputRequest>]>('readOutput');

export const pauseSignal = defineSignal<[z.input<typeof PauseRequest>]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
/** The update twins of pause and resume: they answer when done, with the session's info or a typed error. */
export const pauseNowUpdate = defineUpdate<SessionInfo, [z.input<typeof PauseRequest>]>('pauseNow');
export const resumeNowUpdate = defineUpdate<SessionInfo, []>('resumeNow');
/**
 * Sent by a forking parent once the fork's filesystem is copied (or failed to be); `started` when the
 * copy also started the fork's sandbox, so the fork has nothing left to make.
 */
export const ForkReady = lazySchema(() => z.object({ ok: z.boolean(), message: z.string().optional(), started: z.boolean().optional() }));
export const forkReadySignal = defineSignal<[z.input<typeof ForkReady>]>('forkReady');

export const infoQuery = defineQuery<SessionInfo>('info');
export const listSnapshotsQuery = defineQuery<SnapshotRecord[]>('listSnapshots');

export { DeletePathRequest, ExecRequest, LaunchProcessRequest, ListDirRequest, ReadFileRequest, StatPathRequest, WriteFilesRequest };

/** Fleet messages: host workers heartbeat, session creates place and destroys release. */
export const HostHeartbeat = lazySchema(() =>
  z.object({
    hostId: HostId,
    instanceId: z.string().optional(),
    /** Slots for sessions: the host's maximum less those its quarantined sandboxes hold (0 when all do). */
    maxSessions: z.number().int().min(0),
    sessions: z.number().int().min(0),
    healthy: z.boolean(),
    templates: z.array(TemplateName),
  }),
);
export type HostHeartbeat = z.infer<typeof HostHeartbeat>;

/**
 * A slot for a sandbox. `sessionId` is the slot's key: a session's id, or a warm sandbox's id.
 * `hostId` pins the slot to that host (a fork lives beside its source) and fails at once when it is
 * full. `warmPool` marks a warm sandbox: the pool that owns it until a session claims it; such a
 * placement yields to waiting sessions.
 */
export const PlaceRequest = lazySchema(() =>
  z.object({
    sessionId: SandboxId,
    template: TemplateName,
    hostId: HostId.optional(),
    warmPool: z.string().min(1).optional(),
  }),
);
export type PlaceRequest = z.infer<typeof PlaceRequest>;
export const ReleaseRequest = lazySchema(() => z.object({ sessionId: SandboxId, hostId: HostId }));
export type ReleaseRequest = z.infer<typeof ReleaseRequest>;
export const DrainRequest = lazySchema(() => z.object({ hostId: HostId }));
export type DrainRequest = z.infer<typeof DrainRequest>;

export interface FleetHostStatus {
  hostId: string;
  state: 'provisioning' | 'ready' | 'draining' | 'terminating' | 'lost';
  instanceId?: string;
  maxSessions: number;
  sessions: string[];
  /** Sandboxes the host holds beyond `sessions` (see FleetHost.untracked). */
  untracked?: number;
  /** Of `sessions`, the warm sandboxes no session has claimed yet. */
  warm: string[];
  healthy: boolean;
  lastHeartbeat?: number;
}

export interface FleetStatus {
  fleetId: string;
  autoscale: boolean;
  hosts: FleetHostStatus[];
  capacity: number;
  warmSlots: number;
  waitingPlacements: number;
  counters: Record<string, number>;
}

export const hostHeartbeatSignal = defineSignal<[HostHeartbeat]>('hostHeartbeat');
export const releaseSignal = defineSignal<[ReleaseRequest]>('release');
export const placeUpdate = defineUpdate<{ hostId: string }, [PlaceRequest]>('place');
export const drainUpdate = defineUpdate<FleetHostStatus, [DrainRequest]>('drain');
export const fleetStatusQuery = defineQuery<FleetStatus>('status');
/** The control worker's fleet settings; until they arrive a fleet only registers hosts and places. */
export const configureFleetSignal = defineSignal<[FleetConfigInput]>('configure');
/** Sent by the fleet to each session on a host that stopped heartbeating. */
export const hostLostSignal = defineSignal<[{ hostId: string }]>('hostLost');

/** Warm-pool messages: session creates claim, the fleet reports lost and draining hosts. */
export const ClaimRequest = lazySchema(() =>
  z.object({
    sessionId: SessionId,
    resources: Resources,
    quotaBytes: QuotaBytes.optional(),
    /** The claiming session's run, passed on to the host with the hand-over (a hint: the host checks it with Temporal). */
    runId: RunId.optional(),
  }),
);
export type ClaimRequest = z.input<typeof ClaimRequest>;

/** A claimed warm sandbox: the session keeps using its id on the host. */
export interface WarmClaim {
  sandboxId: string;
  hostId: string;
  /** When the sandbox was ready, before the claim. */
  readyAt: string;
}

export const SandboxRelease = lazySchema(() => z.object({ sandboxId: SandboxId }));
export const HostRef = lazySchema(() => z.object({ hostId: HostId }));
/** A warm pool's notice to the fleet that `sessionId` claimed the warm sandbox `sandboxId` on `hostId`. */
export const WarmClaimed = lazySchema(() => z.object({ sandboxId: SandboxId, hostId: HostId, sessionId: SessionId }));

export type WarmSandboxState = 'warming' | 'ready' | 'claimed' | 'removing';
export interface WarmSandboxStatus {
  sandboxId: string;
  state: WarmSandboxState;
  hostId?: string;
  sessionId?: string;
  readyAt?: string;
}

export interface WarmPoolStatus {
  fleetId: string;
  template: string;
  size: number;
  ready: number;
  warming: number;
  claimed: number;
  sandboxes: WarmSandboxStatus[];
  counters: Record<string, number>;
}

/** Claims a ready sandbox; null when none matches, and the session is then created cold. */
export const claimUpdate = defineUpdate<WarmClaim | null, [ClaimRequest]>('claim');
/** Sent by a session that claimed a warm sandbox when it is destroyed. */
export const warmReleasedSignal = defineSignal<[{ sandboxId: string }]>('warmReleased');
/** Sent by the fleet when a host holding warm sandboxes starts draining: move them elsewhere. */
export const evictHostSignal = defineSignal<[{ hostId: string }]>('evictHost');
export const configureWarmPoolSignal = defineSignal<[WarmPoolConfigInput]>('configure');
export const warmPoolStatusQuery = defineQuery<WarmPoolStatus>('status');
/** Sent by a warm pool to the fleet: a claimed slot now belongs to a session. */
export const warmClaimedSignal = defineSignal<[z.input<typeof WarmClaimed>]>('warmClaimed');

/** In the failure of a query refused because it would run the workflow ahead of its history: callers that poll retry on it. */
export const QUERY_AHEAD_OF_HISTORY = 'a query cannot run it ahead of its history; retry the query shortly';
