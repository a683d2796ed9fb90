import { z } from 'zod';
import { SandboxId, SnapshotName, TemplateName } from './names.js';
import { lazySchema } from './lazy-schema.js';

/** Limits applied to a sandbox's cgroup and to each command's output. */
export const Resources = lazySchema(() =>
  z.object({
    cpus: z.number().positive().max(64).default(1),
    memoryMb: z.number().int().min(16).max(262_144).default(512),
    maxPids: z.number().int().min(8).max(65_536).default(256),
  }),
);
export type Resources = z.infer<typeof Resources>;
/** What a session gets when it asks for nothing; warm pools make their sandboxes so by default. */
export const DEFAULT_RESOURCES: Resources = { cpus: 1, memoryMb: 512, maxPids: 256 };

export const MiB = 1024 * 1024;
export const DEFAULT_EXEC_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_MAX_OUTPUT_BYTES = MiB;
/** Ceiling on output kept per stream: results travel through workflow history. */
export const MAX_OUTPUT_BYTES = MiB;
/** stdout + stderr together take at most this as JSON, so a result fits in one history event (2 MB limit). */
export const MAX_COMBINED_OUTPUT_BYTES = 1.5 * MiB;
/**
 * Smallest disk quota a session may ask for: below it the sandbox cannot even hold its bundle and
 * first writes (ZFS takes `quota=1`, then every write fails with EDQUOT).
 */
export const MIN_QUOTA_BYTES = 16 * MiB;
export const QuotaBytes = lazySchema(() =>
  z
    .number()
    .int('quotaBytes must be a whole number of bytes')
    .min(MIN_QUOTA_BYTES, `quotaBytes must be at least ${MIN_QUOTA_BYTES} (16 MiB)`)
    .max(Number.MAX_SAFE_INTEGER, 'quotaBytes is too large'),
);

/**
 * Bytes of one argv string or env entry (`NAME=value`), and of all of them together (each also counts
 * 9 bytes for its terminator and pointer). Linux refuses an exec past 128 KiB per string or 2 MiB in
 * all (E2BIG), and runsc's own arguments share that: these stay safely below.
 */
export const MAX_ARG_BYTES = 64 * 1024;
export const MAX_ARGV_ENV_BYTES = 256 * 1024;
/** stdin as JSON; larger input goes in a file written with writeFiles. */
export const MAX_STDIN_BYTES = MiB;
/** A whole exec request as JSON: it travels in one update and one activity input (2 MB limit each). */
export const MAX_EXEC_REQUEST_BYTES = 1.5 * MiB;

/** A path inside the sandbox: absolute (from its root) or relative to /workspace. */
export const SandboxPath = lazySchema(() =>
  z
    .string()
    .min(1, 'path must not be empty')
    .max(4096, 'path must be at most 4096 characters')
    .refine((p) => !p.includes('\0'), 'path must not contain NUL bytes'),
);

/** An argv string or env value: the kernel ends each at its first NUL byte. */
const ExecString = lazySchema(() =>
  z.string().refine((s) => !s.includes('\0'), 'command arguments and env values must not contain NUL bytes'),
);

export const ExecRequest = lazySchema(() =>
  z
    .object({
      toolCallId: z.string().min(1).max(200, 'toolCallId must be at most 200 characters'),
      /** A string runs through `/bin/sh -c`; an array runs as argv. */
      command: z.union([ExecString.min(1, 'command must not be empty'), z.array(ExecString).min(1, 'command must not be empty')]),
      cwd: SandboxPath.default('/workspace'),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names must be shell identifiers'), ExecString).default({}),
      stdin: z
        .string()
        .refine(
          (s) => serializedBytes(s) <= MAX_STDIN_BYTES,
          `stdin may be at most ${MAX_STDIN_BYTES} bytes as JSON: write larger input to a file with writeFiles`,
        )
        .optional(),
      timeoutMs: z
        .number()
        .int('timeoutMs must be a whole number of milliseconds')
        .positive('timeoutMs must be positive')
        .max(24 * 3600_000)
        .default(DEFAULT_EXEC_TIMEOUT_MS),
      maxOutputBytes: z.number().int().positive().max(MAX_OUTPUT_BYTES).default(DEFAULT_MAX_OUTPUT_BYTES),
    })
    .superRefine((request, ctx) => {
      const argv = typeof request.command === 'string' ? ['/bin/sh', '-c', request.command] : request.command;
      const problem = execArgsProblem(argv, request.env);
      if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: [problem.field] });
      else if (serializedBytes(request) > MAX_EXEC_REQUEST_BYTES) {
        ctx.addIssue({
          code: 'custom',
          message: `an exec request may be at most ${MAX_EXEC_REQUEST_BYTES} bytes as JSON: put large data in a file with writeFiles`,
        });
      }
    }),
);
export type ExecRequest = z.infer<typeof ExecRequest>;

