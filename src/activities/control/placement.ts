import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { fleetWorkflowId, warmPoolWorkflowId } from '../../common/names.js';
import type { Resources } from '../../common/sandbox.js';
import { claimUpdate, placeUpdate, type PlaceRequest, type WarmClaim } from '../../workflows/messages.js';
import { heartbeating } from './heartbeating.js';

export type PlacementKind = 'warm' | 'fleet' | 'pinned' | 'explicit' | 'default';

export interface PlacementConfig {
  /** The host sessions go to when the create request names none and there is no fleet. */
  defaultHostId?: string;
  /** With a fleet, its `place` update chooses the host and reserves the slot. */
  fleet?: { fleetId: string; client: Client; warmTemplates?: string[] };
  /** Told how long each placement took, for the placement-latency histogram. */
  onPlaced?: (kind: PlacementKind, seconds: number) => void;
}

export interface Placement {
  hostId: string;
  fleetId?: string;
  /** Set when the session claimed a warm sandbox. */
  warm?: WarmClaim & { pool: string };
}

export interface PlaceSessionInput {
  sessionId: string;
  template: string;
  hostId?: string;
  resources: Resources;
  quotaBytes?: number;
}

/** The placement steps of session creates, forks and warm pools, run on the control worker. */
export function createPlacementActivities(config: PlacementConfig) {
  const timed = async <T extends Placement>(kind: PlacementKind, place: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const placed = await place();
    config.onPlaced?.(placed.warm ? 'warm' : kind, (performance.now() - started) / 1000);
    return placed;
  };

  const requireFleet = (what: string) => {
    if (!config.fleet) {
      throw sbxFailure(SbxErrorType.InvalidState, `${what} needs a fleet: start the control worker with --fleet`);
    }
    return config.fleet;
  };

  /**
   * Runs an update on a fleet-side workflow. The fleet may wait for a host to boot: heartbeats let a
   * crashed worker's attempt be retried elsewhere (both updates are idempotent per id), and a
   * cancelled attempt (worker shutdown) stops waiting.
   */
  async function withHeartbeats<T>(call: (client: Client) => Promise<T>): Promise<T> {
    const { client } = requireFleet('placement');
    return heartbeating(() => client.withAbortSignal(Context.current().cancellationSignal, () => call(client)));
  }

  async function fleetPlace(request: PlaceRequest): Promise<Placement> {
    const { fleetId } = requireFleet('placement');
    const placed = await withHeartbeats((client) =>
      client.workflow
        .getHandle(fleetWorkflowId(fleetId))
        .executeUpdate(placeUpdate, { args: [request], updateId: `place-${request.sessionId}` }),
    );
    return { hostId: placed.hostId, fleetId };
  }

  async function claimWarm(input: PlaceSessionInput): Promise<Placement | undefined> {
    const fleet = config.fleet;
    if (!fleet?.warmTemplates?.includes(input.template)) return undefined;
    const pool = warmPoolWorkflowId(fleet.fleetId, input.template);
    try {
      const claim = await withHeartbeats((client) =>
        client.workflow.getHandle(pool).executeUpdate(claimUpdate, {
          args: [{ sessionId: input.sessionId, resources: input.resources, quotaBytes: input.quotaBytes }],
          updateId: `claim-${input.sessionId}`,
        }),
      );
      return claim ? { hostId: claim.hostId, fleetId: fleet.fleetId, warm: { ...claim, pool } } : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  return {
    /** A new session's host: the one asked for, a warm sandbox, a fleet slot, or the default host. */
    async placeSession(input: PlaceSessionInput): Promise<Placement> {
      if (input.hostId) return timed('explicit', async () => ({ hostId: input.hostId! }));
      if (config.fleet) {
        return timed('fleet', async () => (await claimWarm(input)) ?? fleetPlace({ sessionId: input.sessionId, template: input.template }));
      }
      if (config.defaultHostId) return timed('default', async () => ({ hostId: config.defaultHostId! }));
      throw sbxFailure(
        SbxErrorType.InvalidArgument,
        `no host for session ${input.sessionId}: pass hostId, or start the control worker with --default-host or --fleet`,
      );
    },

    /** A fleet slot on one given host, for a fork that must live beside its source. */
    async reserveSlot(input: { sessionId: string; template: string; hostId: string }): Promise<Placement> {
      return timed('pinned', () => fleetPlace(input));
    },

    /** A fleet slot for a warm pool's sandbox; it yields to sessions waiting for capacity. */
    async placeWarmSandbox(input: { sandboxId: string; template: string; warmPool: string }): Promise<Placement> {
      return fleetPlace({ sessionId: input.sandboxId, template: input.template, warmPool: input.warmPool });
    },
  };
}

export type PlacementActivities = ReturnType<typeof createPlacementActivities>;
