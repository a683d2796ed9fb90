import { SbxErrorType, sbxFailure } from '../../common/errors.js';

export interface PlacementConfig {
  /** The host sessions go to when the create request names none. */
  defaultHostId?: string;
}

/**
 * The one placement step of a session's create. Until the fleet exists it honours the requested
 * host or falls back to the configured default; the fleet's `place` update will take its place.
 */
export function createPlacementActivities(config: PlacementConfig) {
  return {
    async placeSession(input: { sessionId: string; template: string; hostId?: string }): Promise<string> {
      const hostId = input.hostId ?? config.defaultHostId;
      if (!hostId) {
        throw sbxFailure(
          SbxErrorType.InvalidArgument,
          `no host for session ${input.sessionId}: pass hostId, or start the control worker with --default-host`,
        );
      }
      return hostId;
    },
  };
}

export type PlacementActivities = ReturnType<typeof createPlacementActivities>;
