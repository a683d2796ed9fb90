import { runZfs } from '../../src/activities/host/zfs-cli.js';

/**
 * `zfs` for test code, run as the hosts run it: changes through the machine-wide lock, every call
 * bounded. A test creating datasets beside other runs without the lock has wedged zfs-fuse.
 */
export async function zfs(...args: string[]): Promise<string> {
  const result = await runZfs('zfs', args);
  if (result.exitCode !== 0) throw new Error(`zfs ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}
