import { z } from 'zod';
import { FleetId, HostId } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';
import { heartbeating } from './heartbeating.js';
import type { Instance, Provisioner } from './provisioner.js';

const LaunchHostInput = z.object({ fleetId: FleetId, hostId: HostId });
const TerminateHostInput = z.object({ instanceId: z.string().min(1) });

/** The fleet workflow's hands: launch and terminate hosts through the configured provisioner (both idempotent). */
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
