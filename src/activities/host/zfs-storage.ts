import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { PoolHealth, SandboxOrigin, SnapshotInfo } from '../../common/sandbox.js';
import type { Storage } from './backends.js';
import { runZfs, runZfsRetryingBusy, ZFS_LOCK, type ZfsResult } from './zfs-cli.js';
import { zfsFailure, type ZfsOperation } from './zfs-errors.js';
import { parsePoolList, parseSnapshotList } from './zfs-parse.js';
import { assertName, assertQuota, originLabel } from './storage-names.js';

export interface ZfsStorageOptions {
  /** Parent dataset of everything sbx makes, e.g. `sbx/sbx`. */
  root: string;
  /** Set on `root` when init() creates it; children inherit it. */
  mountpoint?: string;
}

/** User property recording where a session came from; set last, so its presence means "complete". */
const ORIGIN_PROPERTY = 'sbx:origin';
const VERSION = /^v(\d+)$/;
const SNAPSHOT_PROPS = ['createtxg', 'used', 'referenced'].join(',');

/**
 * Sessions as ZFS datasets: `<root>/sessions/<id>` cloned from `<root>/templates/<name>@vN`, turn and
 * named snapshots `<session>@<name>`. Forks are independent copies (send | receive), never clones, so
 * rolling back or destroying the source is never blocked by a dependent fork; the snapshot that
 * arrives with the copy is destroyed, so a fork starts with no snapshots, as a new session does.
 *
 * zfs-fuse never `zfs rename`s a mounted dataset here: doing so right after files were written in it
 * wedges the zfs-fuse daemon (its unmount loops forever and every FUSE mount hangs).
 */
export class ZfsStorage implements Storage {
  readonly kind = 'zfs' as const;
  readonly root: string;
  private readonly mountpoint: string | undefined;
  /** Mountpoints of session datasets: asked once (a `zfs get` costs ~25 ms), forgotten on destroy. */
  private readonly paths = new Map<string, string>();

