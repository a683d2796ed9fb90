import type {
  ContainerState,
  ExecRequest,
  ExecResult,
  PoolHealth,
  Resources,
  SandboxOrigin,
  SnapshotInfo,
  MadeSnapshot,
} from '../../common/sandbox.js';

/**
 * Where a sandbox's filesystem lives. Every method is idempotent: the goal state already reached
 * counts as success. Names are validated by the caller (the activities) before any method runs.
 *
 * Layout of a sandbox's directory (its OCI bundle): `rootfs/` (the sandbox's `/`, snapshotted),
 * `config.json` (written by the runtime) and `checkpoint/` (hibernated memory).
 */
export interface Storage {
  readonly kind: 'zfs' | 'local-disk';
  /** Host directory of the sandbox (the OCI bundle dir); its `rootfs/` is the sandbox's root. */
  sandboxPath(sandboxId: string): Promise<string>;
  createSandbox(sandboxId: string, origin: SandboxOrigin, quotaBytes?: number): Promise<void>;
  destroySandbox(sandboxId: string): Promise<void>;
  /** The sandbox was killed for removal (its removal follows): a fork in that state no longer pins its source's snapshots. */
  removing(sandboxId: string): void;
  sandboxExists(sandboxId: string): Promise<boolean>;
  setQuota(sandboxId: string, quotaBytes: number): Promise<void>;
  usedBytes(sandboxId: string): Promise<number>;
  snapshot(sandboxId: string, name: string): Promise<MadeSnapshot>;
  /** Restores the snapshot and destroys later ones (as `zfs rollback -r`). */
  rollback(sandboxId: string, name: string): Promise<void>;
  destroySnapshot(sandboxId: string, name: string): Promise<void>;
  /** Oldest first (by creation txg on ZFS). */
  listSnapshots(sandboxId: string): Promise<SnapshotInfo[]>;
  listSandboxes(): Promise<string[]>;
  /** Marks a sandbox quarantined since `sinceMs` (epoch ms): kept but claimed by no workflow. `undefined` clears the mark. */
  setQuarantine(sandboxId: string, sinceMs: number | undefined): Promise<void>;
  /** Quarantined sandboxes and when each was marked. */
  quarantined(): Promise<Map<string, number>>;
  importTemplate(name: string, source: { dir: string } | { tar: string }): Promise<void>;
  templateExists(name: string): Promise<boolean>;
  health(): Promise<PoolHealth>;
}

export interface ExecHooks {
  signal?: AbortSignal;
  /** Called now and then while a command runs, so the activity can heartbeat. */
  onProgress?: () => void;
  /** Every chunk the command prints, past the result's cap too (kept on the host when large). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

/** What runs the sandbox. Every method is idempotent in the same sense as Storage. */
export interface Runtime {
  readonly kind: 'gvisor' | 'none';
  /**
   * Writes the bundle's config.json and starts the sandbox's init process; running already = success.
   * `fresh`: the caller knows there is no container to look for (it just destroyed it, or just made
   * the sandbox's filesystem).
   */
  start(sandboxId: string, bundlePath: string, resources: Resources, options?: { fresh?: boolean }): Promise<void>;
  exec(sandboxId: string, bundlePath: string, request: ExecRequest, hooks?: ExecHooks): Promise<ExecResult>;
  /** The argv that runs the `sbx-files` helper through `exec`, confined to the sandbox's root. */
  filesCommand(bundlePath: string): string[];
  pause(sandboxId: string): Promise<void>;
  resume(sandboxId: string): Promise<void>;
  /** Saves memory to `imagePath` and stops the sandbox (hibernate). */
  checkpoint(sandboxId: string, imagePath: string): Promise<void>;
  restore(sandboxId: string, bundlePath: string, imagePath: string): Promise<void>;
  /**
   * SIGKILLs every process of the sandbox, its container left for destroy; true once none is left
   * (none holds the sandbox's files open any more).
   */
  kill(sandboxId: string): Promise<boolean>;
  /** Kills every process and deletes the container; absent already = success. */
  destroy(sandboxId: string): Promise<void>;
  state(sandboxId: string): Promise<ContainerState>;
  list(): Promise<string[]>;
}
