import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Command } from 'commander';
import { SbxError, SbxErrorType, toSbxError } from '../client/errors.js';
import { fleetWorkflowId } from '../common/names.js';
import { warmPoolStatuses } from '../client/warm-pools.js';
import { drainUpdate, fleetStatusQuery, type FleetStatus, type WarmPoolStatus } from '../protocol/messages.js';
import { runWithClient, type GlobalOptions } from './connect.js';
import { print, progress } from './output.js';

function statusTable({ warmPools, ...status }: FleetStatus & { warmPools: WarmPoolStatus[] }): string {
  const now = Date.now();
  const rows = status.hosts.map((h) =>
    [
      h.hostId.padEnd(24),
      h.state.padEnd(13),
      `${h.sessions.length - h.warm.length}/${h.maxSessions}`.padEnd(8),
      String(h.warm.length).padEnd(5),
      (h.healthy ? 'healthy' : 'unhealthy').padEnd(10),
      h.lastHeartbeat === undefined ? '-' : `${Math.round((now - h.lastHeartbeat) / 1000)}s ago`,
    ].join(' '),
  );
  const sessions = status.hosts.reduce((n, h) => n + h.sessions.length - h.warm.length, 0);
  const pools = warmPools.map((p) =>
    [p.template.padEnd(24), String(p.size).padEnd(5), String(p.ready).padEnd(6), String(p.warming).padEnd(8), String(p.claimed)].join(' '),
  );
  return [
    `fleet ${status.fleetId}${status.autoscale ? '' : ' (not configured: no autoscaling)'}`,
    `hosts ${status.hosts.length}, sessions ${sessions}, free slots ${status.capacity} (warm target ${status.warmSlots}), waiting ${status.waitingPlacements}`,
    '',
    `${'HOST'.padEnd(24)} ${'STATE'.padEnd(13)} ${'SESSIONS'.padEnd(8)} ${'WARM'.padEnd(5)} ${'HEALTH'.padEnd(10)} HEARTBEAT`,
    ...rows,
    ...(pools.length > 0
      ? ['', `${'WARM POOL (TEMPLATE)'.padEnd(24)} ${'SIZE'.padEnd(5)} ${'READY'.padEnd(6)} ${'WARMING'.padEnd(8)} CLAIMED`, ...pools]
      : []),
  ].join('\n');
}

/** `sbx fleet status|drain`: the fleet workflow's table and its drain update. */
export function fleetCommands(globals: () => GlobalOptions): Command {
  const cmd = new Command('fleet').description('inspect and steer a fleet of sandbox hosts');
  const withFleet = (fleetId: string, fn: (handle: ReturnType<Client['workflow']['getHandle']>, client: Client) => Promise<void>) =>
    runWithClient(
      globals(),
      ({ temporal }) => fn(temporal.workflow.getHandle(fleetWorkflowId(fleetId)), temporal),
      (err) =>
        err instanceof WorkflowNotFoundError
          ? new SbxError(SbxErrorType.NotFound, `fleet ${fleetId} is not running: start a control worker with --fleet ${fleetId}`)
          : toSbxError(err, fleetId),
    );
  cmd
    .command('status')
    .description('hosts, their states, sessions and warm slots, and the warm pools')
    .option('--fleet <fleetId>', 'fleet id', 'default')
    .action(async (o) =>
      withFleet(o.fleet, async (handle, client) => {
        const status = await handle.query(fleetStatusQuery);
        print(globals(), { ...status, warmPools: await warmPoolStatuses(client, o.fleet) }, statusTable);
      }),
    );
  cmd
    .command('drain <hostId>')
    .description('stop placing sessions on a host; it is terminated once empty or at the drain timeout')
    .option('--fleet <fleetId>', 'fleet id', 'default')
    .action(async (hostId: string, o) =>
      withFleet(o.fleet, async (handle) => {
        progress(`draining ${hostId}`);
        const host = await handle.executeUpdate(drainUpdate, { args: [{ hostId }] });
        print(globals(), host, (h) => `host ${h.hostId} is ${h.state} with ${h.sessions.length} session(s)`);
      }),
    );
  return cmd;
}
