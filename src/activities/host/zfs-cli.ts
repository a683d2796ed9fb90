import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMAND_TIMEOUT_EXITS, LOCK_TIMEOUT_EXIT, runCommand, type Bounds } from './spawner.js';

/**
 * How `zfs` and `zpool` are run on a host. zfs-fuse has deadlocked here under concurrent mounts and
 * unmounts (parallel clones and destroys from several host workers), so changes go one at a time per
 * machine through `flock` on `lockPath`; every call is bounded, so a wedged daemon ends in a typed
 * `Busy` failure instead of an activity that never returns.
 */
export interface ZfsCliOptions {
  /** The lock file; a root-only file in the host's data root (never a world-writable directory). */
  lockPath: string;
  /** Longest wait for the lock before giving up. */
  lockWaitMs: number;
  /** Longest run of one `zfs`/`zpool` command. */
  timeoutMs: number;
}

/**
 * Callers without a host config (tests, benchmarks, teardown) share the lock of a host on the default
 * data root, or the one named by SBX_ZFS_LOCK (as `sbx host --zfs-lock`).
 */
export const DEFAULT_ZFS_CLI: ZfsCliOptions = {
  lockPath: process.env.SBX_ZFS_LOCK ?? '/var/lib/sbx/zfs.lock',
  lockWaitMs: 60_000,
  timeoutMs: 120_000,
};

/**
 * Destroys a dataset tree one filesystem at a time, children first, retrying: zfs-fuse reports a
 * dataset busy for a while after its children were unmounted or its files touched, and a template
 * cannot go before the clones made from it. A dataset already gone counts as destroyed.
 */
export async function destroyRecursive(dataset: string, passes = 30, cli: ZfsCliOptions = DEFAULT_ZFS_CLI): Promise<void> {
  for (let pass = 1; ; pass++) {
    const listed = await runZfs('zfs', ['list', '-H', '-o', 'name', '-r', '-t', 'filesystem', dataset], cli);
    if (listed.exitCode !== 0) {
      if (/does not exist/.test(listed.stderr)) return;
      throw new Error(`zfs list ${dataset} failed: ${listed.stderr.trim()}`);
    }
    const remaining = listed.stdout.split('\n').filter(Boolean).reverse();
    let lastError = '';
    for (const name of remaining) {
      const result = await runZfs('zfs', ['destroy', '-r', '-f', name], cli);
      if (result.exitCode !== 0 && !/does not exist/.test(result.stderr)) lastError = result.stderr.trim();
    }
    if (!lastError) return;
    if (!/busy|dependent clones/.test(lastError) || pass >= passes) {
      throw new Error(`zfs destroy ${dataset} failed: ${lastError}`);
    }
    await sleep(100 * Math.min(pass, 10));
  }
}

export interface ZfsResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when `zfs` could not be spawned (e.g. `ENOENT`: not installed). */
  spawnCode?: string;
  /** Set when the lock was not taken in time, or the command ran past its timeout and was killed. */
  timedOut?: 'lock' | 'command';
}

/** `zfs` subcommands that mount, unmount or change datasets. */
const MUTATING = new Set([
  'create',
  'clone',
  'destroy',
  'rollback',
  'snapshot',
  'receive',
  'recv',
  'set',
  'inherit',
  'mount',
  'unmount',
  'umount',
  'promote',
]);
/** `zpool` subcommands that mount or unmount a pool's datasets. */
const POOL_MUTATING = new Set(['create', 'destroy', 'import', 'export']);

const checkedLocks = new Map<string, Promise<void>>();

/**
 * Makes the lock file a regular file, mode 0600, in a directory made root-only if missing. A symlink
 * or other file type in its place is refused: `flock` would follow it.
 */
export function ensureLockFile(path: string): Promise<void> {
  let checked = checkedLocks.get(path);
  if (!checked) {
    checked = (async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.chmod(0o600);
      } finally {
        await handle.close();
      }
      const info = await lstat(path);
      if (!info.isFile()) throw new Error(`zfs lock ${path} is not a regular file`);
    })();
    checkedLocks.set(path, checked);
    checked.catch(() => checkedLocks.delete(path));
  }
  return checked;
}

/** How one call is bounded: a time limit always, and the machine's zfs lock for calls that change datasets. */
export function zfsBounds(command: 'zfs' | 'zpool', args: string[], cli: ZfsCliOptions): Bounds {
  const locked = (command === 'zfs' ? MUTATING : POOL_MUTATING).has(args[0] ?? '');
  return { timeoutMs: cli.timeoutMs, killAfterMs: 5_000, ...(locked ? { lock: { path: cli.lockPath, waitMs: cli.lockWaitMs } } : {}) };
}

/** A backstop for the bounds themselves: lock wait, command time and its kill grace, then some. */
const backstopMs = (cli: ZfsCliOptions) => cli.lockWaitMs + cli.timeoutMs + 15_000;

/** Runs `zfs` or `zpool` and reports the outcome instead of throwing, for the caller to classify. */
export async function runZfs(command: 'zfs' | 'zpool', args: string[], cli: ZfsCliOptions = DEFAULT_ZFS_CLI): Promise<ZfsResult> {
  const bounds = zfsBounds(command, args, cli);
  if (bounds.lock) await ensureLockFile(bounds.lock.path);
  const result = await runCommand([command, ...args], { stripFinalNewline: true, timeoutMs: backstopMs(cli), bounds });
  return outcome(result, bounds.lock !== undefined);
}

/** Classifies the result of a bounded call (see zfsBounds). */
export function outcome(
  result: { exitCode?: number; stdout?: unknown; stderr?: unknown; message?: string; timedOut?: boolean; code?: string },
  locked: boolean,
): ZfsResult {
  const spawned = result.exitCode !== undefined;
  const exitCode = result.exitCode ?? -1;
  const timedOut =
    locked && exitCode === LOCK_TIMEOUT_EXIT ? 'lock' : COMMAND_TIMEOUT_EXITS.has(exitCode) || result.timedOut ? 'command' : undefined;
  return {
    exitCode,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? '') || (spawned ? '' : (result.message ?? '')),
    spawnCode: spawned ? undefined : result.code,
    timedOut,
  };
}

/** As runZfs, retrying while zfs-fuse reports the dataset busy (see destroyRecursive). */
export async function runZfsRetryingBusy(args: string[], attempts = 20, cli: ZfsCliOptions = DEFAULT_ZFS_CLI): Promise<ZfsResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await runZfs('zfs', args, cli);
    if (result.exitCode === 0 || result.timedOut || !/busy/.test(result.stderr) || attempt >= attempts) return result;
    await sleep(100 * Math.min(attempt, 5));
  }
}
