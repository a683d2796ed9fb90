import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { z } from 'zod';
import { fleetWorkflowId, HostId, SandboxId, SessionId, TemplateName, warmPoolWorkflowId } from '../../common/names.js';
import { QuotaBytes, Resources } from '../../common/sandbox.js';
import { parseInput } from '../../common/validate.js';
import { claimUpdate, placeUpdate, type PlaceRequest, type WarmClaim } from '../../protocol/messages.js';
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

export const PlaceSessionInput = z.object({
  sessionId: SessionId,
  template: TemplateName,
  hostId: HostId.optional(),
  resources: Resources,
  quotaBytes: QuotaBytes.optional(),
  /** Try the template's warm pool first; off when the workflow already tried it. */
  claim: z.boolean().default(true),
});
export type PlaceSessionInput = z.input<typeof PlaceSessionInput>;
const ReserveSlotInput = z.object({ sessionId: SessionId, template: TemplateName, hostId: HostId });
const PlaceWarmSandboxInput = z.object({ sandboxId: SandboxId, template: TemplateName, warmPool: z.string().min(1) });

/** The run of the session workflow that placement runs for. */
const callingRunId = (): string | undefined => Context.current().info.workflowExecution?.runId;

/** The placement steps of session creates, forks and warm pools, run on the control worker. */
export function createPlacementActivities(config: PlacementConfig) {
  /** Runs a placement and reports how long it took; a step that placed nothing reports nothing. */
  const timed = async <T extends Placement | undefined>(kind: PlacementKind, place: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const placed = await place();
    if (placed) config.onPlaced?.(placed.warm ? 'warm' : kind, (performance.now() - started) / 1000);
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

  /** A ready sandbox from the template's warm pool, if it has one that fits; one quick update. */
  async function claimWarm(input: z.output<typeof PlaceSessionInput>): Promise<Placement | undefined> {
    const fleet = config.fleet;
    if (!fleet?.warmTemplates?.includes(input.template)) return undefined;
    const pool = warmPoolWorkflowId(fleet.fleetId, input.template);
    try {
      const claim = await fleet.client.withAbortSignal(Context.current().cancellationSignal, () =>
        fleet.client.workflow.getHandle(pool).executeUpdate(claimUpdate, {
          args: [{ sessionId: input.sessionId, resources: input.resources, quotaBytes: input.quotaBytes, runId: callingRunId() }],
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
    async placeSession(raw: PlaceSessionInput): Promise<Placement> {
      const input = parseInput(PlaceSessionInput, raw, 'placeSession input');
      if (input.hostId) return timed('explicit', async () => ({ hostId: input.hostId! }));
      if (config.fleet) {
        return timed(
          'fleet',
          async () =>
            (input.claim ? await claimWarm(input) : undefined) ?? fleetPlace({ sessionId: input.sessionId, template: input.template }),
        );
      }
      if (config.defaultHostId) return timed('default', async () => ({ hostId: config.defaultHostId! }));
      throw sbxFailure(
        SbxErrorType.InvalidArgument,
        `no host for session ${input.sessionId}: pass hostId, or start the control worker with --default-host or --fleet`,
      );
    },

    /**
     * Only the warm claim, run by the session workflow as a local activity so a claimed create
     * finishes in its first workflow task. Null when there is no pool or nothing in it fits. Without
     * a fleet there is no pool, and the default host is known here: that placement is the answer, so
     * a cold create skips the placement activity.
     */
    async claimWarmSandbox(raw: PlaceSessionInput): Promise<Placement | null> {
      const input = parseInput(PlaceSessionInput, raw, 'claimWarmSandbox input');
      if (input.hostId) return null;
      if (!config.fleet && config.defaultHostId) return timed('default', async () => ({ hostId: config.defaultHostId! }));
      return (await timed('warm', () => claimWarm(input))) ?? null;
    },

    /** A fleet slot on one given host, for a fork that must live beside its source. */
    async reserveSlot(raw: z.input<typeof ReserveSlotInput>): Promise<Placement> {
      const input = parseInput(ReserveSlotInput, raw, 'reserveSlot input');
      return timed('pinned', () => fleetPlace(input));
    },

    /** A fleet slot for a warm pool's sandbox; it yields to sessions waiting for capacity. */
    async placeWarmSandbox(raw: z.input<typeof PlaceWarmSandboxInput>): Promise<Placement> {
      const input = parseInput(PlaceWarmSandboxInput, raw, 'placeWarmSandbox input');
      return fleetPlace({ sessionId: input.sandboxId, template: input.template, warmPool: input.warmPool });
    },
  };
}

export type PlacementActivities = ReturnType<typeof createPlacementActivities>;
