import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/** Runs `zfs` with an argument array (never a shell) and returns trimmed stdout. */
export async function zfs(args: string[], signal?: AbortSignal): Promise<string> {
  const result = await execa('zfs', args, { cancelSignal: signal, stripFinalNewline: true });
  return result.stdout;
}

/**
 * zfs-fuse reports a dataset busy for a moment after its files were last touched (the kernel's FUSE
 * caches still hold it), so destroy retries "busy" briefly. A dataset already gone counts as destroyed.
 */
export async function destroyRecursive(dataset: string, attempts = 20): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await execa('zfs', ['destroy', '-r', '-f', dataset], { reject: false });
    if (result.exitCode === 0 || /does not exist/.test(result.stderr)) return;
    if (!/busy/.test(result.stderr) || attempt >= attempts) {
      throw new Error(`zfs destroy -r ${dataset} failed: ${result.stderr.trim()}`);
    }
    await sleep(100 * Math.min(attempt, 5));
  }
}
