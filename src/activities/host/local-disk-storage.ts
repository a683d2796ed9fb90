import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { PoolHealth, SandboxOrigin, SnapshotInfo } from '../../common/sandbox.js';
import type { Storage } from './backends.js';
import { poolStatus } from './zfs-parse.js';
import { assertName, assertQuota, originLabel } from './storage-names.js';

export interface LocalDiskStorageOptions {
  /** A directory; sbx makes `sessions/`, `templates/`, `snapshots/`, `state/` and `staging/` in it. */
  root: string;
}

/** Per-session bookkeeping; `seq` orders snapshots (mtimes are too coarse and can repeat). */
interface SandboxState {
  origin: string;
  quotaBytes?: number;
  /** Set by reconcile while no workflow claims the session (epoch ms). */
  quarantinedSince?: number;
  nextSeq: number;
  snapshots: Array<{ name: string; seq: number }>;
}

/**
 * Sessions as plain directories, for hosts without ZFS. Slow: every snapshot, rollback and fork is a
 * full copy of the rootfs (`cp -a --reflink=auto`, cheap only on reflink filesystems such as XFS or
 * btrfs), and quotas are recorded but not enforced. Snapshots hold the rootfs only, not the bundle's
 * `config.json` or `checkpoint/`.
 *
 * Layout: `sessions/<id>/rootfs`, `templates/<name>/rootfs`, `snapshots/<id>/<name>/` (a rootfs copy),
 * `state/<id>.json`. New trees are built in `staging/` and renamed into place, so a crash never
 * leaves a half-made session or template under its real name.
 */
export class LocalDiskStorage implements Storage {
  readonly kind = 'local-disk' as const;

  constructor(private readonly options: LocalDiskStorageOptions) {}

  async init(): Promise<void> {
    for (const dir of ['sessions', 'templates', 'snapshots', 'state', 'staging'])
      await mkdir(join(this.options.root, dir), { recursive: true });
  }

  async sandboxPath(sandboxId: string): Promise<string> {
    const dir = this.sandboxDir(sandboxId);
    if (!(await isDir(dir))) throw sessionNotFound(sandboxId);
    return dir;
  }

