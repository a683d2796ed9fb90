import { execa } from 'execa';
import { runZfs } from '../activities/host/zfs-cli.js';
import { runscPath } from './paths.js';

/** Which real backends this machine offers: ZFS needs root and an ONLINE pool, gVisor needs root and runsc. */
export async function detectBackends(pool: string): Promise<{ zfs: boolean; gvisor: boolean; reasons: string[] }> {
  const reasons: string[] = [];
  const root = process.getuid?.() === 0;
  if (!root) reasons.push('not running as root');
  const health = await runZfs('zpool', ['list', '-H', '-o', 'health', pool]);
  const zfs = root && health.exitCode === 0 && health.stdout.trim() === 'ONLINE';
  if (root && !zfs) reasons.push(`ZFS pool ${pool} is not ONLINE (run 'npm run bootstrap')`);
  const runsc = await execa(runscPath(), ['--version'], { reject: false });
  const gvisor = root && runsc.exitCode === 0;
  if (root && !gvisor) reasons.push('runsc is not installed');
  return { zfs, gvisor, reasons };
}
