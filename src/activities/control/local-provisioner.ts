import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { parseInput } from '../../common/validate.js';
import { localInstanceId, parseLocalInstanceId, processIdentity, sameProcess } from './local-process.js';
import { type Instance, LaunchRequest, ListRequest, type Provisioner, runningOrLost } from './provisioner.js';

export const LocalProvisionerOptions = z.object({
  /** The host worker command, e.g. ['node', 'dist/cli/main.js', 'host']; the host's flags are appended. */
  command: z.array(z.string().min(1)).min(1, 'command must not be empty'),
  /** Per host: `<hostId>.json` (the record), `<hostId>.log` (its output), `<hostId>/` (its data root). */
  stateDir: z.string().min(1),
  /** Set in each host's environment, beside the few it inherits (see hostEnvironment). */
  env: z.record(z.string(), z.string()).optional(),
  temporalAddress: z.string().min(1),
  namespace: z.string().min(1),
  /** How long a host may take to drain after SIGTERM before it is killed. */
  terminateGraceMs: z.number().int().positive().default(30_000),
});
export type LocalProvisionerOptions = z.input<typeof LocalProvisionerOptions>;

/** What `<stateDir>/<hostId>.json` holds: enough to find the process again after a restart. */
interface HostRecord {
  instanceId: string;
  hostId: string;
  fleetId: string;
  pid: number;
  /** Kernel start time of the process: tells our process from a later one that reused the pid. */
  startTime: string;
  launchedAt: string;
}

const KILL_WAIT_MS = 5_000;

/**
 * Runs sandbox hosts as child processes of this machine, detached so they outlive the control
 * worker. The records on disk are the only state, so a provisioner created after a restart knows
 * every host the previous one started.
 */
export class LocalProvisioner implements Provisioner {
  readonly kind = 'local';
  private readonly options: z.output<typeof LocalProvisionerOptions>;
  private readonly stateDir: string;
  /** One launch or terminate at a time per host, so concurrent retries cannot start two processes. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(options: LocalProvisionerOptions) {
    this.options = parseInput(LocalProvisionerOptions, options, 'local provisioner options');
    this.stateDir = resolve(this.options.stateDir);
  }

  async launch(request: LaunchRequest): Promise<Instance> {
    const { fleetId, hostId } = parseInput(LaunchRequest, request, 'launch request');
    return this.serialised(hostId, async () => {
      const record = await this.readRecord(hostId);
      if (record && (await this.alive(record))) {
        if (record.fleetId !== fleetId) {
          throw sbxFailure(SbxErrorType.InvalidState, `host ${hostId} already runs for fleet ${record.fleetId}`);
        }
        return toInstance(record, 'running');
      }
      return toInstance(await this.start(fleetId, hostId), 'running');
    });
  }

  async terminate(instanceId: string): Promise<void> {
    const { hostId, pid } = parseLocalInstanceId(instanceId);
    await this.serialised(hostId, async () => {
      const record = await this.readRecord(hostId);
      if (!record || record.pid !== pid) return;
      if (await this.alive(record)) await this.stop(record);
      await rm(this.recordPath(hostId), { force: true });
    });
  }

  async describe(instanceId: string): Promise<Instance | undefined> {
    const { hostId } = parseLocalInstanceId(instanceId);
    const record = await this.readRecord(hostId);
    if (!record || record.instanceId !== instanceId) return undefined;
    return toInstance(record, (await this.alive(record)) ? 'running' : 'terminated');
  }

  async list(request: ListRequest): Promise<Instance[]> {
    const { fleetId } = parseInput(ListRequest, request, 'list request');
    const names = await readdir(this.stateDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const instances: Instance[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const record = await this.readRecord(name.slice(0, -'.json'.length));
      if (record?.fleetId === fleetId && (await this.alive(record))) instances.push(toInstance(record, 'running'));
    }
    return instances;
  }

  /** A local host runs as soon as its process does. */
  async waitUntilRunning(instanceId: string): Promise<Instance> {
    return runningOrLost(instanceId, await this.describe(instanceId));
  }

