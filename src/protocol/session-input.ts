import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../common/errors.js';
import { FleetId, HostId, SandboxId, SessionId, sessionWorkflowId, SnapshotName } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import type { ExecResult } from '../common/sandbox.js';
import { CreateSessionRequest, PauseMode, SessionState, type RejectedSignal, type SnapshotRecord } from './messages.js';
import { lazySchema } from '../common/lazy-schema.js';

/**
 * The session workflow's own input, parsed inside the workflow: any client in any language may start
 * it, so the workflow applies the same schema (and defaults) as the TypeScript client.
 */
const ForkOf = lazySchema(() =>
  z.object({
    sessionId: SessionId,
    snapshot: SnapshotName,
    hostId: HostId,
    sandboxId: SandboxId.optional(),
    fleetId: FleetId.optional(),
  }),
);

/** What continue-as-new carries; loose so fields added later pass through. */
const Carried = lazySchema(() =>
  z.looseObject({
    state: SessionState,
    turn: z.number().int().min(0),
    snapshots: z.array(z.looseObject({ name: SnapshotName })),
    createdAt: z.string(),
    toolCalls: z.number().int().min(0),
    runs: z.number().int().min(0),
    toolCache: z.array(z.looseObject({ toolCallId: z.string(), result: z.looseObject({}) })),
    hostId: HostId.optional(),
    sandboxId: SandboxId.optional(),
    fleetId: FleetId.optional(),
    pauseMode: PauseMode.optional(),
    deadline: z.number().optional(),
  }),
);

/** Loose like `Carried`: a field the workflow learns later is not dropped by this parse. */
export const SessionWorkflowArgs = lazySchema(() =>
  z.looseObject({ request: CreateSessionRequest, forkOf: ForkOf.optional(), carried: Carried.optional() }),
);

/** Where the workflow runs, as Temporal reports it (`workflowInfo()`); callers cannot set it. */
export interface StartedAs {
  workflowId: string;
  /** Set when a parent workflow started this one (a fork). */
  parentWorkflowId?: string;
  /** Set when this run is a continue-as-new of an earlier one. */
  continuedFromRunId?: string;
}

/**
 * Parses the workflow's input and checks it against how the workflow was started: it must run under
 * its session's own id (`sbx-session-<request.sessionId>`), else it would drive a session it was not
 * made for; `forkOf` comes only from the source session as parent, and `carried` only from
 * continue-as-new. Every failure is InvalidArgument: the start itself was malformed and the caller
 * fixes its input or id (NotOwner is the host's refusal of another workflow's sandbox).
 */
export function parseSessionInput(raw: unknown, started: StartedAs): z.output<typeof SessionWorkflowArgs> {
  const invalid = (message: string) => sbxFailure(SbxErrorType.InvalidArgument, message);
  if (raw === undefined || raw === null) throw invalid('a session workflow needs one argument, such as {"request":{"sessionId":"s1"}}');
  const input = parseInput(SessionWorkflowArgs, raw, 'session workflow input');
  const expected = sessionWorkflowId(input.request.sessionId);
  if (started.workflowId !== expected) {
    throw invalid(
      `workflow id ${started.workflowId} does not match request.sessionId ${input.request.sessionId}: start session ${input.request.sessionId} with workflow id ${expected}`,
    );
  }
  // A continued run's input comes from the session's own earlier run, forkOf included.
  const continued = started.continuedFromRunId !== undefined;
  if (input.forkOf && !continued && started.parentWorkflowId !== sessionWorkflowId(input.forkOf.sessionId)) {
    throw invalid(`forkOf is set only by a fork of session ${input.forkOf.sessionId}; use its fork update`);
  }
  if (input.carried && !continued) {
    throw invalid('carried is set only by the session itself when it continues as new; start a session with {"request":…} alone');
  }
  return input;
}

export interface SessionWorkflowInput {
  request: CreateSessionRequest;
  /**
   * Set when a parent session forks this one: it reserves the fleet slot (when it has a fleet),
   * copies the filesystem, then signals forkReady.
   */
  forkOf?: { sessionId: string; snapshot: string; hostId: string; sandboxId?: string; fleetId?: string };
  carried?: CarriedSession;
}

/** What a session carries across continue-as-new, placed or not. */
interface CarriedCommon {
  state: SessionState;
  failureReason?: string;
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

/** A session not placed yet, or one whose create failed before a host was found. */
export interface UnplacedSession extends CarriedCommon {
  hostId?: undefined;
  sandboxId?: undefined;
  warmClaim?: undefined;
}

/** A placed session: from placement on it keeps its host and sandbox. */
export interface PlacedSession extends CarriedCommon {
  hostId: string;
  /** The sandbox on the host when it is not the session's own id: a claimed warm sandbox. */
  sandboxId?: string;
  warmClaim?: { pool: string; readyAt: string };
}

/** Everything a session keeps across continue-as-new; `hostId` tells a placed session from one that is not. */
export type CarriedSession = UnplacedSession | PlacedSession;

/** A recorded tool call result, carried across continue-as-new. */
export interface CachedToolCall {
  toolCallId: string;
  result: ExecResult;
  /** Output dropped to keep continue-as-new input small; exit code and status are kept. */
  outputDropped?: boolean;
}