  constructor(options: ZfsStorageOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/.test(options.root) || options.root.includes('..')) {
      throw sbxFailure(SbxErrorType.InvalidArgument, `ZFS root ${JSON.stringify(options.root)} is not a dataset name such as "sbx/sbx".`);
    }
    this.root = options.root;
    this.mountpoint = options.mountpoint;
  }

  /** Creates `<root>`, `<root>/sessions` and `<root>/templates` when absent. */
  async init(): Promise<void> {
    if (!(await this.exists(this.root))) {
      const args = ['create', '-p', ...(this.mountpoint ? ['-o', `mountpoint=${this.mountpoint}`] : []), this.root];
      await this.zfsAllowing(args, { operation: 'create', dataset: this.root }, SbxErrorType.AlreadyExists);
    }
    for (const child of ['sessions', 'templates']) {
      const dataset = `${this.root}/${child}`;
      if (!(await this.exists(dataset))) {
        await this.zfsAllowing(['create', '-p', dataset], { operation: 'create', dataset }, SbxErrorType.AlreadyExists);
      }
    }
  }

  async sessionPath(sessionId: string): Promise<string> {
    const known = this.paths.get(sessionId);
    if (known) return known;
    const dataset = this.sessionDataset(sessionId);
    const path = await this.get(dataset, 'mountpoint', { operation: 'find the directory of', dataset, notFound: SbxErrorType.SessionNotFound });
    this.paths.set(sessionId, path);
    return path;
  }

  async createSession(sessionId: string, origin: SandboxOrigin, quotaBytes?: number): Promise<void> {
    const dataset = this.sessionDataset(sessionId);
    if (quotaBytes !== undefined) assertQuota(quotaBytes);
    const label = originLabel(origin);
    const recorded = await this.originOf(dataset);
    if (recorded === label) return;
    if (recorded !== undefined && recorded !== null) {
      throw sbxFailure(
        SbxErrorType.AlreadyExists,
        `Session ${sessionId} already exists, made from ${recorded} rather than ${label}; destroy it first or choose another sessionId.`,
      );
    }
    const quota = quotaBytes === undefined ? [] : ['-o', `quota=${quotaBytes}`];
    if (origin.kind === 'template') {
      assertName('template', origin.template);
      if (recorded === null) await this.destroyDataset(dataset);
      const version = await this.newestVersion(origin.template);
      const source = `${this.templateDataset(origin.template)}@${version}`;
      await this.zfs(['clone', '-o', `${ORIGIN_PROPERTY}=${label}`, ...quota, source, dataset], {
        operation: `clone ${source} into`,
        dataset,
        notFound: SbxErrorType.TemplateNotFound,
      });
      return;
    }
    assertName('sandboxId', origin.sandboxId);
    assertName('snapshot name', origin.snapshot);
    const source = `${this.sessionDataset(origin.sandboxId)}@${origin.snapshot}`;
    if (!(await this.exists(source))) {
      throw sbxFailure(
        SbxErrorType.SnapshotNotFound,
        `Cannot fork ${sessionId} from snapshot ${origin.snapshot} of sandbox ${origin.sandboxId}: that snapshot does not exist.`,
      );
    }
    // A dataset without the origin property is a receive that did not finish: start again.
    if (recorded === null) await this.destroyDataset(dataset);
    await this.sendReceive(source, dataset);
    // The copy starts with no snapshots of its own, like a session made from a template.
    await this.zfs(['destroy', `${dataset}@${origin.snapshot}`], { operation: 'destroy the received snapshot of', dataset }, true);
    if (quotaBytes !== undefined) await this.setQuota(sessionId, quotaBytes);
    await this.zfs(['set', `${ORIGIN_PROPERTY}=${label}`, dataset], { operation: 'mark as complete', dataset });
  }

  async destroySession(sessionId: string): Promise<void> {
    this.paths.delete(sessionId);
    await this.destroyDataset(this.sessionDataset(sessionId));
  }

  async sessionExists(sessionId: string): Promise<boolean> {
    return typeof (await this.originOf(this.sessionDataset(sessionId))) === 'string';
  }

  async setQuota(sessionId: string, quotaBytes: number): Promise<void> {
    assertQuota(quotaBytes);
    const dataset = this.sessionDataset(sessionId);
    await this.zfs(['set', `quota=${quotaBytes}`, dataset], {
      operation: `set a quota of ${quotaBytes} bytes on`,
      dataset,
      notFound: SbxErrorType.SessionNotFound,
    });
  }

  async usedBytes(sessionId: string): Promise<number> {
    const dataset = this.sessionDataset(sessionId);
    const used = await this.get(dataset, 'used', { operation: 'measure', dataset, notFound: SbxErrorType.SessionNotFound }, true);
    return Number(used);
  }

  async snapshot(sessionId: string, name: string): Promise<SnapshotInfo> {
    const dataset = this.sessionDataset(sessionId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    await this.zfsAllowing(
      ['snapshot', snapshot],
      { operation: 'snapshot', dataset: snapshot, notFound: SbxErrorType.SessionNotFound },
      SbxErrorType.AlreadyExists,
    );
    const out = await this.zfs(['get', '-Hp', '-o', 'name,property,value', SNAPSHOT_PROPS, snapshot], {
      operation: 'read the properties of',
      dataset: snapshot,
      notFound: SbxErrorType.SnapshotNotFound,
    });
    return parseSnapshotList(out)[0]!;
  }

  async rollback(sessionId: string, name: string): Promise<void> {
    const dataset = this.sessionDataset(sessionId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    await this.zfs(['rollback', '-r', snapshot], { operation: 'roll back to', dataset: snapshot, notFound: SbxErrorType.SnapshotNotFound }, true);
  }

  async destroySnapshot(sessionId: string, name: string): Promise<void> {
    const dataset = this.sessionDataset(sessionId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    await this.zfsAllowing(['destroy', snapshot], { operation: 'destroy', dataset: snapshot }, SbxErrorType.NotFound, true);
  }

  async listSnapshots(sessionId: string): Promise<SnapshotInfo[]> {
    return this.snapshotsOf(this.sessionDataset(sessionId), SbxErrorType.SessionNotFound);
  }

  /** Every session dataset, including a fork whose receive did not finish (for reconcilers to remove). */
  async listSessions(): Promise<string[]> {
    const parent = `${this.root}/sessions`;
    const out = await this.zfs(['list', '-H', '-o', 'name', '-r', '-d', '1', parent], { operation: 'list the sessions in', dataset: parent });
    return out
      .split('\n')
      .filter((name) => name.startsWith(`${parent}/`))
      .map((name) => name.slice(parent.length + 1))
      .sort();
  }

  /**
   * Replaces the template's `rootfs/` with the directory or tarball and snapshots the next version
   * (`@v1`, `@v2`…). On failure the live dataset is rolled back to its last version, or destroyed if
   * it has none, so no half-imported version is ever visible.
   */
  async importTemplate(name: string, source: { dir: string } | { tar: string }): Promise<void> {
    const dataset = this.templateDataset(name);
    const created = !(await this.exists(dataset));
    if (created) await this.zfsAllowing(['create', '-p', dataset], { operation: 'create', dataset }, SbxErrorType.AlreadyExists);
    const versions = await this.versionsOf(name);
    try {
      const mountpoint = await this.get(dataset, 'mountpoint', { operation: 'find the directory of', dataset });
      for (const entry of await readdir(mountpoint)) await rm(join(mountpoint, entry), { recursive: true, force: true });
      const staging = join(mountpoint, `.import-${randomBytes(4).toString('hex')}`);
      await mkdir(staging);
      if ('dir' in source) await execa('cp', ['-a', '--', `${source.dir}/.`, staging]);
      else await execa('tar', ['-x', '-f', source.tar, '-C', staging]);
      await rename(staging, join(mountpoint, 'rootfs'));
      const next = `v${(versions.at(-1) ?? 0) + 1}`;
      await this.zfs(['snapshot', `${dataset}@${next}`], { operation: 'snapshot', dataset: `${dataset}@${next}` });
    } catch (err) {
      if (versions.length === 0) await this.destroyDataset(dataset);
      else await runZfsRetryingBusy(['rollback', '-r', `${dataset}@v${versions.at(-1)}`]);
      throw importFailure(name, err);
    }
  }

  async templateExists(name: string): Promise<boolean> {
    return (await this.versionsOf(name)).length > 0;
  }

  async health(): Promise<PoolHealth> {
    const pool = this.root.split('/')[0]!;
    const out = await this.zpool(['list', '-H', '-o', 'health,size,free,capacity', pool], { operation: 'read the health of pool', dataset: pool });
    return parsePoolList(out);
  }

  private sessionDataset(sessionId: string): string {
    assertName('sessionId', sessionId);
    return `${this.root}/sessions/${sessionId}`;
  }

  private templateDataset(name: string): string {
    assertName('template', name);
    return `${this.root}/templates/${name}`;
  }

  /** Version numbers of a template, ascending; none if the template dataset does not exist. */
  private async versionsOf(name: string): Promise<number[]> {
    const dataset = this.templateDataset(name);
    const result = await runZfs('zfs', ['get', '-Hp', '-r', '-d', '1', '-o', 'name,property,value', SNAPSHOT_PROPS, dataset]);
    if (result.exitCode !== 0) {
      if (/does not exist/.test(result.stderr)) return [];
      throw zfsFailure(result, { operation: 'list the versions of', dataset });
    }
    return parseSnapshotList(result.stdout)
      .map((s) => VERSION.exec(s.name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private async newestVersion(name: string): Promise<string> {
    const versions = await this.versionsOf(name);
    if (versions.length === 0) {
      throw sbxFailure(SbxErrorType.TemplateNotFound, `Template ${name} does not exist on this host: import it first ('sbx template import').`);
    }
    return `v${versions.at(-1)}`;
  }

  private async snapshotsOf(dataset: string, notFound: SbxErrorType): Promise<SnapshotInfo[]> {
    const out = await this.zfs(['get', '-Hp', '-r', '-d', '1', '-o', 'name,property,value', SNAPSHOT_PROPS, dataset], {
      operation: 'list the snapshots of',
      dataset,
      notFound,
    });
    return parseSnapshotList(out);
  }

  /** The origin label; `null` when the dataset exists without one (unfinished), undefined when absent. */
  private async originOf(dataset: string): Promise<string | null | undefined> {
    const result = await runZfs('zfs', ['get', '-H', '-o', 'value', ORIGIN_PROPERTY, dataset]);
    if (result.exitCode !== 0) {
      if (/does not exist/.test(result.stderr)) return undefined;
      throw zfsFailure(result, { operation: 'inspect', dataset });
    }
    const value = result.stdout.trim();
    return value === '-' || value === '' ? null : value;
  }

  private async exists(dataset: string): Promise<boolean> {
    const result = await runZfs('zfs', ['list', '-H', '-o', 'name', '-t', 'all', dataset]);
    if (result.exitCode === 0) return true;
    if (/does not exist/.test(result.stderr)) return false;
    throw zfsFailure(result, { operation: 'look up', dataset });
  }

  /**
   * `zfs send <source> | zfs recv <target>`: two processes piped through this process, no shell, so
   * a worker that dies takes its copy with it (recv sees the stream end and keeps nothing) instead of
   * leaving one running beside the retry. The stream is not buffered: execa would kill a send whose
   * output passed its 100 MB buffer limit, failing every larger fork.
   */
  private async sendReceive(source: string, target: string): Promise<void> {
    const send = execa('zfs', ['send', source], { reject: false, buffer: { stdout: false } });
    const received = await send.pipe(execa('flock', [ZFS_LOCK, 'zfs', 'recv', target], { reject: false }));
    const sent = await send;
    const failed = [sent, received].find((r) => r.exitCode !== 0);
    if (failed) {
      await this.destroyDataset(target);
      throw zfsFailure(
        {
          stderr: [sent.stderr, received.stderr].map((e) => String(e ?? '')).join('\n'),
          exitCode: failed.exitCode,
          spawnCode: failed.exitCode === undefined ? (failed as { code?: string }).code : undefined,
        },
        { operation: `copy ${source} into`, dataset: target, notFound: SbxErrorType.SnapshotNotFound },
      );
    }
  }

  private async destroyDataset(dataset: string): Promise<void> {
    await this.zfsAllowing(['destroy', '-r', '-f', dataset], { operation: 'destroy', dataset }, SbxErrorType.NotFound, true);
  }

  private async get(dataset: string, property: string, op: ZfsOperation, parsable = false): Promise<string> {
    return (await this.zfs(['get', parsable ? '-Hp' : '-H', '-o', 'value', property, dataset], op)).trim();
  }

  private async zfs(args: string[], op: ZfsOperation, retryBusy = false): Promise<string> {
    const result = retryBusy ? await runZfsRetryingBusy(args) : await runZfs('zfs', args);
    return checked(result, op);
  }

  private async zpool(args: string[], op: ZfsOperation): Promise<string> {
    return checked(await runZfs('zpool', args), op);
  }

  /** Runs zfs, treating a failure of type `allowed` (e.g. "already exists") as the goal reached. */
  private async zfsAllowing(args: string[], op: ZfsOperation, allowed: SbxErrorType, retryBusy = false): Promise<void> {
    try {
      await this.zfs(args, { ...op, notFound: op.notFound ?? SbxErrorType.NotFound }, retryBusy);
    } catch (err) {
      if ((err as { type?: string }).type !== allowed) throw err;
    }
  }
}

function checked(result: ZfsResult, op: ZfsOperation): string {
  if (result.exitCode !== 0) throw zfsFailure(result, op);
  return result.stdout;
}

function importFailure(name: string, err: unknown): Error {
  if ((err as { type?: string }).type) return err as Error;
  const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
  return sbxFailure(SbxErrorType.InvalidArgument, `Importing template ${name} failed and was undone: ${detail}`);
}