/** Why the kernel would refuse to exec `argv` with `env` (see MAX_ARG_BYTES), or undefined. */
export function execArgsProblem(argv: string[], env: Record<string, string>): { field: 'command' | 'env'; message: string } | undefined {
  let total = 0;
  for (const [field, strings] of [
    ['command', argv],
    ['env', Object.entries(env).map(([name, value]) => `${name}=${value}`)],
  ] as const) {
    for (const s of strings) {
      const bytes = utf8Bytes(s);
      if (bytes > MAX_ARG_BYTES) {
        const what = field === 'command' ? 'each command argument (a string command counts as one)' : 'each env entry NAME=value';
        return {
          field,
          message: `${what} may be at most ${MAX_ARG_BYTES} bytes: pass large data as stdin or in a file written with writeFiles`,
        };
      }
      total += bytes + 9;
    }
  }
  if (total > MAX_ARGV_ENV_BYTES) {
    return {
      field: 'command',
      message: `command arguments and env entries may be at most ${MAX_ARGV_ENV_BYTES} bytes together: pass large data as stdin or in a file written with writeFiles`,
    };
  }
  return undefined;
}

/** UTF-8 length of `s` without encoding it (a lone surrogate becomes 3 bytes, as the encoder writes it). */
export function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
export type ExecRequestInput = z.input<typeof ExecRequest>;

export const ExecStatus = lazySchema(() => z.enum(['exited', 'timed_out', 'killed', 'oom']));
export type ExecStatus = z.infer<typeof ExecStatus>;

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  status: ExecStatus;
  durationMs: number;
  /**
   * Set on a repeated toolCallId whose recorded output was dropped at the session's continue-as-new
   * (only the newest outputs are carried): stdout and stderr are empty because they are gone, not
   * because the command printed nothing. Exit code and status are still the recorded ones.
   */
  outputExpired?: boolean;
  /**
   * Set when stdout or stderr went past what a result carries inline: the host keeps both in full
   * (up to 64 MiB each; `complete` is false beyond) and `readOutput` pages through them by `ref`.
   * Byte counts are of everything printed.
   */
  fullOutput?: { ref: string; stdoutBytes: number; stderrBytes: number; complete: boolean };
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
const FileMode = lazySchema(() =>
  z
    .number()
    .int('mode must be a whole number such as 0o644')
    .min(0)
    .max(0o777, 'mode may hold permission bits only (at most 0o777): setuid, setgid and sticky bits are refused'),
);

export const FileWrite = lazySchema(() =>
  z.object({
    path: SandboxPath,
    content: z.string(),
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
    mode: FileMode.optional(),
  }),
);
export type FileWrite = z.infer<typeof FileWrite>;

export const FileWrites = lazySchema(() =>
  z.array(FileWrite).min(1, 'files must not be empty').max(1000, 'at most 1000 files per writeFiles call'),
);
export const batchRule = `a writeFiles batch may be at most ${MAX_WRITE_BATCH_BYTES} bytes as JSON (paths and contents): split it into several calls`;

export const WriteFilesRequest = lazySchema(() =>
  z
    .object({ files: FileWrites })
    .refine((request) => serializedBytes(request.files) <= MAX_WRITE_BATCH_BYTES, { message: batchRule, path: ['files'] }),
);

export const ReadFileRequest = lazySchema(() =>
  z.object({
    path: SandboxPath,
    /** Where the page starts, in bytes; the result's `nextOffset` is where the next one does. */
    offset: z.number().int('offset must be a whole number of bytes').min(0, 'offset must not be negative').default(0),
    maxBytes: z
      .number()
      .int()
      .positive()
      .max(MAX_READ_BYTES, `maxBytes may be at most ${MAX_READ_BYTES} (read larger files in pages with offset)`)
      .default(MAX_READ_BYTES),
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
  }),
);
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

export const ListDirRequest = lazySchema(() =>
  z.object({
    path: SandboxPath.default('/workspace'),
    /** The `nextCursor` of the previous page. */
    cursor: z.string().min(1).max(255).optional(),
    limit: z.number().int().positive().max(MAX_LIST_ENTRIES).default(MAX_LIST_ENTRIES),
  }),
);
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

export const StatPathRequest = lazySchema(() => z.object({ path: SandboxPath }));
export type StatPathRequest = z.infer<typeof StatPathRequest>;

export const DeletePathRequest = lazySchema(() =>
  z.object({
    path: SandboxPath,
    /** Delete a directory with everything in it; without it only files, links and empty directories. */
    recursive: z.boolean().default(false),
  }),
);
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

/** A snapshot as its making reports it: its sizes, without its place in the dataset's history. */
export type MadeSnapshot = Omit<SnapshotInfo, 'createTxg'>;

/** Where a new sandbox's filesystem comes from: a template, or another sandbox's snapshot (fork). */
export const SandboxOrigin = lazySchema(() =>
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('template'), template: TemplateName }),
    z.object({ kind: z.literal('snapshot'), sandboxId: SandboxId, snapshot: SnapshotName }),
  ]),
);
export type SandboxOrigin = z.infer<typeof SandboxOrigin>;

export type ContainerState = 'running' | 'paused' | 'stopped' | 'absent';

export interface PoolHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  state: string;
  capacity: number;
  sizeBytes: number;
  freeBytes: number;
}