  private async start(fleetId: string, hostId: string): Promise<HostRecord> {
    const { command, env, temporalAddress, namespace } = this.options;
    const dataRoot = join(this.stateDir, hostId);
    await mkdir(dataRoot, { recursive: true });
    const args = [
      ...command.slice(1),
      ...[
        '--host-id',
        hostId,
        '--fleet',
        fleetId,
        '--temporal-address',
        temporalAddress,
        '--namespace',
        namespace,
        '--data-root',
        dataRoot,
      ],
    ];
    const log = openSync(join(this.stateDir, `${hostId}.log`), 'a');
    try {
      const child = spawn(command[0]!, args, {
        detached: true,
        stdio: ['ignore', log, log],
        // Hosts on one machine share one zfs-fuse daemon, so they share the lock on zfs changes.
        env: { ...hostEnvironment(process.env), SBX_ZFS_LOCK: process.env.SBX_ZFS_LOCK ?? join(this.stateDir, 'zfs.lock'), ...env },
      });
      await new Promise<void>((ok, fail) => {
        child.once('spawn', ok);
        child.once('error', fail);
      }).catch((err: NodeJS.ErrnoException) => {
        const type = err.code === 'ENOENT' || err.code === 'EACCES' ? SbxErrorType.CommandMissing : SbxErrorType.CommandFailed;
        throw sbxFailure(type, `cannot start host ${hostId} with '${command[0]}': ${err.message}`);
      });
      child.unref();
      const pid = child.pid!;
      const identity = await processIdentity(pid);
      if (!identity) {
        throw sbxFailure(SbxErrorType.CommandFailed, `host ${hostId} exited at once; see ${join(this.stateDir, `${hostId}.log`)}`);
      }
      const record: HostRecord = {
        instanceId: localInstanceId(hostId, pid),
        hostId,
        fleetId,
        pid,
        startTime: identity.startTime,
        launchedAt: new Date().toISOString(),
      };
      await this.writeRecord(record);
      return record;
    } finally {
      closeSync(log);
    }
  }

  /** SIGTERM, time to drain, then SIGKILL. */
  private async stop(record: HostRecord): Promise<void> {
    const { pid, hostId } = record;
    signal(pid, 'SIGTERM');
    if (await this.waitGone(record, this.options.terminateGraceMs)) return;
    signal(pid, 'SIGKILL');
    if (await this.waitGone(record, KILL_WAIT_MS)) return;
    throw sbxFailure(SbxErrorType.CommandFailed, `host ${hostId} (pid ${pid}) survived SIGKILL`);
  }

  /** Waits for the process to have exited: an exiting one loses its cmdline before it is gone. */
  private async waitGone(record: HostRecord, timeoutMs: number): Promise<boolean> {
    const exited = async () => (await processIdentity(record.pid))?.startTime !== record.startTime;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await exited()) return true;
      await sleep(50);
    }
    return exited();
  }

  /** The process we started is still running: same pid, same start time, still our host's command. */
  private async alive(record: HostRecord): Promise<boolean> {
    return sameProcess(record.pid, record.startTime, record.hostId);
  }

  private recordPath(hostId: string): string {
    return join(this.stateDir, `${hostId}.json`);
  }

  private async readRecord(hostId: string): Promise<HostRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.recordPath(hostId), 'utf8')) as HostRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw sbxFailure(SbxErrorType.CommandFailed, `cannot read the record of host ${hostId}: ${(err as Error).message}`);
    }
  }

  /** Written beside and renamed into place, so a crash never leaves half a record. */
  private async writeRecord(record: HostRecord): Promise<void> {
    const path = this.recordPath(record.hostId);
    await writeFile(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  }

  private async serialised<T>(hostId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(hostId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    this.locks.set(hostId, next);
    try {
      return await next;
    } finally {
      if (this.locks.get(hostId) === next) this.locks.delete(hostId);
    }
  }
}

/** What a host needs from the control worker's environment: a search path, locale, trusted CAs, and sbx's own settings. */
const INHERITED = new Set(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']);

/**
 * The part of `parent` a host inherits. The control worker's environment can hold credentials (AWS
 * keys for the ec2 provisioner, a Temporal API key) that a host, which runs hostile code beside it,
 * has no use for.
 */
export function hostEnvironment(parent: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(parent).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && (INHERITED.has(entry[0]) || entry[0].startsWith('SBX_')),
    ),
  );
}

function toInstance(record: HostRecord, state: 'running' | 'terminated'): Instance {
  return { instanceId: record.instanceId, hostId: record.hostId, state };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
