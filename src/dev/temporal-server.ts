import { connect } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { searchAttributeArgs } from '../protocol/search-attributes.js';
import { devServerTuningArgs } from './server-tuning.js';
import { waitFor } from './net.js';
import { requireBuilt, temporalCliPath } from './paths.js';

export interface DevServerOptions {
  /** SQLite file that keeps the server's state across restarts. */
  dbFile: string;
  port: number;
  uiPort: number;
  ip?: string;
  namespace?: string;
  /** More namespaces made at start (a caller namespace for agent workflows). */
  extraNamespaces?: string[];
  dynamicConfig?: Record<string, unknown>;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  process: ResultPromise;
  stop(): Promise<void>;
}

function portOpen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host }, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts the Temporal CLI dev server built by the bootstrap script, with sbx's search attributes. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const bin = requireBuilt(temporalCliPath(), 'Temporal CLI');
  const ip = options.ip ?? '127.0.0.1';
  if (await portOpen(options.port, ip)) {
    throw new Error(`port ${options.port} is already in use (another Temporal server?): stop it or pass --port`);
  }
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace ?? 'default',
    ...(options.extraNamespaces ?? []).flatMap((ns) => ['--namespace', ns]),
    '--log-level',
    'warn',
    ...searchAttributeArgs(),
    ...devServerTuningArgs({ persistent: true, dynamicConfig: options.dynamicConfig }),
  ];
  // Its own process group: a terminal's Ctrl-C reaches only sbx dev, which still needs the server
  // to hibernate its sessions before it stops it; an exit of ours takes it down all the same.
  const child = execa(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], reject: false, buffer: { stderr: true }, detached: true });
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  const address = `${ip}:${options.port}`;
  await waitFor(`Temporal dev server at ${address}`, 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`Temporal dev server exited with code ${child.exitCode}: ${stderrTail.trim()}`);
    return portOpen(options.port, ip);
  });
  return {
    address,
    uiUrl: `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${options.uiPort}`,
    process: child,
    async stop() {
      process.off('exit', orphanGuard);
      child.kill('SIGTERM');
      await child;
    },
  };
}
