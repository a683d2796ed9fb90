import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { MadeSnapshot, PoolHealth, SandboxOrigin, SnapshotInfo } from '../../common/sandbox.js';
import type { Storage } from './backends.js';
import { ensureNosuidNodev } from './mount-flags.js';
import { DEFAULT_ZFS_CLI, runZfs, runZfsRetryingBusy, type ZfsCliOptions, type ZfsResult } from './zfs-cli.js';
import { zfsFailure, type ZfsOperation } from './zfs-errors.js';
import { parsePoolList, parseSnapshotList } from './zfs-parse.js';
import { assertName, assertQuota, originLabel } from './storage-names.js';

export interface ZfsStorageOptions {
  /** Parent dataset of everything sbx makes, e.g. `sbx/sbx`. */
  root: string;
  /** Set on `root` when init() creates it; children inherit it. */
  mountpoint?: string;
  /** Lock, wait and time limits of every zfs call. */
  cli?: ZfsCliOptions;
  /**
   * Pool space held by `<root>/reserve` that sessions cannot fill; lent for a moment to a snapshot
   * or rollback of an existing session that finds the pool full (never to a new session or a fork). 0 keeps none; undefined leaves the reserve as it is
   * (a tool beside the host, such as a template import).
   */
  reserveBytes?: number;
}

/** User property recording where a session came from; set last, so its presence means "complete". */
const ORIGIN_PROPERTY = 'sbx:origin';
/** User property set by reconcile on a session no workflow claims: when it was quarantined (epoch ms). */
const QUARANTINE_PROPERTY = 'sbx:quarantined';
/**
 * Session datasets hold what sandboxes write: no setuid programs, no device nodes, but programs run.
 * No access times: with them every file an agent read was a metadata write, which the next turn's
 * snapshot kept (88 KiB for reading 50 small files) and had to sync first.
 */
export const SESSION_PROPERTIES = ['setuid=off', 'devices=off', 'exec=on', 'atime=off'];
/**
 * User property on a destroyed session that forks were cloned from (epoch ms): its dataset stays,
 * out of every listing, until the last of them is gone.
 */
const RETIRED_PROPERTY = 'sbx:retired';
const VERSION = /^v(\d+)$/;
const SNAPSHOT_PROPS = ['createtxg', 'used', 'referenced'].join(',');

/**
 * Sessions as ZFS datasets: `<root>/sessions/<id>` cloned from `<root>/templates/<name>@vN`, turn and
 * named snapshots `<session>@<name>`. A fork is a `zfs clone` of the source's snapshot: O(1), whatever
 * the workspace holds, and it starts with no snapshots, as a new session does. The clone depends on
 * that snapshot, so a destroyed source with live forks is retired (kept, unlisted) until its last
 * fork goes, and a rollback of the source past a snapshot that live forks were made from is refused
 * (zfs rollback -r would destroy them; and zfs-fuse unmounts every clone, busy or not, to rename the
 * snapshot out of the way).
 *
 * zfs-fuse never `zfs rename`s a mounted dataset here: doing so right after files were written in it
 * wedges the zfs-fuse daemon (its unmount loops forever and every FUSE mount hangs).
 */
export class ZfsStorage implements Storage {
  readonly kind = 'zfs' as const;
  readonly root: string;
  private readonly mountpoint: string | undefined;
  private readonly cli: ZfsCliOptions;
  private readonly reserveBytes: number | undefined;
  /** False while the reserve is lent out or could not be taken back; health() tries again. */
  private reserveHeld = true;
  /** Mountpoints of session datasets: asked once (a `zfs get` costs ~25 ms), forgotten on destroy. */
  private readonly paths = new Map<string, string>();
  /** Where `<root>/sessions` is mounted, which every session inherits: asked once. */
  private sessionsMountpoint: Promise<string> | undefined;
  /** The removal running now, which the next one waits for (see destroySandbox). */
  private removals: Promise<void> = Promise.resolve();
  /** Sandboxes killed for removal whose removal may not have run yet (see rollback). */
  private readonly toRemove = new Set<string>();

