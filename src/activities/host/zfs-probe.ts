import { readFile } from 'node:fs/promises';
import { runCommand } from './spawner.js';

/** Whether zfs-fuse answered a probe, and what did not answer when it did not. */
export interface ZfsProbe {
  answers: boolean;
  detail?: string;
}

export interface ZfsProbeOptions {
  /** The host's root dataset (`<pool>/…`): the pool is asked, and the root's mount is read. */
  root: string;
  /** Longest wait for each of the two requests. */
  timeoutMs: number;
  /** The `zpool` binary (a test stands in a silent one). */
  zpool?: string;
  /** Where mounts are listed (a test stands in its own list). */
  mountsFile?: string;
  /** Ask the pool too (default); false for a caller that reads the pool itself right after, bounded. */
  askPool?: boolean;
}

/**
 * Asks zfs-fuse two things a hung daemon leaves unanswered: the pool's state over its control socket
 * (`zpool list`) and the listing of the host's root mount (a FUSE request). A daemon can answer the
 * first and not the second, with every reader of its mounts stuck. Each request is killed with
 * SIGKILL at the bound (a FUSE wait is killable, not interruptible), so the probe always returns.
 */
export async function probeZfsFuse(options: ZfsProbeOptions): Promise<ZfsProbe> {
  const pool = options.root.split('/')[0]!;
  const poolAnswer =
    options.askPool === false
      ? undefined
      : await bounded([options.zpool ?? 'zpool', 'list', '-H', '-o', 'health', pool], options.timeoutMs);
  if (poolAnswer) return { answers: false, detail: `zpool list ${pool} ${poolAnswer}` };
  const mountpoint = await rootMount(options.root, options.mountsFile ?? '/proc/mounts');
  if (mountpoint === undefined) return { answers: true };
  const mountAnswer = await bounded(['ls', '-a', '--', mountpoint], options.timeoutMs);
  return mountAnswer ? { answers: false, detail: `listing ${mountpoint} ${mountAnswer}` } : { answers: true };
}

/** Runs a command under `timeout -s KILL`; undefined when it succeeded, else what went wrong. */
async function bounded(command: string[], timeoutMs: number): Promise<string | undefined> {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  // A backstop should `timeout` itself be stuck.
  const result = await runCommand(['timeout', '-s', 'KILL', seconds, ...command], { timeoutMs: timeoutMs + 5000, killAfterMs: 1000 });
  if (result.exitCode === 0) return undefined;
  // `timeout -s KILL` kills its own process group too, so it ends by SIGKILL rather than with 124.
  if (result.signal === 'SIGKILL' || result.exitCode === 137 || result.exitCode === 124 || result.timedOut) {
    return `did not answer within ${seconds} s`;
  }
  return `failed: ${
    String(result.stderr || result.message)
      .trim()
      .split('\n')[0]
  }`;
}

/** The mountpoint of `root`'s own dataset, or of its nearest mounted child, from the mount table. */
async function rootMount(root: string, mountsFile: string): Promise<string | undefined> {
  const mounts = (await readFile(mountsFile, 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([source, , type]) => type === 'fuse.zfs' && (source === root || source?.startsWith(`${root}/`)))
    .map(([source, target]) => ({ source: source!, target: unescapeMount(target!) }))
    .sort((a, b) => a.source.length - b.source.length);
  return mounts[0]?.target;
}

/** /proc/mounts writes space, tab, newline and backslash as octal escapes. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