  async createSandbox(sandboxId: string, origin: SandboxOrigin, quotaBytes?: number): Promise<void> {
    const dir = this.sandboxDir(sandboxId);
    if (quotaBytes !== undefined) assertQuota(quotaBytes);
    const label = originLabel(origin);
    if (await isDir(dir)) {
      const recorded = (await this.readState(sandboxId))?.origin;
      if (recorded === label) return;
      throw sbxFailure(
        SbxErrorType.AlreadyExists,
        `Session ${sandboxId} already exists, made from ${recorded ?? 'an unknown origin'} rather than ${label}; destroy it first or choose another sessionId.`,
      );
    }
    let source: string;
    if (origin.kind === 'template') {
      assertName('template', origin.template);
      source = join(this.templateDir(origin.template), 'rootfs');
      if (!(await isDir(source))) {
        throw sbxFailure(
          SbxErrorType.TemplateNotFound,
          `Template ${origin.template} does not exist on this host: import it first ('sbx template import').`,
        );
      }
    } else {
      assertName('sandboxId', origin.sandboxId);
      assertName('snapshot name', origin.snapshot);
      source = this.snapshotDir(origin.sandboxId, origin.snapshot);
      const recorded = (await this.readState(origin.sandboxId))?.snapshots.some((s) => s.name === origin.snapshot);
      if (!recorded || !(await isDir(source))) {
        throw sbxFailure(
          SbxErrorType.SnapshotNotFound,
          `Cannot fork ${sandboxId} from snapshot ${origin.snapshot} of sandbox ${origin.sandboxId}: that snapshot does not exist.`,
        );
      }
    }
    const staging = await this.stagingDir();
    try {
      await copyTree(source, join(staging, 'rootfs'));
      await this.writeState(sandboxId, { origin: label, quotaBytes, nextSeq: 1, snapshots: [] });
      await rm(this.snapshotsDir(sandboxId), { recursive: true, force: true });
      await rename(staging, dir);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  removing(): void {
    // Directories have no clones that could pin a source.
  }

  async destroySandbox(sandboxId: string): Promise<void> {
    // The directory goes first: without it the session no longer exists, whatever else remains.
    await rm(this.sandboxDir(sandboxId), { recursive: true, force: true });
    await rm(this.snapshotsDir(sandboxId), { recursive: true, force: true });
    await rm(this.statePath(sandboxId), { force: true });
  }

  async sandboxExists(sandboxId: string): Promise<boolean> {
    return isDir(this.sandboxDir(sandboxId));
  }

  /** Recorded only: plain directories have no quota. */
  async setQuota(sandboxId: string, quotaBytes: number): Promise<void> {
    assertQuota(quotaBytes);
    const state = await this.existingState(sandboxId);
    await this.writeState(sandboxId, { ...state, quotaBytes });
  }

  async usedBytes(sandboxId: string): Promise<number> {
    await this.sandboxPath(sandboxId);
    return (await diskUsage(this.sandboxDir(sandboxId))) + (await diskUsage(this.snapshotsDir(sandboxId)));
  }

  async snapshot(sandboxId: string, name: string): Promise<SnapshotInfo> {
    assertName('snapshot name', name);
    const state = await this.existingState(sandboxId);
    let entry = state.snapshots.find((s) => s.name === name);
    if (!entry) {
      const target = this.snapshotDir(sandboxId, name);
      await mkdir(this.snapshotsDir(sandboxId), { recursive: true });
      const staging = await this.stagingDir();
      try {
        await copyTree(join(this.sandboxDir(sandboxId), 'rootfs'), staging);
        await rm(target, { recursive: true, force: true });
        await rename(staging, target);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      entry = { name, seq: state.nextSeq };
      await this.writeState(sandboxId, { ...state, nextSeq: state.nextSeq + 1, snapshots: [...state.snapshots, entry] });
    }
    return this.info(sandboxId, entry);
  }

  /** Replaces the rootfs's contents in place (the directory itself stays, as a ZFS mount does). */
  async rollback(sandboxId: string, name: string): Promise<void> {
    assertName('snapshot name', name);
    const state = await this.existingState(sandboxId);
    const target = state.snapshots.find((s) => s.name === name);
    if (!target) throw snapshotNotFound(sandboxId, name);
    const rootfs = join(this.sandboxDir(sandboxId), 'rootfs');
    await emptyDir(rootfs);
    await copyTree(this.snapshotDir(sandboxId, name), rootfs);
    const later = state.snapshots.filter((s) => s.seq > target.seq);
    await this.writeState(sandboxId, { ...state, snapshots: state.snapshots.filter((s) => s.seq <= target.seq) });
    for (const s of later) await rm(this.snapshotDir(sandboxId, s.name), { recursive: true, force: true });
  }

  async destroySnapshot(sandboxId: string, name: string): Promise<void> {
    assertName('snapshot name', name);
    const state = await this.readState(sandboxId);
    if (state) await this.writeState(sandboxId, { ...state, snapshots: state.snapshots.filter((s) => s.name !== name) });
    await rm(this.snapshotDir(sandboxId, name), { recursive: true, force: true });
  }

  async listSnapshots(sandboxId: string): Promise<SnapshotInfo[]> {
    const state = await this.existingState(sandboxId);
    const sorted = [...state.snapshots].sort((a, b) => a.seq - b.seq);
    return Promise.all(sorted.map((s) => this.info(sandboxId, s)));
  }

  async listSandboxes(): Promise<string[]> {
    const entries = await readdir(join(this.options.root, 'sessions'), { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  }

  async setQuarantine(sandboxId: string, sinceMs: number | undefined): Promise<void> {
    const { quarantinedSince: _, ...state } = await this.existingState(sandboxId);
    await this.writeState(sandboxId, sinceMs === undefined ? state : { ...state, quarantinedSince: sinceMs });
  }

  async quarantined(): Promise<Map<string, number>> {
    const marks = new Map<string, number>();
    for (const id of await this.listSandboxes()) {
      const since = (await this.readState(id))?.quarantinedSince;
      if (since !== undefined) marks.set(id, since);
    }
    return marks;
  }

  /** Builds the new rootfs in staging, then swaps it in; sessions already made keep their copy. */
  async importTemplate(name: string, source: { dir: string } | { tar: string }): Promise<void> {
    const dir = this.templateDir(name);
    const staging = await this.stagingDir();
    const old = `${staging}-old`;
    try {
      await mkdir(join(staging, 'rootfs'));
      if ('dir' in source) await execa('cp', ['-a', '--', `${source.dir}/.`, join(staging, 'rootfs')]);
      else await execa('tar', ['-x', '-f', source.tar, '-C', join(staging, 'rootfs')]);
      await rename(dir, old).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await rename(staging, dir);
    } catch (err) {
      const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw sbxFailure(SbxErrorType.InvalidArgument, `Importing template ${name} failed and was undone: ${detail}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
      await rm(old, { recursive: true, force: true });
    }
  }

  async templateExists(name: string): Promise<boolean> {
    return isDir(join(this.templateDir(name), 'rootfs'));
  }

  async health(): Promise<PoolHealth> {
    const fs = await statfs(this.options.root);
    const sizeBytes = fs.blocks * fs.bsize;
    const freeBytes = fs.bavail * fs.bsize;
    const capacity = sizeBytes === 0 ? 0 : 1 - freeBytes / sizeBytes;
    return { status: poolStatus('ONLINE', capacity), state: 'ONLINE', capacity, sizeBytes, freeBytes };
  }

  private async info(sandboxId: string, entry: { name: string; seq: number }): Promise<SnapshotInfo> {
    const bytes = await diskUsage(this.snapshotDir(sandboxId, entry.name));
    return { name: entry.name, createTxg: entry.seq, usedBytes: bytes, referencedBytes: bytes };
  }

  private sandboxDir(sandboxId: string): string {
    assertName('sandboxId', sandboxId);
    return join(this.options.root, 'sessions', sandboxId);
  }

  private templateDir(name: string): string {
    assertName('template', name);
    return join(this.options.root, 'templates', name);
  }

  private snapshotsDir(sandboxId: string): string {
    assertName('sandboxId', sandboxId);
    return join(this.options.root, 'snapshots', sandboxId);
  }

  private snapshotDir(sandboxId: string, name: string): string {
    assertName('snapshot name', name);
    return join(this.snapshotsDir(sandboxId), name);
  }

  private statePath(sandboxId: string): string {
    assertName('sandboxId', sandboxId);
    return join(this.options.root, 'state', `${sandboxId}.json`);
  }

  private async stagingDir(): Promise<string> {
    const dir = join(this.options.root, 'staging', randomBytes(8).toString('hex'));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  private async readState(sandboxId: string): Promise<SandboxState | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath(sandboxId), 'utf8')) as SandboxState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async existingState(sandboxId: string): Promise<SandboxState> {
    const state = (await this.sandboxExists(sandboxId)) ? await this.readState(sandboxId) : undefined;
    if (!state) throw sessionNotFound(sandboxId);
    return state;
  }

  /** Written to a temporary file and renamed, so a crash leaves the old state or the new. */
  private async writeState(sandboxId: string, state: SandboxState): Promise<void> {
    const path = this.statePath(sandboxId);
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(state));
    await rename(temp, path);
  }
}

function sessionNotFound(sandboxId: string): Error {
  return sbxFailure(SbxErrorType.SessionNotFound, `Session ${sandboxId} does not exist on this host.`);
}

function snapshotNotFound(sandboxId: string, name: string): Error {
  return sbxFailure(
    SbxErrorType.SnapshotNotFound,
    `Session ${sandboxId} has no snapshot named ${name}; list its snapshots to see which exist.`,
  );
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** Copies the contents of `from` into `to` (created if needed), keeping modes, owners and links. */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  try {
    await execa('cp', ['-a', '--reflink=auto', '--', `${from}/.`, to]);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (/No space left|quota exceeded/i.test(stderr)) {
      throw sbxFailure(SbxErrorType.NoSpace, `Copying ${from} failed: the disk holding ${to} is full; free space on it.`);
    }
    throw err;
  }
}

async function emptyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}

async function diskUsage(path: string): Promise<number> {
  const result = await execa('du', ['-s', '-B1', '--', path], { reject: false });
  return result.exitCode === 0 ? Number(result.stdout.split('\t')[0]) : 0;
}
