import { z } from 'zod';
import { FleetId, HostId } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';

/** Values that go into a shell script and a systemd unit unquoted, so they are held to safe characters. */
export const HostUserDataInput = z.object({
  hostId: HostId,
  fleetId: FleetId,
  controlTaskQueue: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,255}$/, 'controlTaskQueue must be letters, digits, ".", "_" or "-"')
    .default('sbx-control'),
  temporalAddress: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'temporalAddress must be host:port'),
  namespace: z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, 'namespace must be letters, digits, ".", "_" or "-"'),
  /** Shell commands run first, as root: install sbx, mount storage, fetch certificates. */
  extra: z.string().optional(),
});
export type HostUserDataInput = z.input<typeof HostUserDataInput>;

/**
 * Cloud-init user data (a shell script) for an EC2 sandbox host. It installs `sbx host` as a systemd
 * service rather than running it in the foreground: cloud-init would otherwise never finish booting,
 * and a host that reboots or whose worker crashes comes back by itself.
 */
export function hostUserData(input: HostUserDataInput): string {
  const { hostId, fleetId, controlTaskQueue, temporalAddress, namespace, extra } = parseInput(HostUserDataInput, input, 'host user data');
  const command =
    `sbx host --host-id ${hostId} --fleet ${fleetId} --control-task-queue ${controlTaskQueue} ` +
    `--temporal-address ${temporalAddress} --namespace ${namespace}`;
  return [
    '#!/bin/sh',
    'set -eu',
    ...(extra?.trim() ? [extra.trim()] : []),
    "cat > /etc/systemd/system/sbx-host.service <<'UNIT'",
    '[Unit]',
    'Description=sbx sandbox host worker',
    'After=network-online.target',
    'Wants=network-online.target',
    '[Service]',
    `ExecStart=/usr/bin/env ${command}`,
    'Restart=always',
    'RestartSec=5',
    // The worker drains running commands on SIGTERM; give it time before systemd kills it.
    'TimeoutStopSec=330',
    '[Install]',
    'WantedBy=multi-user.target',
    'UNIT',
    'systemctl daemon-reload',
    'systemctl enable --now sbx-host.service',
    '',
  ].join('\n');
}
