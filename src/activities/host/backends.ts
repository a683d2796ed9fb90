import type { ContainerState, ExecRequest, ExecResult, PoolHealth, Resources, SandboxOrigin, SnapshotInfo } from '../../common/sandbox.js';

/**
 * Where a session's filesystem lives. Every method is idempotent: the goal state already reached
 * counts as success. Names are validated by the caller (the activities) before any method runs.
 *
 * Layout of a session's directory (its OCI bundle): `rootfs/` (the sandbox's `/`, snapshotted),
 * `config.json` (written by the runtime) and `checkpoint/` (hibernated memory).
 */
export interface Storage {
  readonly kind: 'zfs' | 'local-disk';
  /** Host directory of the session (the OCI bundle dir); its `rootfs/` is the sandbox's root. */
  sessionPath(sessionId: string): Promise<string>;
  createSession(sessionId: string, origin: SandboxOrigin, quotaBytes?: number): Promise<void>;
  destroySession(sessionId: string): Promise<void>;
  sessionExists(sessionId: string): Promise<boolean>;
  setQuota(sessionId: string, quotaBytes: number): Promise<void>;
  usedBytes(sessionId: string): Promise<number>;
  snapshot(sessionId: string, name: string): Promise<SnapshotInfo>;
  /** Restores the snapshot and destroys later ones (as `zfs rollback -r`). */
  rollback(sessionId: string, name: string): Promise<void>;
  destroySnapshot(sessionId: string, name: string): Promise<void>;
  /** Oldest first (by creation txg on ZFS). */
  listSnapshots(sessionId: string): Promise<SnapshotInfo[]>;
  listSessions(): Promise<string[]>;
  /** Marks a session quarantined since `sinceMs` (epoch ms): kept but claimed by no workflow. `undefined` clears the mark. */
  setQuarantine(sessionId: string, sinceMs: number | undefined): Promise<void>;
  /** Quarantined sessions and when each was marked. */
  quarantined(): Promise<Map<string, number>>;
  importTemplate(name: string, source: { dir: string } | { tar: string }): Promise<void>;
  templateExists(name: string): Promise<boolean>;
  health(): Promise<PoolHealth>;
}

export interface ExecHooks {
  signal?: AbortSignal;
  /** Called now and then while a command runs, so the activity can heartbeat. */
  onProgress?: () => void;
}

/** What runs the sandbox. Every method is idempotent in the same sense as Storage. */
export interface Runtime {
  readonly kind: 'gvisor' | 'none';
  /** Writes the bundle's config.json and starts the sandbox's init process; running already = success. */
  start(sessionId: string, bundlePath: string, resources: Resources): Promise<void>;
  exec(sessionId: string, bundlePath: string, request: ExecRequest, hooks?: ExecHooks): Promise<ExecResult>;
  /** The argv that runs the `sbx-files` helper through `exec`, confined to the sandbox's root. */
  filesCommand(bundlePath: string): string[];
  pause(sessionId: string): Promise<void>;
  resume(sessionId: string): Promise<void>;
  /** Saves memory to `imagePath` and stops the sandbox (hibernate). */
  checkpoint(sessionId: string, imagePath: string): Promise<void>;
  restore(sessionId: string, bundlePath: string, imagePath: string): Promise<void>;
  /** Kills every process and deletes the container; absent already = success. */
  destroy(sessionId: string): Promise<void>;
  state(sessionId: string): Promise<ContainerState>;
  list(): Promise<string[]>;
}
