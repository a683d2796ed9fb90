import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { FleetId, HostId, TemplateName } from '../../common/names.js';

/**
 * Where a host runs. EC2's `shutting-down` counts as `terminated`: for a fleet it is gone already.
 * `stopping`/`stopped` hosts still exist and still count against the fleet.
 */
export const InstanceState = z.enum(['pending', 'running', 'stopping', 'stopped', 'terminated']);
export type InstanceState = z.infer<typeof InstanceState>;

export interface Instance {
  instanceId: string;
  hostId: string;
  state: InstanceState;
  privateIp?: string;
}

export const LaunchRequest = z.object({ fleetId: FleetId, hostId: HostId, template: TemplateName.optional() });
export type LaunchRequest = z.infer<typeof LaunchRequest>;

export const ListRequest = z.object({ fleetId: FleetId });
export type ListRequest = z.infer<typeof ListRequest>;

export const WaitOptions = z.object({ timeoutMs: z.number().int().positive().max(3_600_000).default(300_000) });
export type WaitOptions = z.input<typeof WaitOptions> & { signal?: AbortSignal };

/**
 * Starts and stops sandbox hosts. Every method is idempotent, so a retried activity is harmless:
 * - `launch` with a fleetId and hostId already launched returns that same instance;
 * - `terminate` of an instance that is gone already, or that the provider does not know, succeeds;
 * - `describe` of an unknown instance returns undefined;
 * - `list` returns the fleet's instances that are not terminated, over every page.
 * Malformed input is rejected with an InvalidArgument failure before anything is done.
 */
export interface Provisioner {
  readonly kind: 'ec2' | 'local' | 'static';
  launch(request: LaunchRequest): Promise<Instance>;
  terminate(instanceId: string): Promise<void>;
  describe(instanceId: string): Promise<Instance | undefined>;
  list(request: ListRequest): Promise<Instance[]>;
  /** Resolves once the instance runs; fails with HostLost if it ends, Busy if the time runs out. */
  waitUntilRunning(instanceId: string, options?: WaitOptions): Promise<Instance>;
}

/** The outcome of waiting on an instance that can only be running or gone (local and static hosts). */
export function runningOrLost(instanceId: string, instance: Instance | undefined): Instance {
  if (instance?.state === 'running') return instance;
  throw sbxFailure(SbxErrorType.HostLost, `instance ${instanceId} is ${instance?.state ?? 'gone'}, not running`);
}
