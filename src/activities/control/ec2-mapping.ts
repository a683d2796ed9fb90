import { createHash } from 'node:crypto';
import type { InstanceStateName, Tag } from '@aws-sdk/client-ec2';
import { SbxErrorType } from '../../common/errors.js';
import type { InstanceState } from './provisioner.js';

export const FLEET_TAG = 'sbx:fleet';
export const HOST_TAG = 'sbx:host';
export const TEMPLATE_TAG = 'sbx:template';

/** EC2 states that still occupy a fleet slot; `list` and the launch look-up ask only for these. */
export const LIVE_EC2_STATES: InstanceStateName[] = ['pending', 'running', 'stopping', 'stopped'];

/**
 * RunInstances' idempotency token: the same fleet and host always give the same token (at most 64
 * ASCII characters), so EC2 itself refuses to start a second instance for a retried launch.
 */
export function launchClientToken(fleetId: string, hostId: string): string {
  return `sbx-${createHash('sha256').update(`${fleetId}\0${hostId}`).digest('hex').slice(0, 48)}`;
}

export function instanceTags(fleetId: string, hostId: string, template?: string): Tag[] {
  return [
    { Key: 'Name', Value: `sbx-${fleetId}-${hostId}` },
    { Key: FLEET_TAG, Value: fleetId },
    { Key: HOST_TAG, Value: hostId },
    ...(template ? [{ Key: TEMPLATE_TAG, Value: template }] : []),
  ];
}

export function toInstanceState(name: string | undefined): InstanceState {
  switch (name) {
    case 'pending':
    case 'running':
    case 'stopping':
    case 'stopped':
      return name;
    case 'shutting-down':
    case 'terminated':
      return 'terminated';
    default:
      // An unknown state is not yet usable; the fleet keeps waiting on it as it does on pending.
      return 'pending';
  }
}

const capacityErrors = new Set(['InsufficientInstanceCapacity', 'InsufficientHostCapacity', 'InsufficientCapacity']);
const limitErrors = new Set(['InstanceLimitExceeded', 'VcpuLimitExceeded', 'MaxSpotInstanceCountExceeded']);
const throttlingErrors = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);

/**
 * The sbx error type for an EC2 error that survived the SDK's own retries. Busy and CommandFailed are
 * retried by Temporal; the rest are mistakes of configuration or input that a retry cannot fix.
 */
export function ec2ErrorType(name: string, fault: 'client' | 'server' | undefined): SbxErrorType {
  if (throttlingErrors.has(name) || capacityErrors.has(name)) return SbxErrorType.Busy;
  if (limitErrors.has(name)) return SbxErrorType.NoSpace;
  if (name === 'InvalidInstanceID.NotFound') return SbxErrorType.NotFound;
  if (fault === 'client') return SbxErrorType.InvalidArgument;
  return SbxErrorType.CommandFailed;
}
