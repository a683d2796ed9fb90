import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  TimeoutFailure,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import { TimeoutType, type ActivityOptions } from '@temporalio/common';
import type { HostActivities } from '../../activities/host/activities.js';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { hostTaskQueue, hostToolsTaskQueue } from '../../common/names.js';
import { withHostSummaries } from '../session-story.js';
import type { SessionEntity } from './entity.js';
import { sessionPatched } from './patches.js';

/** Host activities heartbeat every few seconds: a silent one lost its worker and is retried this soon. */
const HOST_HEARTBEAT_TIMEOUT = '15 seconds';

export type HostActs = ActivityInterfaceFor<HostActivities>;

/** Activity options for a host's lifecycle queue. */
export function hostOptions(hostId: string, hostTimeoutMs: number): ActivityOptions {
  return {
    taskQueue: hostTaskQueue(hostId),
    // Fires when no worker of that host picks the task up: the host is gone. Never retried.
    scheduleToStartTimeout: hostTimeoutMs,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: HOST_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
  };
}

export function timedOut(err: unknown, type: TimeoutType): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === type;
}

/** What a failed host activity means for the caller; `hostLost` when no worker of the host picked it up. */
export interface HostFailure {
  failure: ApplicationFailure;
  hostLost: boolean;
}

/** Translates a host activity's failure into the typed failure the client sees; changes nothing. */
export function hostFailure(what: string, err: unknown, at: { sessionId: string; hostId?: string; hostTimeoutMs: number }): HostFailure {
  if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
    if (err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
      const message = `host ${at.hostId} did not pick up '${what}' within ${at.hostTimeoutMs} ms; session ${at.sessionId} is marked failed (host-lost)`;
      return { failure: sbxFailure(SbxErrorType.HostLost, message), hostLost: true };
    }
    const message = `host ${at.hostId} stopped responding during '${what}'; it may or may not have completed`;
    return { failure: sbxFailure(SbxErrorType.HostLost, message), hostLost: false };
  }
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { failure: sbxFailure((cause.type as SbxErrorType) ?? SbxErrorType.CommandFailed, cause.message), hostLost: false };
  }
  const message = `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`;
  return { failure: sbxFailure(SbxErrorType.CommandFailed, message), hostLost: false };
}

/** The session's calls to its host: lifecycle work on the host's queue, tool calls on its tools queue. */
export class HostCalls {
  /** Tool calls on the host, so a destroy can stop them instead of waiting for them to end. */
  private readonly toolScopes = new Set<CancellationScope>();
  private probe: Promise<boolean> | undefined;

  constructor(private readonly session: SessionEntity) {}

  private summarized(acts: HostActs): HostActs {
    return this.session.story ? withHostSummaries(acts) : acts;
  }

  /** The host's activities on its lifecycle queue. */
  acts(): HostActs {
    return this.summarized(proxyActivities<HostActivities>(hostOptions(this.session.placed().hostId, this.session.req.hostTimeoutMs)));
  }

  /**
   * The typed failure for a host activity's `err`. A host that never picked the task up fails a
   * session still being created (host-lost). A created one is kept: nothing ran, and a host that
   * restarts for longer than hostTimeoutMs comes back with its sandbox; only the fleet's heartbeat
   * check declares a host lost.
   */
  failed(what: string, err: unknown): ApplicationFailure {
    const { sessionId, req, state } = this.session;
    const hostId = this.session.record.hostId;
    const { failure, hostLost } = hostFailure(what, err, { sessionId, hostId, hostTimeoutMs: req.hostTimeoutMs });
    if (!hostLost || state === 'destroying') return failure;
    if ((state === 'active' || state === 'paused') && sessionPatched('host-timeout-keeps-session')) {
      return sbxFailure(
        SbxErrorType.HostLost,
        `host ${hostId} did not pick up '${what}' within ${req.hostTimeoutMs} ms: nothing ran, and session ${sessionId} is kept (${state}); try again once the host is back, or destroy the session`,
      );
    }
    this.session.setState('failed', 'host-lost');
    return failure;
  }

  /** Runs a host activity, turning its failures into the typed failures the client sees. */
  async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.failed(what, err);
    }
  }

  /**
   * Runs a tool call on the host's tools queue, whose slots lifecycle work never needs. A call no
   * tool slot took within hostTimeoutMs means the host is busy, not lost, unless the host also fails
   * to answer a probe on its lifecycle queue: then the call fails as HostLost (see `failed`).
   */
  async tool<T>(what: string, call: (acts: HostActs) => Promise<T>, options: Partial<ActivityOptions> = {}): Promise<T> {
    const { sessionId, req } = this.session;
    const { hostId } = this.session.placed();
    const ownQueue = sessionPatched('tool-calls-on-tools-queue');
    const queue = ownQueue ? { taskQueue: hostToolsTaskQueue(hostId) } : {};
    const scope = new CancellationScope();
    this.toolScopes.add(scope);
    try {
      return await scope.run(() =>
        call(this.summarized(proxyActivities<HostActivities>({ ...hostOptions(hostId, req.hostTimeoutMs), ...options, ...queue }))),
      );
    } catch (err) {
      if (isCancellation(err) && this.session.destroyRequested) {
        throw sbxFailure(SbxErrorType.SessionDestroyed, `session ${sessionId} is being destroyed: its '${what}' was stopped`);
      }
      if (ownQueue && timedOut(err, TimeoutType.SCHEDULE_TO_START) && (await this.answers())) {
        throw sbxFailure(
          SbxErrorType.Busy,
          `host ${hostId} is up but had no free tool slot for '${what}' within ${req.hostTimeoutMs} ms; nothing ran, try again`,
        );
      }
      throw this.failed(what, err);
    } finally {
      this.toolScopes.delete(scope);
    }
  }

  /** A destroy stops the tool calls in flight (a `sleep 3600` would hold it for an hour otherwise). */
  stopTools(): void {
    if (this.toolScopes.size === 0 || !sessionPatched('destroy-stops-tool-calls')) return;
    for (const scope of this.toolScopes) scope.cancel();
  }

  /** Whether the host picks up a health probe on its lifecycle queue; concurrent callers share one probe. */
  private answers(): Promise<boolean> {
    this.probe ??= this.acts()
      .hostHealth()
      .then(
        () => true,
        (err) => !(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure),
      )
      .finally(() => {
        this.probe = undefined;
      });
    return this.probe;
  }
}
