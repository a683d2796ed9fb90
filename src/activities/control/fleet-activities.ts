import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { FleetId, HostId } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';
import type { Instance, Provisioner } from './provisioner.js';

const LaunchHostInput = z.object({ fleetId: FleetId, hostId: HostId });
const TerminateHostInput = z.object({ instanceId: z.string().min(1) });

/**
 * Heartbeats while `fn` runs, so an attempt lost with its control worker is retried on another within
 * the heartbeat timeout rather than at the end of the start-to-close timeout. Launch and terminate are
 * idempotent, so the retry is safe.
 */
async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}

/** The fleet workflow's hands: launch and terminate hosts through the configured provisioner. */
export function createFleetActivities(provisioner: Provisioner) {
  return {
    async launchHost(raw: z.input<typeof LaunchHostInput>): Promise<Instance> {
      const input = parseInput(LaunchHostInput, raw, 'launchHost input');
      return heartbeating(() => provisioner.launch(input));
    },
    async terminateHost(raw: z.input<typeof TerminateHostInput>): Promise<void> {
      const input = parseInput(TerminateHostInput, raw, 'terminateHost input');
      await heartbeating(() => provisioner.terminate(input.instanceId));
    },
  };
}

export type FleetActivities = ReturnType<typeof createFleetActivities>;
