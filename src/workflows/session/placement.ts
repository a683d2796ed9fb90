import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { PlacementActivities } from '../../activities/control/placement.js';
import { withPlacementSummaries } from '../session-story.js';

/** The placement activities; a fleet's place waits for capacity while hosts boot. */
export function placementActivities(story: boolean) {
  const placing = proxyActivities<PlacementActivities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '20 seconds' });
  return story ? withPlacementSummaries(placing) : placing;
}

/** A warm claim is one quick update: as a local activity it completes within the create's first task. */
export function warmClaimer() {
  return proxyLocalActivities<PlacementActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 3 } });
}