  constructor(options: ZfsStorageOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/.test(options.root) || options.root.includes('..')) {
      throw sbxFailure(SbxErrorType.InvalidArgument, `ZFS root ${JSON.stringify(options.root)} is not a dataset name such as "sbx/sbx".`);
    }
    this.root = options.root;
    this.mountpoint = options.mountpoint;
    this.cli = options.cli ?? DEFAULT_ZFS_CLI;
    this.reserveBytes = options.reserveBytes;
  }

  /**
   * Creates `<root>`, `<root>/sessions` and `<root>/templates` when absent, sets the session
   * properties on `<root>/sessions` (children inherit them) and holds the reserve.
   */
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
    const sessions = `${this.root}/sessions`;
    for (const property of SESSION_PROPERTIES)
      await this.zfs(['set', property, sessions], { operation: `set ${property} on`, dataset: sessions });
    if (this.reserveBytes !== undefined) await this.initReserve();
    await this.sweep();
  }

  /** What a worker that died mid-way left: retired sessions whose forks are all gone. */
  private async sweep(): Promise<void> {
    for (const dataset of (await this.sessionMarks()).filter((m) => m.retired).map((m) => m.dataset)) await this.collectRetired(dataset);
  }

  /** `<root>/reserve`: an empty, unmounted dataset whose `reservation` keeps pool space from sessions. */
  private async initReserve(): Promise<void> {
    const dataset = this.reserveDataset;
    if (!this.reserveBytes) {
      if (await this.exists(dataset)) await this.zfs(['set', 'reservation=none', dataset], { operation: 'release the reserve', dataset });
      return;
    }
    if (!(await this.exists(dataset))) {
      await this.zfsAllowing(['create', '-o', 'mountpoint=none', dataset], { operation: 'create', dataset }, SbxErrorType.AlreadyExists);
    }
    const result = await runZfs('zfs', ['set', `reservation=${this.reserveBytes}`, dataset], this.cli);
    if (result.exitCode !== 0) {
      if (/greater than available|out of space/.test(result.stderr)) {
        throw sbxFailure(
          SbxErrorType.NoSpace,
          `Pool ${this.root.split('/')[0]} has less than the ${this.reserveBytes} bytes this host keeps in reserve free: free space in the pool or lower the reserve (sbx host --reserve-mb).`,
        );
      }
      throw zfsFailure(result, { operation: 'hold the reserve', dataset });
    }
    this.reserveHeld = true;
  }

  private get reserveDataset(): string {
    return `${this.root}/reserve`;
  }

  async sandboxPath(sandboxId: string): Promise<string> {
    const known = this.paths.get(sandboxId);
    if (known) return known;
    const dataset = this.sandboxDataset(sandboxId);
    const path = await this.get(dataset, 'mountpoint', {
      operation: 'find the directory of',
      dataset,
      notFound: SbxErrorType.SessionNotFound,
    });
    await ensureNosuidNodev(path);
    this.paths.set(sandboxId, path);
    return path;
  }

  async createSandbox(sandboxId: string, origin: SandboxOrigin, quotaBytes?: number): Promise<void> {
    const dataset = this.sandboxDataset(sandboxId);
    if (quotaBytes !== undefined) assertQuota(quotaBytes);
    const label = originLabel(origin);
    // A template's newest version is read beside the dataset's origin: two zfs reads at once, not one after the other.
    if (origin.kind === 'template') assertName('template', origin.template);
    const version = origin.kind === 'template' ? this.newestVersion(origin.template) : undefined;
    version?.catch(() => undefined);
    const recorded = await this.originOf(dataset);
    if (recorded === label) return;
    if (recorded !== undefined && recorded !== null) {
      throw sbxFailure(
        SbxErrorType.AlreadyExists,
        `Session ${sandboxId} already exists, made from ${recorded} rather than ${label}; destroy it first or choose another sandboxId.`,
      );
    }
    if (recorded === null && (await this.lineage(dataset))?.retired) {
      throw sbxFailure(
        SbxErrorType.AlreadyExists,
        `Session ${sandboxId} was destroyed, but forks made from it still use its snapshots, so its name is not free yet: choose another sandboxId.`,
      );
    }
    const quota = quotaBytes === undefined ? [] : ['-o', `quota=${quotaBytes}`];
    const properties = SESSION_PROPERTIES.flatMap((p) => ['-o', p]);
    if (origin.kind === 'template') {
      if (recorded === null) await this.destroyDataset(dataset);
      const source = `${this.templateDataset(origin.template)}@${await version}`;
      await this.zfs(['clone', ...properties, '-o', `${ORIGIN_PROPERTY}=${label}`, ...quota, source, dataset], {
        operation: `clone ${source} into`,
        dataset,
        notFound: SbxErrorType.TemplateNotFound,
      });
      await this.clonedPath(sandboxId);
      return;
    }
    assertName('sandboxId', origin.sandboxId);
    assertName('snapshot name', origin.snapshot);
    const source = `${this.sandboxDataset(origin.sandboxId)}@${origin.snapshot}`;
    // No look-up first: the clone (or the quota's measure) fails as SnapshotNotFound on its own.
    const noSource = (err: unknown) => {
      if ((err as { type?: string }).type !== SbxErrorType.SnapshotNotFound) throw err;
      throw sbxFailure(
        SbxErrorType.SnapshotNotFound,
        `Cannot fork ${sandboxId} from snapshot ${origin.snapshot} of sandbox ${origin.sandboxId}: that snapshot does not exist.`,
      );
    };
    if (quotaBytes !== undefined) {
      const measure = { operation: 'measure', dataset: source, notFound: SbxErrorType.SnapshotNotFound };
      const referenced = Number(await this.get(source, 'referenced', measure, true).catch(noSource));
      if (quotaBytes < referenced + QUOTA_HEADROOM_BYTES) {
        throw sbxFailure(
          SbxErrorType.InvalidArgument,
          `quotaBytes ${quotaBytes} is too small for a fork of snapshot ${origin.snapshot}, which holds ${referenced} bytes: give at least ${referenced + QUOTA_HEADROOM_BYTES}.`,
        );
      }
    }
    // A dataset without the origin property is a fork that did not finish (an older copy): start again.
    if (recorded === null) await this.destroyDataset(dataset);
    // One atomic command, the origin property with it: the fork is complete or absent.
    await this.zfs(['clone', ...properties, '-o', `${ORIGIN_PROPERTY}=${label}`, ...quota, source, dataset], {
      operation: `clone ${source} into`,
      dataset,
      notFound: SbxErrorType.SnapshotNotFound,
    }).catch(noSource);
    await this.clonedPath(sandboxId);
  }

  /**
   * The directory of a session cloned just now: it inherits its mountpoint, `<sessions' mountpoint>/<id>`,
   * so it is found without a `zfs get` when it is mounted there (else asked as for any session).
   */
  private async clonedPath(sandboxId: string): Promise<void> {
    if (!this.sessionsMountpoint) {
      const sessions = `${this.root}/sessions`;
      const asked = this.get(sessions, 'mountpoint', { operation: 'find the directory of', dataset: sessions });
      asked.catch(() => {
        if (this.sessionsMountpoint === asked) this.sessionsMountpoint = undefined;
      });
      this.sessionsMountpoint = asked;
    }
    const path = join(await this.sessionsMountpoint, sandboxId);
    if (await ensureNosuidNodev(path)) this.paths.set(sandboxId, path);
    else await this.sandboxPath(sandboxId);
  }

  /**
   * One removal at a time: a destroy answers before its removal runs, so removals of a source and its
   * forks can overlap, and a fork's removal must not look for a retired source while that source is
   * still being retired (it would be left behind until the host restarts).
   */
  removing(sandboxId: string): void {
    this.toRemove.add(sandboxId);
  }

  destroySandbox(sandboxId: string): Promise<void> {
    const run = this.removals.then(() => this.removeSandbox(sandboxId)).finally(() => this.toRemove.delete(sandboxId));
    this.removals = run.catch(() => undefined);
    return run;
  }

  private async removeSandbox(sandboxId: string): Promise<void> {
    this.paths.delete(sandboxId);
    const dataset = this.sandboxDataset(sandboxId);
    const origin = (await this.lineage(dataset))?.origin;
    const result = await runZfsRetryingBusy(['destroy', '-r', '-f', dataset], undefined, this.cli);
    if (result.exitCode !== 0 && !/does not exist/.test(result.stderr)) {
      if (!/dependent clones/.test(result.stderr)) throw zfsFailure(result, { operation: 'destroy', dataset });
      await this.retire(dataset);
      return;
    }
    // A fork's source that was destroyed while the fork lived may now be free to go.
    await this.collectRetired(origin?.split('@')[0]);
  }

  async sandboxExists(sandboxId: string): Promise<boolean> {
    return typeof (await this.originOf(this.sandboxDataset(sandboxId))) === 'string';
  }

  async setQuota(sandboxId: string, quotaBytes: number): Promise<void> {
    assertQuota(quotaBytes);
    const dataset = this.sandboxDataset(sandboxId);
    await this.zfs(['set', `quota=${quotaBytes}`, dataset], {
      operation: `set a quota of ${quotaBytes} bytes on`,
      dataset,
      notFound: SbxErrorType.SessionNotFound,
    });
  }

  async usedBytes(sandboxId: string): Promise<number> {
    const dataset = this.sandboxDataset(sandboxId);
    const used = await this.get(dataset, 'used', { operation: 'measure', dataset, notFound: SbxErrorType.SessionNotFound }, true);
    return Number(used);
  }

  async snapshot(sandboxId: string, name: string): Promise<MadeSnapshot> {
    const dataset = this.sandboxDataset(sandboxId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    const made = await runZfs('zfs', ['snapshot', snapshot], this.cli);
    if (made.exitCode === 0) {
      // A snapshot just made holds no blocks of its own, and references what its dataset does.
      const referencedBytes = await referencedAt(await this.sandboxPath(sandboxId)).catch(() => undefined);
      if (referencedBytes !== undefined) return { name, usedBytes: 0, referencedBytes };
    } else {
      if (made.timedOut) throw zfsFailure(made, { operation: 'snapshot', dataset: snapshot });
      // Step by step, to tell what failed: made by an earlier attempt, out of space (the reserve), gone.
      await this.withReserve(() =>
        this.zfsAllowing(
          ['snapshot', snapshot],
          { operation: 'snapshot', dataset: snapshot, notFound: SbxErrorType.SessionNotFound },
          SbxErrorType.AlreadyExists,
        ),
      );
    }
    const out = await this.zfs(['get', '-Hp', '-o', 'name,property,value', SNAPSHOT_PROPS, snapshot], {
      operation: 'read the properties of',
      dataset: snapshot,
      notFound: SbxErrorType.SnapshotNotFound,
    });
    const { usedBytes, referencedBytes } = parseSnapshotList(out)[0]!;
    return { name, usedBytes, referencedBytes };
  }

  async rollback(sandboxId: string, name: string): Promise<void> {
    const dataset = this.sandboxDataset(sandboxId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    const rollback = () =>
      this.zfs(
        ['rollback', '-r', snapshot],
        { operation: 'roll back to', dataset: snapshot, notFound: SbxErrorType.SnapshotNotFound },
        true,
      );
    const refusal = async (err: unknown) => {
      if (!/clones of previous snapshots exist/.test((err as Error).message)) return err;
      return this.forksInTheWay(sandboxId, name);
    };
    await this.withReserve(async () => {
      try {
        await rollback();
      } catch (err) {
        // A fork destroyed a moment ago answered before its removal ran: remove it now, then try again.
        // zfs names the clones in its refusal (`zfs get origin -r` does not list them on zfs-fuse).
        const parent = `${this.root}/sessions/`;
        const named = (err as Error).message.split(/[\s;()'"]+/).filter((word) => word.startsWith(parent) && !word.includes('@'));
        const forks = named.map((clone) => clone.slice(parent.length));
        const removable = forks.filter((fork) => this.toRemove.has(fork));
        if (removable.length === 0 || removable.length < forks.length) throw await refusal(err);
        await Promise.all(removable.map((fork) => this.destroySandbox(fork)));
        await rollback().catch(async (again: unknown) => {
          throw await refusal(again);
        });
      }
    });
    // zfs-fuse mounts the rolled-back dataset afresh, without nosuid,nodev; the mountpoint stays.
    const known = this.paths.get(sandboxId);
    if (known) await ensureNosuidNodev(known);
    else await this.sandboxPath(sandboxId);
  }

  async destroySnapshot(sandboxId: string, name: string): Promise<void> {
    const dataset = this.sandboxDataset(sandboxId);
    assertName('snapshot name', name);
    const snapshot = `${dataset}@${name}`;
    await this.zfsAllowing(['destroy', snapshot], { operation: 'destroy', dataset: snapshot }, SbxErrorType.NotFound, true);
  }

  async listSnapshots(sandboxId: string): Promise<SnapshotInfo[]> {
    return this.snapshotsOf(this.sandboxDataset(sandboxId), SbxErrorType.SessionNotFound);
  }

  /** Every session dataset, including one whose create did not finish (for reconcilers to remove); not retired ones. */
  async listSandboxes(): Promise<string[]> {
    const parent = `${this.root}/sessions`;
    return (await this.sessionMarks())
      .filter((m) => !m.retired)
      .map((m) => m.dataset.slice(parent.length + 1))
      .sort();
  }

  /** The session datasets and whether each is retired: one `zfs get`. */
  private async sessionMarks(): Promise<Array<{ dataset: string; retired: boolean }>> {
    const parent = `${this.root}/sessions`;
    const out = await this.zfs(['get', '-H', '-r', '-d', '1', '-o', 'name,value', RETIRED_PROPERTY, parent], {
      operation: 'list the sessions in',
      dataset: parent,
    });
    return out
      .split('\n')
      .map((line) => line.split('\t'))
      .filter(([name]) => name?.startsWith(`${parent}/`) && !name.includes('@'))
      .map(([name, value]) => ({ dataset: name!, retired: /^\d+$/.test(value ?? '') }));
  }

  /** A dataset's origin snapshot (a fork's source) and whether it is retired; undefined when absent. */
  private async lineage(dataset: string): Promise<{ origin: string | undefined; retired: boolean } | undefined> {
    const result = await runZfs('zfs', ['get', '-H', '-o', 'property,value', `origin,${RETIRED_PROPERTY}`, dataset], this.cli);
    if (result.exitCode !== 0) {
      if (/does not exist/.test(result.stderr)) return undefined;
      throw zfsFailure(result, { operation: 'inspect', dataset });
    }
    const values = new Map(result.stdout.split('\n').map((line) => line.split('\t') as [string, string]));
    const origin = values.get('origin');
    return { origin: origin && origin !== '-' ? origin : undefined, retired: /^\d+$/.test(values.get(RETIRED_PROPERTY) ?? '') };
  }

  /** Sessions cloned from snapshots of `dataset`: clone dataset → origin snapshot. */
  private async clones(dataset: string): Promise<Map<string, string>> {
    const parent = `${this.root}/sessions`;
    const out = await this.zfs(['get', '-H', '-r', '-d', '1', '-o', 'name,value', 'origin', parent], {
      operation: 'list the origins in',
      dataset: parent,
    });
    return new Map(
      out
        .split('\n')
        .map((line) => line.split('\t') as [string, string])
        .filter(([, origin]) => origin?.startsWith(`${dataset}@`)),
    );
  }

  /** The refusal of a rollback that would destroy the forks made from later snapshots, naming them. */
  private async forksInTheWay(sandboxId: string, name: string): Promise<Error> {
    const dataset = this.sandboxDataset(sandboxId);
    const snapshots = await this.snapshotsOf(dataset, SbxErrorType.SessionNotFound);
    const target = snapshots.find((snap) => snap.name === name)?.createTxg ?? -1;
    const later = new Set(snapshots.filter((snap) => snap.createTxg > target).map((snap) => `${dataset}@${snap.name}`));
    const parent = `${this.root}/sessions/`;
    const forks = [...(await this.clones(dataset))]
      .filter(([, origin]) => later.has(origin))
      .map(([clone, origin]) => `${clone.slice(parent.length)} (from ${origin.split('@')[1]})`);
    return sbxFailure(
      SbxErrorType.InvalidState,
      `Cannot roll session ${sandboxId} back to ${name}: forks were made from later snapshots and depend on them: ${forks.join(', ') || 'see zfs'}. Destroy those forks first, or roll back to the snapshot they were made from or a later one.`,
    );
  }

  /** A destroyed session that forks still clone from: out of every listing, its other snapshots gone. */
  private async retire(dataset: string): Promise<void> {
    await this.zfs(['set', `${RETIRED_PROPERTY}=${Date.now()}`, dataset], { operation: 'retire', dataset });
    await this.zfs(['inherit', ORIGIN_PROPERTY, dataset], { operation: 'retire', dataset });
    const cloned = new Set((await this.clones(dataset)).values());
    for (const snapshot of await this.snapshotsOf(dataset, SbxErrorType.SessionNotFound)) {
      const full = `${dataset}@${snapshot.name}`;
      if (!cloned.has(full))
        await this.zfsAllowing(['destroy', full], { operation: 'destroy', dataset: full }, SbxErrorType.NotFound, true);
    }
  }

  /**
   * After a fork went: its source's dataset, if retired and without forks now, is destroyed, then the
   * source's own source, and so on.
   */
  private async collectRetired(source: string | undefined): Promise<void> {
    for (let dataset = source; dataset;) {
      const lineage = await this.lineage(dataset);
      if (!lineage?.retired) return;
      const result = await runZfsRetryingBusy(['destroy', '-r', '-f', dataset], undefined, this.cli);
      if (result.exitCode !== 0) {
        if (/dependent clones|does not exist/.test(result.stderr)) return;
        throw zfsFailure(result, { operation: 'destroy the retired', dataset });
      }
      dataset = lineage.origin?.split('@')[0];
    }
  }

  async setQuarantine(sandboxId: string, sinceMs: number | undefined): Promise<void> {
    const dataset = this.sandboxDataset(sandboxId);
    const args = sinceMs === undefined ? ['inherit', QUARANTINE_PROPERTY, dataset] : ['set', `${QUARANTINE_PROPERTY}=${sinceMs}`, dataset];
    await this.zfs(args, {
      operation: sinceMs === undefined ? 'release from quarantine' : 'quarantine',
      dataset,
      notFound: SbxErrorType.SessionNotFound,
    });
  }

  async quarantined(): Promise<Map<string, number>> {
    const parent = `${this.root}/sessions`;
    const out = await this.zfs(['get', '-H', '-r', '-d', '1', '-o', 'name,value', QUARANTINE_PROPERTY, parent], {
      operation: 'list the quarantined sessions in',
      dataset: parent,
    });
    const marks = new Map<string, number>();
    for (const line of out.split('\n')) {
      const [name, value] = line.split('\t');
      if (!name?.startsWith(`${parent}/`) || !/^\d+$/.test(value ?? '')) continue;
      marks.set(name.slice(parent.length + 1), Number(value));
    }
    return marks;
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
      else await runZfsRetryingBusy(['rollback', '-r', `${dataset}@v${versions.at(-1)}`], undefined, this.cli);
      throw importFailure(name, err);
    }
  }

  async templateExists(name: string): Promise<boolean> {
    return (await this.versionsOf(name)).length > 0;
  }

  /** The pool's health; `degraded` while the reserve is not held (it is taken back here when it can be). */
  async health(): Promise<PoolHealth> {
    const pool = this.root.split('/')[0]!;
    if (!this.reserveHeld) await this.holdReserve();
    const out = await this.zpool(['list', '-H', '-o', 'health,size,free,capacity', pool], {
      operation: 'read the health of pool',
      dataset: pool,
    });
    const health = parsePoolList(out);
    return this.reserveHeld || health.status === 'unhealthy' ? health : { ...health, status: 'degraded' };
  }

  /**
   * Runs a change to an existing session that needs a little pool space (snapshot, rollback). When
   * the pool is full for sessions, the reserve is lent (its reservation dropped) for one more try,
   * then taken back. New sessions and forks never get it: they would spend it on data.
   */
  private async withReserve<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (!this.reserveBytes || (err as { type?: string }).type !== SbxErrorType.NoSpace) throw err;
      this.reserveHeld = false;
      await runZfs('zfs', ['set', 'reservation=none', this.reserveDataset], this.cli);
      try {
        return await run();
      } finally {
        await this.holdReserve();
      }
    }
  }

  /**
   * Takes the reserve back. Without room for all of it (the change that borrowed it used some), it
   * holds what is free, so the rest cannot go to sessions either, and reports false until it is whole.
   */
  private async holdReserve(): Promise<boolean> {
    const dataset = this.reserveDataset;
    const result = await runZfs('zfs', ['set', `reservation=${this.reserveBytes}`, dataset], this.cli);
    this.reserveHeld = result.exitCode === 0;
    if (!this.reserveHeld) {
      const available = await runZfs('zfs', ['get', '-Hp', '-o', 'value', 'available', dataset], this.cli);
      const bytes = Number(available.stdout.trim());
      if (available.exitCode === 0 && bytes > 0) await runZfs('zfs', ['set', `reservation=${bytes}`, dataset], this.cli);
    }
    return this.reserveHeld;
  }

  private sandboxDataset(sandboxId: string): string {
    assertName('sandboxId', sandboxId);
    return `${this.root}/sessions/${sandboxId}`;
  }

  private templateDataset(name: string): string {
    assertName('template', name);
    return `${this.root}/templates/${name}`;
  }

  /** Version numbers of a template, ascending; none if the template dataset does not exist. */
  private async versionsOf(name: string): Promise<number[]> {
    const dataset = this.templateDataset(name);
    const result = await runZfs('zfs', ['get', '-Hp', '-r', '-d', '1', '-o', 'name,property,value', SNAPSHOT_PROPS, dataset], this.cli);
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
      throw sbxFailure(
        SbxErrorType.TemplateNotFound,
        `Template ${name} does not exist on this host: import it first ('sbx template import').`,
      );
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
    const result = await runZfs('zfs', ['get', '-H', '-o', 'value', ORIGIN_PROPERTY, dataset], this.cli);
    if (result.exitCode !== 0) {
      if (/does not exist/.test(result.stderr)) return undefined;
      throw zfsFailure(result, { operation: 'inspect', dataset });
    }
    const value = result.stdout.trim();
    return value === '-' || value === '' ? null : value;
  }

  private async exists(dataset: string): Promise<boolean> {
    const result = await runZfs('zfs', ['list', '-H', '-o', 'name', '-t', 'all', dataset], this.cli);
    if (result.exitCode === 0) return true;
    if (/does not exist/.test(result.stderr)) return false;
    throw zfsFailure(result, { operation: 'look up', dataset });
  }

  private async destroyDataset(dataset: string): Promise<void> {
    await this.zfsAllowing(['destroy', '-r', '-f', dataset], { operation: 'destroy', dataset }, SbxErrorType.NotFound, true);
  }

  private async get(dataset: string, property: string, op: ZfsOperation, parsable = false): Promise<string> {
    return (await this.zfs(['get', parsable ? '-Hp' : '-H', '-o', 'value', property, dataset], op)).trim();
  }

  private async zfs(args: string[], op: ZfsOperation, retryBusy = false): Promise<string> {
    const result = retryBusy ? await runZfsRetryingBusy(args, undefined, this.cli) : await runZfs('zfs', args, this.cli);
    return checked(result, op);
  }

  private async zpool(args: string[], op: ZfsOperation): Promise<string> {
    return checked(await runZfs('zpool', args, this.cli), op);
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

/** Room a forked session needs beyond the data it copies (its bundle's config.json, a few writes). */
const QUOTA_HEADROOM_BYTES = 1024 * 1024;

function checked(result: ZfsResult, op: ZfsOperation): string {
  if (result.exitCode !== 0) throw zfsFailure(result, op);
  return result.stdout;
}

function importFailure(name: string, err: unknown): Error {
  if ((err as { type?: string }).type) return err as Error;
  const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
  return sbxFailure(SbxErrorType.InvalidArgument, `Importing template ${name} failed and was undone: ${detail}`);
}

/**
 * The referenced bytes of the dataset mounted at `path`, from its mount: zfs-fuse reports a
 * dataset's blocks in use, in 512-byte units, as exactly its `referenced`. One statfs instead of a
 * `zfs get` process (~5 ms) on every turn's path. Undefined when nothing is mounted at `path` (its
 * device is its parent's) or the mount counts in other units: the caller then asks zfs.
 */
async function referencedAt(path: string): Promise<number | undefined> {
  const [mount, parent, fs] = await Promise.all([stat(path), stat(dirname(path)), statfs(path)]);
  if (mount.dev === parent.dev || fs.bsize !== 512) return undefined;
  return (fs.blocks - fs.bfree) * fs.bsize;
}
