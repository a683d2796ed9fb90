import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { SbxErrorType, sbxFailure } from '../common/errors.js';
import { warmPoolWorkflowId } from '../common/names.js';
import { configureWarmPoolSignal, warmPoolStatusQuery, type WarmPoolStatus } from '../protocol/messages.js';
import type { z } from 'zod';
import type { ControlConfig } from '../workers/control-config.js';

/** The fleet of `sbx dev`: its one host, found through heartbeats. */
export const DEV_FLEET = 'default';
export const DEV_TEMPLATE = 'busybox';

/**
 * The fleet settings of `sbx dev`'s control worker: one static host that keeps `size` busybox
 * sandboxes made and started, so a create claims one instead of making a sandbox. None at size 0.
 */
export function devFleet(hostId: string, size: number, maxSessions: number): z.input<typeof ControlConfig>['fleet'] {
  if (size === 0) return undefined;
  if (size > maxSessions) {
    throw sbxFailure(
      SbxErrorType.InvalidArgument,
      `a warm pool of ${size} does not fit the dev host's ${maxSessions} sessions; ask for fewer`,
    );
  }
  return {
    fleetId: DEV_FLEET,
    provisioner: 'static',
    staticHosts: [hostId],
    settings: { minHosts: 1, maxHosts: 1, warmSlots: 0, maxSessionsPerHost: maxSessions },
    warmPools: [`${DEV_TEMPLATE}=${size}`],
  };
}

async function poolUntil(client: Client, done: (status: WarmPoolStatus) => boolean, timeoutMs: number): Promise<boolean> {
  const pool = client.workflow.getHandle(warmPoolWorkflowId(DEV_FLEET, DEV_TEMPLATE));
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const status = await pool.query(warmPoolStatusQuery).catch(() => undefined);
    if (status && done(status)) return true;
    await sleep(100);
  }
  return false;
}

/** Waits until the dev warm pool holds `size` ready sandboxes; false when it did not within the time. */
export function warmPoolFilled(client: Client, size: number, timeoutMs = 60_000): Promise<boolean> {
  return poolUntil(client, (s) => s.size === size && s.ready >= size, timeoutMs);
}

/**
 * Sandboxes are processes of their own and would outlive sbx dev: the pool's unclaimed ones are
 * removed (size 0; the next `sbx dev` sets the size again). Claimed ones are sessions, hibernated
 * with the others. False when they were not all gone within the time.
 */
export async function emptyWarmPool(client: Client, timeoutMs = 60_000): Promise<boolean> {
  const pool = client.workflow.getHandle(warmPoolWorkflowId(DEV_FLEET, DEV_TEMPLATE));
  await pool.signal(configureWarmPoolSignal, { fleetId: DEV_FLEET, template: DEV_TEMPLATE, size: 0 });
  return poolUntil(client, (s) => s.size === 0 && s.sandboxes.every((sandbox) => sandbox.state === 'claimed'), timeoutMs);
}
