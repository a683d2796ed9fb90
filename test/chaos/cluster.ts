import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Connection } from '@temporalio/client';
import { runscPath } from '../../src/dev/paths.js';
import { freePort } from '../../src/dev/net.js';
import { startDevServer, type DevServer } from '../../src/dev/temporal-server.js';
import { cli, spawnSbx, type SbxProcess } from '../harness/cli.js';

export interface ClusterOptions {
  /** Scratch directory: the server's SQLite file and each host's data root. */
  dir: string;
  /** ZFS dataset under which each host keeps its own root. */
  zfsRoot: string;
  hostIds: string[];
  /** History length at which the server suggests continue-as-new (low, so sessions roll over often). */
  suggestContinueAsNew: number;
}

/** The processes a chaos run faults and checks: one Temporal server, control workers, host workers. */
export interface ChaosCluster {
  readonly address: string;
  readonly hostIds: string[];
  start(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops the server with SIGTERM (an orderly stop) or SIGKILL (a crash). */
  stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  startHost(hostId: string): Promise<void>;
  killHost(hostId: string, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  startControl(): Promise<void>;
  killControl(): Promise<void>;
  /** Workers that exited without being told to (a crash of their own), each restarted; names them. */
  restartDead(): Promise<string[]>;
  /** Session datasets each host still has. */
  datasets(): Promise<string[]>;
  /** Sandboxes runsc still knows on each host. */
  containers(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The chaos run's own processes, each separate as operators run them: a Temporal dev server on a
 * SQLite file (so its state survives a restart), one `sbx control` and one `sbx host` per host id.
 */
export class Cluster implements ChaosCluster {
  private server?: DevServer;
  private port = 0;
  private control?: SbxProcess;
  private readonly hosts = new Map<string, SbxProcess | undefined>();
  private readonly dbFile: string;

  constructor(readonly options: ClusterOptions) {
    this.dbFile = join(options.dir, 'temporal.db');
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get hostIds(): string[] {
    return this.options.hostIds;
  }

  dataRoot(hostId: string): string {
    return join(this.options.dir, 'hosts', hostId);
  }

  private hostArgs(hostId: string): string[] {
    return ['--host-id', hostId, '--zfs-root', `${this.options.zfsRoot}/${hostId}`, '--data-root', this.dataRoot(hostId)];
  }

  async start(): Promise<void> {
    this.port = await freePort();
    await this.startServer();
    for (const hostId of this.options.hostIds) {
      mkdirSync(this.dataRoot(hostId), { recursive: true });
      await execa('node', [cli, 'template', 'import', 'busybox', '--busybox', ...this.hostArgs(hostId)]);
      await this.startHost(hostId);
    }
    await this.startControl();
  }

  async startServer(): Promise<void> {
    this.server = await startDevServer({
      dbFile: this.dbFile,
      port: this.port,
      uiPort: await freePort(),
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': this.options.suggestContinueAsNew },
    });
    // The port opens before the frontend answers: wait until it serves a request.
    for (let i = 0; ; i++) {
      try {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 2000 });
        await connection.workflowService.getSystemInfo({});
        await connection.close();
        return;
      } catch (err) {
        if (i > 120) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    if (!this.server) return;
    if (signal === 'SIGKILL') this.server.process.kill('SIGKILL');
    await this.server.stop();
    this.server = undefined;
  }

  async startHost(hostId: string): Promise<void> {
    this.hosts.set(
      hostId,
      await spawnSbx(['host', '--temporal-address', this.address, ...this.hostArgs(hostId)], 'host worker ready', 180_000),
    );
  }

  async killHost(hostId: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const host = this.hosts.get(hostId);
    this.hosts.set(hostId, undefined);
    if (host) await stop(host, signal);
  }

  async startControl(): Promise<void> {
    this.control = await spawnSbx(
      ['control', '--temporal-address', this.address, '--default-host', this.options.hostIds[0]!],
      'control worker ready',
      180_000,
    );
  }

  async killControl(): Promise<void> {
    const control = this.control;
    this.control = undefined;
    if (control) await stop(control, 'SIGKILL');
  }

  /** Keeps a dead worker's whole output in <dir>/logs; returns its first error line and where the rest is. */
  private keepLog(name: string, output: string): string {
    const file = join(this.options.dir, 'logs', `${name}-${Date.now()}.log`);
    mkdirSync(join(this.options.dir, 'logs'), { recursive: true });
    writeFileSync(file, output);
    const lines = output.trim().split('\n');
    const first = lines.find((line) => /FATAL|panic|Error|error/.test(line)) ?? lines.at(-1) ?? '';
    return `${first.slice(0, 400)} (whole output: ${file})`;
  }

  async restartDead(): Promise<string[]> {
    const dead: string[] = [];
    if (this.control && this.control.child.exitCode !== null) {
      dead.push(`control worker exited ${this.control.child.exitCode}: ${this.keepLog('control', this.control.output())}`);
      await this.startControl();
    }
    for (const [hostId, host] of this.hosts) {
      if (host && host.child.exitCode !== null) {
        dead.push(`host ${hostId} exited ${host.child.exitCode}: ${this.keepLog(hostId, host.output())}`);
        await this.startHost(hostId);
      }
    }
    return dead;
  }

  datasets(): Promise<string[]> {
    return sessionDatasets(this.options.hostIds.map((hostId) => `${this.options.zfsRoot}/${hostId}`));
  }

  containers(): Promise<string[]> {
    return runscContainers(this.options.hostIds.map((hostId) => [hostId, join(this.dataRoot(hostId), 'runsc')]));
  }

  async stop(): Promise<void> {
    await this.killControl();
    for (const hostId of this.options.hostIds) await this.killHost(hostId, 'SIGTERM');
    await this.stopServer('SIGTERM');
  }
}

async function stop(process: SbxProcess, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  if (process.child.exitCode !== null) return;
  process.child.kill(signal);
  // An orderly stop waits for commands in flight, bounded by the host's grace time; then a crash.
  const timer = signal === 'SIGTERM' ? setTimeout(() => process.child.kill('SIGKILL'), 30_000) : undefined;
  await process.child;
  clearTimeout(timer);
}

/** The session datasets under each host's dataset root. */
export async function sessionDatasets(hostRoots: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of hostRoots) {
    const parent = `${root}/sessions`;
    const listed = await execa('zfs', ['list', '-H', '-o', 'name', '-r', '-d', '1', parent], { reject: false });
    if (listed.exitCode !== 0) continue; // no session was ever made there
    out.push(...listed.stdout.split('\n').filter((name) => name && name !== parent));
  }
  return out;
}

/** The containers runsc knows under each [hostId, runsc root], named hostId/containerId. */
export async function runscContainers(roots: Array<[string, string]>): Promise<string[]> {
  const out: string[] = [];
  for (const [hostId, root] of roots) {
    const listed = await execa(runscPath(), ['--root', root, 'list', '--format', 'json'], { reject: false });
    const ids = (JSON.parse(listed.stdout || '[]') ?? []) as Array<{ id: string }>;
    out.push(...ids.map((c) => `${hostId}/${c.id}`));
  }
  return out;
}
