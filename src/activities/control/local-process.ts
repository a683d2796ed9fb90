import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseInput } from '../../common/validate.js';

/** A local host's instance id names its host and process: a relaunch after a crash gets a new one. */
export function localInstanceId(hostId: string, pid: number): string {
  return `local-${hostId}-${pid}`;
}

const LocalInstanceId = z.string().regex(/^local-[a-z0-9][a-z0-9-]{0,62}-\d+$/, 'instanceId must look like local-<hostId>-<pid>');

export function parseLocalInstanceId(instanceId: string): { hostId: string; pid: number } {
  const id = parseInput(LocalInstanceId, instanceId, 'instanceId');
  const match = /^local-(.+)-(\d+)$/.exec(id)!;
  return { hostId: match[1]!, pid: Number(match[2]) };
}

/** `/proc/<pid>/stat`: the state letter (field 3) and start time in clock ticks (field 22). */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  return state && startTime ? { state, startTime } : undefined;
}

/** Whether a NUL-separated `/proc/<pid>/cmdline` carries `--host-id <hostId>`. */
export function cmdlineHasHost(cmdline: string, hostId: string): boolean {
  const argv = cmdline.split('\0');
  return argv.some((arg, i) => arg === '--host-id' && argv[i + 1] === hostId);
}

/** The start time of a live process, or undefined if it is gone or a zombie. */
export async function processIdentity(pid: number): Promise<{ startTime: string } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  const parsed = stat === undefined ? undefined : parseProcStat(stat);
  if (!parsed || parsed.state === 'Z' || parsed.state === 'X') return undefined;
  return { startTime: parsed.startTime };
}

/**
 * Whether `pid` is still the host process that was started: alive, with the recorded start time (a
 * reused pid has another), and running with `--host-id <hostId>`.
 */
export async function sameProcess(pid: number, startTime: string, hostId: string): Promise<boolean> {
  const identity = await processIdentity(pid);
  if (identity?.startTime !== startTime) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdlineHasHost(cmdline, hostId);
}
