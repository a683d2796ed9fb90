import { readFile } from 'node:fs/promises';
import { runCommand } from './spawner.js';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';

/** Flags every session mount must carry: no setuid programs and no device nodes take effect from it. */
const REQUIRED = ['nosuid', 'nodev'];

/** `\040`-style escapes of /proc/self/mountinfo (space, tab, newline, backslash). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The per-mount options of the topmost mount at `mountpoint`, or undefined if nothing is mounted there. */
export function mountOptionsIn(mountinfo: string, mountpoint: string): string[] | undefined {
  let found: string[] | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 5 && unescape(fields[4]!) === mountpoint) found = fields[5]!.split(',');
  }
  return found;
}

/**
 * Makes the mount at `mountpoint` nosuid and nodev. zfs-fuse ignores the datasets' `setuid=off` and
 * `devices=off` (its FUSE mounts honour neither), so a setuid-root file or a device node written by a
 * sandbox would take effect on the host; a remount sets the kernel's flags, which it does enforce.
 * Checked on each first use and after changes that remount (create, rollback), since zfs-fuse mounts
 * afresh without them. False when nothing is mounted at `mountpoint`.
 */
export async function ensureNosuidNodev(mountpoint: string): Promise<boolean> {
  const options = mountOptionsIn(await readFile('/proc/self/mountinfo', 'utf8'), mountpoint);
  if (!options) return false;
  if (REQUIRED.every((flag) => options.includes(flag))) return true;
  // -i: the kernel's remount only; the fuse.zfs helper would take the mountpoint for a zfs command.
  const result = await runCommand(['mount', '-i', '-o', `remount,${REQUIRED.join(',')}`, mountpoint], { timeoutMs: 30_000 });
  if (result.exitCode !== 0) {
    throw sbxFailure(
      SbxErrorType.CommandFailed,
      `Could not remount ${mountpoint} nosuid,nodev (${String(result.stderr ?? result.message).trim()}); the host worker must run as root.`,
    );
  }
  return true;
}
