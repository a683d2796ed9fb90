import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { HostId } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';
import { type Instance, LaunchRequest, ListRequest, type Provisioner, runningOrLost } from './provisioner.js';

export const StaticHost = z.object({ hostId: HostId, address: z.string().min(1).optional() });
export type StaticHost = z.infer<typeof StaticHost>;

export const StaticProvisionerOptions = z.object({
  hosts: z.array(StaticHost).refine((hosts) => new Set(hosts.map((h) => h.hostId)).size === hosts.length, 'hostIds must be unique'),
});
export type StaticProvisionerOptions = z.input<typeof StaticProvisionerOptions>;

const STATIC_PREFIX = 'static-';
const InstanceId = z.string().regex(/^static-[a-z0-9][a-z0-9-]{0,62}$/, 'instanceId must look like static-<hostId>');

/**
 * Hosts that exist already (machines started by hand or by other tooling). Launching one only
 * assigns it to a fleet, terminating one only takes it out; nothing starts or stops a machine.
 * The assignment lives in memory: the fleet workflow holds the durable record.
 */
export class StaticProvisioner implements Provisioner {
  readonly kind = 'static';
  private readonly hosts: Map<string, StaticHost>;
  /** hostId → fleetId of hosts launched and not terminated since. */
  private readonly assigned = new Map<string, string>();

  constructor(options: StaticProvisionerOptions) {
    const { hosts } = parseInput(StaticProvisionerOptions, options, 'static provisioner options');
    this.hosts = new Map(hosts.map((h) => [h.hostId, h]));
  }

  async launch(request: LaunchRequest): Promise<Instance> {
    const { fleetId, hostId } = parseInput(LaunchRequest, request, 'launch request');
    if (!this.hosts.has(hostId)) {
      throw sbxFailure(SbxErrorType.InvalidArgument, `host ${hostId} is not one of the configured static hosts`);
    }
    const fleet = this.assigned.get(hostId);
    if (fleet !== undefined && fleet !== fleetId) {
      throw sbxFailure(SbxErrorType.InvalidState, `host ${hostId} already serves fleet ${fleet}`);
    }
    this.assigned.set(hostId, fleetId);
    return this.instance(hostId);
  }

  async terminate(instanceId: string): Promise<void> {
    const id = parseInput(InstanceId, instanceId, 'instanceId');
    this.assigned.delete(id.slice(STATIC_PREFIX.length));
  }

  async describe(instanceId: string): Promise<Instance | undefined> {
    const id = parseInput(InstanceId, instanceId, 'instanceId');
    const hostId = id.slice(STATIC_PREFIX.length);
    return this.hosts.has(hostId) ? this.instance(hostId) : undefined;
  }

  async list(request: ListRequest): Promise<Instance[]> {
    const { fleetId } = parseInput(ListRequest, request, 'list request');
    return [...this.assigned].filter(([, fleet]) => fleet === fleetId).map(([hostId]) => this.instance(hostId));
  }

  async waitUntilRunning(instanceId: string): Promise<Instance> {
    return runningOrLost(instanceId, await this.describe(instanceId));
  }

  private instance(hostId: string): Instance {
    const { address } = this.hosts.get(hostId)!;
    return {
      instanceId: `${STATIC_PREFIX}${hostId}`,
      hostId,
      state: this.assigned.has(hostId) ? 'running' : 'terminated',
      ...(address ? { privateIp: address } : {}),
    };
  }
}
