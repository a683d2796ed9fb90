import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { fleetWorkflowId } from '../../common/names.js';
import { placeUpdate } from '../../workflows/messages.js';

export interface PlacementConfig {
  /** The host sessions go to when the create request names none and there is no fleet. */
  defaultHostId?: string;
  /** With a fleet, its `place` update chooses the host and reserves the slot. */
  fleet?: { fleetId: string; client: Client };
}

export interface Placement {
  hostId: string;
  fleetId?: string;
}

/** The one placement step of a session's create. */
export function createPlacementActivities(config: PlacementConfig) {
  return {
    async placeSession(input: { sessionId: string; template: string; hostId?: string }): Promise<Placement> {
      if (input.hostId) return { hostId: input.hostId };
      if (config.fleet) {
        const { fleetId, client } = config.fleet;
        // The fleet may wait for a host to boot. Heartbeats let a crashed worker's attempt be retried
        // elsewhere (place is idempotent), and a cancelled attempt (worker shutdown) stops waiting.
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 2000);
        try {
          const placed = await client.withAbortSignal(ctx.cancellationSignal, () =>
            client.workflow
              .getHandle(fleetWorkflowId(fleetId))
              .executeUpdate(placeUpdate, {
                args: [{ sessionId: input.sessionId, template: input.template }],
                updateId: `place-${input.sessionId}`,
              }),
          );
          return { hostId: placed.hostId, fleetId };
        } finally {
          clearInterval(beat);
        }
      }
      if (config.defaultHostId) return { hostId: config.defaultHostId };
      throw sbxFailure(
        SbxErrorType.InvalidArgument,
        `no host for session ${input.sessionId}: pass hostId, or start the control worker with --default-host or --fleet`,
      );
    },
  };
}

export type PlacementActivities = ReturnType<typeof createPlacementActivities>;
