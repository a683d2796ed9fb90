import { z } from 'zod';
import { CONTROL_TASK_QUEUE, FleetId, HostId } from '../common/names.js';
import { Ec2ProvisionerFields } from '../activities/control/ec2-provisioner.js';

/** Everything `sbx control` takes from flags and environment, validated in one place. */
export const ControlConfig = z.object({
  temporalAddress: z.string().min(1).default('localhost:7233'),
  namespace: z.string().min(1).default('default'),
  taskQueue: z.string().min(1).default(CONTROL_TASK_QUEUE),
  defaultHostId: HostId.optional(),
  fleet: z
    .object({
      fleetId: FleetId.default('default'),
      provisioner: z.enum(['local', 'ec2', 'static']).default('local'),
      /** FleetConfig fields (min/max hosts, warm slots, …), validated by FleetConfig. */
      settings: z.record(z.string(), z.number()).default({}),
      localStateDir: z.string().default('/var/lib/sbx/fleet'),
      terminateGraceMs: z.number().int().positive().default(30_000),
      staticHosts: z.array(HostId).default([]),
      ec2: Ec2ProvisionerFields.omit({ temporalAddress: true, temporalNamespace: true }).optional(),
    })
    .optional(),
  /** Prometheus metrics on this port (0: none). */
  metricsPort: z.number().int().min(0).max(65_535).default(0),
});
export type ControlConfig = z.output<typeof ControlConfig>;
