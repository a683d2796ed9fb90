import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { runZfs } from '../../src/activities/host/zfs-cli.js';
import type { SandboxClient } from '../../src/client/sandbox-client.js';
import type { Session } from '../../src/client/session.js';
import type { SessionInfo } from '../../src/protocol/messages.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { progress, withTimeout } from './stack.js';

export async function waitState(session: Session, want: SessionInfo['state'], timeoutMs = 120_000): Promise<void> {
  // Session.pause/resume poll every 100 ms; 5 ms here so the number is the operation, not the poll.
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await session.info();
    if (info.state === want) return;
    if (info.state === 'failed' || info.state === 'destroyed')
      throw new Error(`session ${session.id} is ${info.state} (${info.failureReason ?? ''}), not ${want}`);
    if (performance.now() > deadline) throw new Error(`session ${session.id} is still ${info.state}, not ${want}`);
    await sleep(5);
  }
}

/**
 * Untimed, after a destroy: it answers before the session's datasets are removed, and the session's
 * workflow closes once they are. Waiting for that keeps the removal from running under the next
 * measured operation, sbx's or raw's (raw destroys in the foreground).
 */
export async function removed(client: SandboxClient, sessionId: string): Promise<void> {
  await withTimeout(client.temporal.workflow.getHandle(sessionWorkflowId(sessionId)).result(), 120_000, `removal of session ${sessionId}`);
}

/** Fails fast when zfs-fuse stops answering, rather than letting every later step hang on it. */
export async function assertZfsResponsive(dataset: string): Promise<void> {
  const result = await execa('zfs', ['list', '-H', '-o', 'name', dataset], { reject: false, timeout: 60_000 });
  if (result.timedOut || result.exitCode !== 0) {
    throw new Error(
      `zfs-fuse is not answering (zfs list ${dataset}: ${result.timedOut ? 'no answer in 60 s' : String(result.stderr).trim()}): stopping the bench`,
    );
  }
}

export function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
}

export async function poolFree(pool: string): Promise<number> {
  // zfs-fuse's zpool has no -p; the pool's root dataset reports what is still available, in bytes.
  const result = await runZfs('zfs', ['get', '-Hp', '-o', 'value', 'available', pool]);
  if (result.exitCode !== 0) throw new Error(`zfs get available ${pool}: ${result.stderr}`);
  return Number(result.stdout.trim());
}

export async function memAvailable(): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8');
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
}

export async function statusField(pid: number | 'self', field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
}

/** Proportional set size summed over every process whose command line names `needle` (the sandboxes of one runsc root). */
export async function pssOf(needle: string): Promise<{ bytes: number; processes: number }> {
  let bytes = 0;
  let processes = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(needle)) continue;
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    const pss = /^Pss:\s+(\d+) kB/m.exec(rollup);
    if (pss) {
      bytes += Number(pss[1]) * 1024;
      processes++;
    }
  }
  return { bytes, processes };
}

export async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function destroySessions(client: SandboxClient, live: Set<string>, concurrency = 8): Promise<void> {
  await pool([...live], concurrency, async (id) => {
    try {
      await withTimeout(client.session(id).destroy(), 120_000, `destroy ${id}`);
    } catch (err) {
      if (!/destroyed|not found/i.test((err as Error).message)) progress(`destroy ${id} failed: ${(err as Error).message}`);
    }
    live.delete(id);
  });
}

/** Empty cgroups left under `parent` (runsc leaves them after delete), then `parent` itself when it is ours alone. */
export async function removeCgroups(parent: string, mine: (name: string) => boolean): Promise<void> {
  const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  for (const dir of ['', ...controllers].map((c) => join('/sys/fs/cgroup', c, parent))) {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && mine(e.name)) await rmdir(join(dir, e.name)).catch(() => undefined);
    if (parent !== '/sbx') await rmdir(dir).catch(() => undefined);
  }
}

export const cmdVersion = async (file: string, args: string[]) => {
  const result = await execa(file, args, { reject: false });
  return result.exitCode === 0 ? String(result.stdout).trim().split('\n')[0]! : `unknown (${file} ${args.join(' ')} failed)`;
};
