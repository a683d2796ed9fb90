import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';

/** sessionId, hostId, template: safe as a ZFS dataset component, a container id and a path segment. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const nameRule = 'must be 1-63 characters of lowercase letters, digits and "-", starting with a letter or digit';

/** Warm-pool sandboxes are named `warm-…`; session ids may not start so, so the two never collide. */
export const WARM_PREFIX = 'warm-';

export const SessionId = lazySchema(() =>
  z
    .string()
    .regex(NAME_PATTERN, `sessionId ${nameRule}`)
    .refine((id) => !id.startsWith(WARM_PREFIX), `sessionId must not start with '${WARM_PREFIX}' (reserved for warm-pool sandboxes)`),
);
/** A sandbox on a host (dataset and container): its session's id, or a warm-pool id `warm-…`. */
export const SandboxId = lazySchema(() => z.string().regex(NAME_PATTERN, `sandboxId ${nameRule}`));
export const HostId = lazySchema(() => z.string().regex(NAME_PATTERN, `hostId ${nameRule}`));
export const TemplateName = lazySchema(() => z.string().regex(NAME_PATTERN, `template ${nameRule}`));
export const FleetId = lazySchema(() => z.string().regex(NAME_PATTERN, `fleetId ${nameRule}`));
/** A Temporal workflow run id, as a caller may pass it on (a hint: whoever uses it asks Temporal). */
export const RunId = lazySchema(() => z.string().min(1).max(64));

/** Snapshot names: turn snapshots are `turn-000001`; named ones follow the same rule as ids. */
export const SnapshotName = lazySchema(() => z.string().regex(NAME_PATTERN, `snapshot name ${nameRule}`));

export const TURN_PREFIX = 'turn-';

export function turnSnapshotName(turn: number): string {
  return `${TURN_PREFIX}${String(turn).padStart(6, '0')}`;
}

export const sessionWorkflowId = (sessionId: string) => `sbx-session-${sessionId}`;
export const fleetWorkflowId = (fleetId: string) => `sbx-fleet-${fleetId}`;
/** The warm pool's workflow type, as clients start and list it and host activities tell its calls. */
export const WARM_POOL_WORKFLOW = 'WarmPoolWorkflow';
export const warmPoolWorkflowId = (fleetId: string, template: string) => `sbx-warmpool-${fleetId}-${template}`;
export const hostTaskQueue = (hostId: string) => `sbx-host-${hostId}`;
/** A host's tool calls get their own queue and slots, so they never take the slots lifecycle work needs. */
export const hostToolsTaskQueue = (hostId: string) => `sbx-host-${hostId}.tools`;
export const CONTROL_TASK_QUEUE = 'sbx-control';
