import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runscContainers, sessionDatasets, type ChaosCluster } from './cluster.js';

const script = fileURLToPath(new URL('../../scripts/prod-stack.sh', import.meta.url));

/** What scripts/prod-stack.sh writes to <dir>/stack.json. */
export interface ProdStack {
  temporalAddress: string;
  namespace: string;
  fleetId: string;
  controlTaskQueue: string;
  hostIds: string[];
  pids: { temporalServer: number; control: number[]; host: number[] };
}

/** Runs `scripts/prod-stack.sh <args>`; its output names what failed. */
export async function prodStack(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await execa('bash', [script, ...args], { reject: false, all: true, env });
  if (result.exitCode !== 0) throw new Error(`prod-stack.sh ${args.join(' ')} failed (${result.exitCode}):\n${result.all}`);
  return result.all;
}

const PROCESSES = ['temporal-server', 'control-1', 'control-2', 'host-1', 'host-2'];

/** Running, not a zombie waiting for init to reap it. */
export function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The production topology (scripts/prod-stack.sh: PostgreSQL, the Temporal server built from
 * go.temporal.io/server, two control workers, two host workers) as a chaos cluster. A control
 * fault kills one of the two control workers, in turn; the other keeps serving.
 */
export class ProdCluster implements ChaosCluster {
  private stack?: ProdStack;
  /** Processes stopped on purpose: restartDead leaves them to the fault that stopped them. */
  private readonly down = new Set<string>();
  private controlsKilled = 0;

  /** `dir` is the stack's directory; `env` goes to every prod-stack.sh call (SBX_ZFS_PARENT, …). */
  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  /** A cluster over a stack prod-stack.sh already started in `dir`; what was stopped before is started again. */
  static async attach(dir: string, env: Record<string, string>): Promise<ProdCluster> {
    const cluster = new ProdCluster(dir, env);
    cluster.stack = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as ProdStack;
    for (const name of PROCESSES) {
      const pid = cluster.pid(name);
      if (pid !== undefined && !alive(pid)) await cluster.restart(name);
    }
    return cluster;
  }

  private get started(): ProdStack {
    if (!this.stack) throw new Error('the production stack is not started');
    return this.stack;
  }

  get address(): string {
    return this.started.temporalAddress;
  }

  get hostIds(): string[] {
    return this.started.hostIds;
  }

  async start(): Promise<void> {
    await prodStack(['start', this.dir], this.env);
    this.stack = JSON.parse(readFileSync(join(this.dir, 'stack.json'), 'utf8')) as ProdStack;
  }

  private pid(name: string): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, `${name}.pid`), 'utf8'));
    } catch {
      return undefined;
    }
  }

  private async restart(name: string): Promise<void> {
    // A killed process blocked in a zfs-fuse call leaves only when the call returns; until then the
    // script sees it running.
    for (let tries = 0; ; tries++) {
      try {
        await prodStack(['restart', name, this.dir], this.env);
        break;
      } catch (err) {
        if (tries >= 120 || !/still runs/.test(String(err))) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    this.down.delete(name);
  }

  /** Signals a process and waits until it is gone; an orderly stop becomes a kill after 30 s. */
  private async kill(name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.down.add(name);
    const pid = this.pid(name);
    if (pid === undefined || !alive(pid)) return;
    process.kill(pid, signal);
    for (let start = Date.now(), escalated = signal === 'SIGKILL'; alive(pid);) {
      if (!escalated && Date.now() - start > 30_000) {
        process.kill(pid, 'SIGKILL');
        escalated = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private hostName(hostId: string): string {
    return `host-${this.hostIds.indexOf(hostId) + 1}`;
  }

  startServer(): Promise<void> {
    return this.restart('temporal-server');
  }

  stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    return this.kill('temporal-server', signal);
  }

  startHost(hostId: string): Promise<void> {
    return this.restart(this.hostName(hostId));
  }

  killHost(hostId: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    return this.kill(this.hostName(hostId), signal);
  }

  startControl(): Promise<void> {
    return this.restart(`control-${((this.controlsKilled - 1) % 2) + 1}`);
  }

  killControl(): Promise<void> {
    this.controlsKilled++;
    return this.kill(`control-${((this.controlsKilled - 1) % 2) + 1}`, 'SIGKILL');
  }

  async restartDead(): Promise<string[]> {
    const dead: string[] = [];
    for (const name of PROCESSES) {
      const pid = this.pid(name);
      if (this.down.has(name) || pid === undefined || alive(pid)) continue;
      const log = readFileSync(join(this.dir, 'logs', `${name}.log`), 'utf8')
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      dead.push(`${name} exited: ${log.slice(-600)}`);
      await this.restart(name);
    }
    return dead;
  }

  datasets(): Promise<string[]> {
    const parent = this.env.SBX_ZFS_PARENT ?? 'sbx';
    return sessionDatasets(this.hostIds.map((hostId) => `${parent}/${hostId}`));
  }

  containers(): Promise<string[]> {
    return runscContainers(this.hostIds.map((hostId) => [hostId, join(this.dir, 'hosts', hostId, 'runsc')]));
  }

  async stop(): Promise<void> {
    await prodStack(['stop', this.dir], this.env);
  }
}
