import { z } from 'zod';
import { SandboxId, SnapshotName, TemplateName } from './names.js';

/** Limits applied to a sandbox's cgroup and to each command's output. */
export const Resources = z.object({
  cpus: z.number().positive().max(64).default(1),
  memoryMb: z.number().int().min(16).max(262_144).default(512),
  maxPids: z.number().int().min(8).max(65_536).default(256),
});
export type Resources = z.infer<typeof Resources>;
/** What a session gets when it asks for nothing; warm pools make their sandboxes so by default. */
export const DEFAULT_RESOURCES: Resources = { cpus: 1, memoryMb: 512, maxPids: 256 };

export const MiB = 1024 * 1024;
export const DEFAULT_EXEC_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_MAX_OUTPUT_BYTES = MiB;
/** Ceiling on output kept per stream: results travel through workflow history. */
export const MAX_OUTPUT_BYTES = MiB;
/** stdout + stderr together stay under this, so a result fits in one history event (2 MB limit). */
export const MAX_COMBINED_OUTPUT_BYTES = 1.5 * MiB;
/**
 * Smallest disk quota a session may ask for: below it the sandbox cannot even hold its bundle and
 * first writes (ZFS takes `quota=1`, then every write fails with EDQUOT).
 */
export const MIN_QUOTA_BYTES = 16 * MiB;
export const QuotaBytes = z
  .number()
  .int('quotaBytes must be a whole number of bytes')
  .min(MIN_QUOTA_BYTES, `quotaBytes must be at least ${MIN_QUOTA_BYTES} (16 MiB)`)
  .max(Number.MAX_SAFE_INTEGER, 'quotaBytes is too large');

/** A path inside the sandbox: absolute (from its root) or relative to /workspace. */
export const SandboxPath = z
  .string()
  .min(1, 'path must not be empty')
  .max(4096, 'path must be at most 4096 characters')
  .refine((p) => !p.includes('\0'), 'path must not contain NUL bytes');

export const ExecRequest = z.object({
  toolCallId: z.string().min(1).max(200, 'toolCallId must be at most 200 characters'),
  /** A string runs through `/bin/sh -c`; an array runs as argv. */
  command: z.union([z.string().min(1, 'command must not be empty'), z.array(z.string()).min(1, 'command must not be empty')]),
  cwd: SandboxPath.default('/workspace'),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names must be shell identifiers'), z.string()).default({}),
  stdin: z.string().max(MiB).optional(),
  timeoutMs: z
    .number()
    .int('timeoutMs must be a whole number of milliseconds')
    .positive('timeoutMs must be positive')
    .max(24 * 3600_000)
    .default(DEFAULT_EXEC_TIMEOUT_MS),
  maxOutputBytes: z.number().int().positive().max(MAX_OUTPUT_BYTES).default(DEFAULT_MAX_OUTPUT_BYTES),
});
export type ExecRequest = z.infer<typeof ExecRequest>;
export type ExecRequestInput = z.input<typeof ExecRequest>;

export const ExecStatus = z.enum(['exited', 'timed_out', 'killed', 'oom']);
export type ExecStatus = z.infer<typeof ExecStatus>;

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  status: ExecStatus;
  durationMs: number;
}

/** Bytes of one readFile page: a large file is read in pages with `offset`. */
export const MAX_READ_BYTES = MiB;
/**
 * A writeFiles batch, as it travels (JSON of paths and contents), stays under this, so the update
 * carrying it stays far below Temporal's 2 MB payload limit. Files are written as one batch.
 */
export const MAX_WRITE_BATCH_BYTES = 1.5 * MiB;
/** Entries of one listDir page: a larger directory is listed in pages with `cursor`. */
export const MAX_LIST_ENTRIES = 1000;

/** Permission bits only: setuid, setgid and sticky bits are refused (no privilege from the file API). */
const FileMode = z
  .number()
  .int('mode must be a whole number such as 0o644')
  .min(0)
  .max(0o777, 'mode may hold permission bits only (at most 0o777): setuid, setgid and sticky bits are refused');

export const FileWrite = z.object({
  path: SandboxPath,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  mode: FileMode.optional(),
});
export type FileWrite = z.infer<typeof FileWrite>;

export const FileWrites = z.array(FileWrite).min(1, 'files must not be empty').max(1000, 'at most 1000 files per writeFiles call');
export const batchRule = `a writeFiles batch may be at most ${MAX_WRITE_BATCH_BYTES} bytes as JSON (paths and contents): split it into several calls`;

export const WriteFilesRequest = z
  .object({ files: FileWrites })
  .refine((request) => serializedBytes(request.files) <= MAX_WRITE_BATCH_BYTES, { message: batchRule, path: ['files'] });

export const ReadFileRequest = z.object({
  path: SandboxPath,
  /** Where the page starts, in bytes; the result's `nextOffset` is where the next one does. */
  offset: z.number().int('offset must be a whole number of bytes').min(0, 'offset must not be negative').default(0),
  maxBytes: z.number().int().positive().max(MAX_READ_BYTES, `maxBytes may be at most ${MAX_READ_BYTES} (read larger files in pages with offset)`).default(MAX_READ_BYTES),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
});
export type ReadFileRequest = z.infer<typeof ReadFileRequest>;

export interface ReadFileResult {
  content: string;
  encoding: 'utf8' | 'base64';
  /** The whole file's size in bytes. */
  size: number;
  /** Where this page started. */
  offset: number;
  /** Set when the file goes on past this page: pass it as `offset` to read the next one. */
  nextOffset?: number;
  /** The file goes on past this page. */
  truncated: boolean;
}

export const ListDirRequest = z.object({
  path: SandboxPath.default('/workspace'),
  /** The `nextCursor` of the previous page. */
  cursor: z.string().min(1).max(255).optional(),
  limit: z.number().int().positive().max(MAX_LIST_ENTRIES).default(MAX_LIST_ENTRIES),
});
export type ListDirRequest = z.infer<typeof ListDirRequest>;

export interface DirEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
}

export interface ListDirResult {
  entries: DirEntry[];
  /** Set when there are more entries: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

export const StatPathRequest = z.object({ path: SandboxPath });
export type StatPathRequest = z.infer<typeof StatPathRequest>;

export const DeletePathRequest = z.object({
  path: SandboxPath,
  /** Delete a directory with everything in it; without it only files, links and empty directories. */
  recursive: z.boolean().default(false),
});
export type DeletePathRequest = z.infer<typeof DeletePathRequest>;

/** What is at a path; a symlink is described itself (with its target), not followed. */
export interface PathStat {
  type: DirEntry['type'];
  size: number;
  /** Permission bits. */
  mode: number;
  mtimeMs: number;
  target?: string;
}

/** Size of `value` as JSON in UTF-8, which is how it travels through Temporal. */
export function serializedBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

export interface SnapshotInfo {
  name: string;
  createTxg: number;
  usedBytes: number;
  referencedBytes: number;
}

/** Where a new sandbox's filesystem comes from: a template, or another sandbox's snapshot (fork). */
export const SandboxOrigin = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('template'), template: TemplateName }),
  z.object({ kind: z.literal('snapshot'), sandboxId: SandboxId, snapshot: SnapshotName }),
]);
export type SandboxOrigin = z.infer<typeof SandboxOrigin>;

export type ContainerState = 'running' | 'paused' | 'stopped' | 'absent';

export interface PoolHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  state: string;
  capacity: number;
  sizeBytes: number;
  freeBytes: number;
}
