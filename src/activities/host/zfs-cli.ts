import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/**
 * Destroys a dataset tree one filesystem at a time, children first, retrying: zfs-fuse reports a
 * dataset busy for a while after its children were unmounted or its files touched, and a template
 * cannot go before the clones made from it. A dataset already gone counts as destroyed.
 */
export async function destroyRecursive(dataset: string, passes = 30): Promise<void> {
  for (let pass = 1; ; pass++) {
    const listed = await runZfs('zfs', ['list', '-H', '-o', 'name', '-r', '-t', 'filesystem', dataset]);
    if (listed.exitCode !== 0) {
      if (/does not exist/.test(listed.stderr)) return;
      throw new Error(`zfs list ${dataset} failed: ${listed.stderr.trim()}`);
    }
    const remaining = listed.stdout.split('\n').filter(Boolean).reverse();
    let lastError = '';
    for (const name of remaining) {
      const result = await runZfs('zfs', ['destroy', '-r', '-f', name]);
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
}

/** `zfs` subcommands that mount, unmount or change datasets. */
const MUTATING = new Set(['create', 'clone', 'destroy', 'rollback', 'snapshot', 'receive', 'recv', 'set', 'mount', 'unmount', 'umount', 'promote']);

/**
 * zfs-fuse has deadlocked here under concurrent mounts and unmounts (parallel clones and
 * destroys from several host workers): changes go one at a time per machine, through flock.
 */
export const ZFS_LOCK = join(tmpdir(), 'sbx-zfs.lock');

/** Runs `zfs` or `zpool` and reports the outcome instead of throwing, for the caller to classify. */
export async function runZfs(command: 'zfs' | 'zpool', args: string[]): Promise<ZfsResult> {
  const locked = command === 'zfs' && MUTATING.has(args[0] ?? '');
  const result = await execa(locked ? 'flock' : command, locked ? [ZFS_LOCK, command, ...args] : args, {
    reject: false,
    stripFinalNewline: true,
  });
  const spawned = result.exitCode !== undefined;
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? '') || (spawned ? '' : (result.message ?? '')),
    spawnCode: spawned ? undefined : (result as { code?: string }).code,
  };
}

/** As runZfs, retrying while zfs-fuse reports the dataset busy (see destroyRecursive). */
export async function runZfsRetryingBusy(args: string[], attempts = 20): Promise<ZfsResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await runZfs('zfs', args);
    if (result.exitCode === 0 || !/busy/.test(result.stderr) || attempt >= attempts) return result;
    await sleep(100 * Math.min(attempt, 5));
  }
}
