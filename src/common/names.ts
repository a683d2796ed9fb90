import { z } from 'zod';

/** sessionId, hostId, template: safe as a ZFS dataset component, a container id and a path segment. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const nameRule = 'must be 1-63 characters of lowercase letters, digits and "-", starting with a letter or digit';

export const SessionId = z.string().regex(NAME_PATTERN, `sessionId ${nameRule}`);
export const HostId = z.string().regex(NAME_PATTERN, `hostId ${nameRule}`);
export const TemplateName = z.string().regex(NAME_PATTERN, `template ${nameRule}`);
export const FleetId = z.string().regex(NAME_PATTERN, `fleetId ${nameRule}`);

/** Snapshot names: turn snapshots are `turn-000001`; named ones follow the same rule as ids. */
export const SnapshotName = z.string().regex(NAME_PATTERN, `snapshot name ${nameRule}`);

export const TURN_PREFIX = 'turn-';

export function turnSnapshotName(turn: number): string {
  return `${TURN_PREFIX}${String(turn).padStart(6, '0')}`;
}

export const sessionWorkflowId = (sessionId: string) => `sbx-session-${sessionId}`;
export const fleetWorkflowId = (fleetId: string) => `sbx-fleet-${fleetId}`;
export const hostTaskQueue = (hostId: string) => `sbx-host-${hostId}`;
export const CONTROL_TASK_QUEUE = 'sbx-control';
