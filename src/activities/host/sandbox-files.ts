import { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import {
  MAX_LIST_ENTRIES,
  MAX_READ_BYTES,
  MiB,
  serializedBytes,
  type FileWrite,
  type DeletePathRequest,
  type ListDirRequest,
  type ListDirResult,
  type ReadFileRequest,
  type PathStat,
  type ReadFileResult,
  type StatPathRequest,
} from '../../common/sandbox.js';
import { escapeControls } from '../../common/shown.js';
import type { Runtime } from './backends.js';
import { FILES_CALL_ID } from './files-helper.js';
import { utf8SafeEnd } from './output-cap.js';

/**
 * The file API runs inside the sandbox: the runtime executes the `sbx-files` helper (mounted
 * read-only into every sandbox), so the sandbox's own kernel resolves each path. A symlink the
 * agent planted cannot lead the host anywhere, there is no check-then-use window on the host, and
 * what writeFiles wrote is what the next exec reads. The helper's answers are untrusted input:
 * every field is parsed and bounded here.
 */
export interface SandboxFiles {
  readFile(request: ReadFileRequest): Promise<ReadFileResult>;
  writeFiles(files: FileWrite[]): Promise<void>;
  listDir(request: ListDirRequest): Promise<ListDirResult>;
  statPath(request: StatPathRequest): Promise<PathStat>;
  deletePath(request: DeletePathRequest): Promise<void>;
}

/** A readFile result stays under this as JSON, whatever the bytes decode to. */
const MAX_RESULT_BYTES = 1.5 * MiB;
const HELPER_TIMEOUT_MS = 60_000;
/** Base64 of a full page, plus the JSON around it. */
const HELPER_OUTPUT_BYTES = 2 * MiB;

const HelperAnswer = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error: z.object({ code: z.string().max(32), detail: z.string().max(4096), index: z.number().int().min(0).optional() }),
  }),
]);
const ReadAnswer = z.object({
  size: z.number().int().min(0),
  data: z.base64().max(Math.ceil(MAX_READ_BYTES / 3) * 4),
});
const ListAnswer = z.object({
  entries: z
    .array(z.object({ name: z.string().min(1).max(255), type: z.enum(['file', 'dir', 'symlink', 'other']), size: z.number().int().min(0) }))
    .max(MAX_LIST_ENTRIES),
  more: z.boolean(),
});
const WriteAnswer = z.object({ written: z.number().int().min(0) });
const StatAnswer = z.object({
  type: z.enum(['file', 'dir', 'symlink', 'other']),
  size: z.number().int().min(0),
  mode: z.number().int().min(0).max(0o777),
  mtimeMs: z.number().int(),
  target: z.string().max(4096).optional(),
});
const DeleteAnswer = z.object({ deleted: z.literal(true) });

type Op = 'read' | 'write' | 'list' | 'stat' | 'delete';

export function sandboxFiles(runtime: Runtime, sandboxId: string, bundlePath: string): SandboxFiles {
  /** Runs one helper operation; `pathOf` names the path a failure is about. */
  async function run<S extends z.ZodType>(op: Op, request: unknown, answer: S, pathOf: (index?: number) => string): Promise<z.output<S>> {
    const result = await runtime.exec(sandboxId, bundlePath, {
      toolCallId: FILES_CALL_ID,
      command: [...runtime.filesCommand(bundlePath), op],
      cwd: '/',
      env: {},
      stdin: JSON.stringify(request),
      timeoutMs: HELPER_TIMEOUT_MS,
      maxOutputBytes: HELPER_OUTPUT_BYTES,
    });
    if (result.status !== 'exited' || result.exitCode !== 0) throw helperFailed(sandboxId, result);
    let parsed: z.infer<typeof HelperAnswer>;
    try {
      parsed = HelperAnswer.parse(JSON.parse(result.stdout));
    } catch {
      throw sbxFailure(SbxErrorType.CommandFailed, `The file helper in sandbox ${sandboxId} gave an answer sbx could not read; try again.`);
    }
    if (!parsed.ok) throw fileError(parsed.error.code, pathOf(parsed.error.index));
    const checked = answer.safeParse(parsed.result);
    if (!checked.success)
      throw sbxFailure(SbxErrorType.CommandFailed, `The file helper in sandbox ${sandboxId} gave an answer out of bounds; try again.`);
    return checked.data;
  }

  return {
    async readFile(request) {
      const page = await run(
        'read',
        { path: request.path, offset: request.offset, maxBytes: request.maxBytes },
        ReadAnswer,
        () => request.path,
      );
      let data = Buffer.from(page.data, 'base64').subarray(0, request.maxBytes);
      let text = encode(data, request.encoding, request.offset + data.length < page.size);
      // Bytes that are not text grow when escaped as JSON: shrink the page until it fits.
      while (serializedBytes(text.content) > MAX_RESULT_BYTES) {
        data = data.subarray(0, Math.floor(data.length / 2));
        text = encode(data, request.encoding, true);
      }
      const end = request.offset + text.consumed;
      const truncated = end < page.size;
      return {
        content: text.content,
        encoding: request.encoding,
        size: page.size,
        offset: request.offset,
        truncated,
        ...(truncated ? { nextOffset: end } : {}),
      };
    },

    async writeFiles(files) {
      const request = {
        files: files.map((file) => ({
          path: file.path,
          data: Buffer.from(file.content, file.encoding).toString('base64'),
          ...(file.mode === undefined ? {} : { mode: file.mode }),
        })),
      };
      await run('write', request, WriteAnswer, (index) => files[index ?? 0]?.path ?? files[0]!.path);
    },

    async listDir(request) {
      const page = await run(
        'list',
        { path: request.path, after: request.cursor ?? '', limit: request.limit },
        ListAnswer,
        () => request.path,
      );
      const entries = page.entries.slice(0, request.limit);
      return { entries, ...(page.more && entries.length ? { nextCursor: entries[entries.length - 1]!.name } : {}) };
    },

    async statPath(request) {
      return run('stat', { path: request.path }, StatAnswer, () => request.path);
    },

    async deletePath(request) {
      await run('delete', { path: request.path, recursive: request.recursive }, DeleteAnswer, () => request.path);
    },
  };
}

/** The page as text or base64; a UTF-8 page that the file continues past ends on a whole character. */
function encode(data: Buffer, encoding: 'utf8' | 'base64', continues: boolean): { content: string; consumed: number } {
  if (encoding === 'base64') return { content: data.toString('base64'), consumed: data.length };
  const consumed = continues ? utf8SafeEnd(data, data.length) : data.length;
  return { content: data.toString('utf8', 0, consumed), consumed };
}

/** A path as it appears in a message: quoted, with control characters escaped. */
export function shownPath(path: string): string {
  return escapeControls(JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path));
}

function fileError(code: string, path: string): Error {
  const shown = shownPath(path);
  switch (code) {
    case 'ENOENT':
      return sbxFailure(SbxErrorType.NotFound, `No such file or directory in the sandbox: ${shown}.`);
    case 'ENOTDIR':
      return invalid(`${shown} is not a directory, or a component of it is a file.`);
    case 'EISDIR':
      return invalid(`${shown} is a directory; give the path of a file (list a directory with listDir).`);
    case 'ENOTREG':
      return invalid(`${shown} is not a regular file (a FIFO, socket or device): the file API reads and writes regular files only.`);
    case 'ELOOP':
      return invalid(`${shown} has too many levels of symbolic links.`);
    case 'ENAMETOOLONG':
      return invalid(`${shown} is too long a path.`);
    case 'EEXIST':
    case 'ENOTEMPTY':
      return invalid(`${shown} is in the way: something else already exists there.`);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ETXTBSY':
    case 'EBUSY':
      return invalid(`${shown} cannot be changed: it is read-only or in use in the sandbox.`);
    case 'EINVAL':
      return invalid(`the request for ${shown} was refused by the sandbox as invalid.`);
    case 'EESCAPE':
      return sbxFailure(SbxErrorType.PathEscape, `Path ${shown} leads outside the sandbox; use a path inside it.`);
    case 'ENOSPC':
    case 'EDQUOT':
      return sbxFailure(
        SbxErrorType.NoSpace,
        `No space left to write ${shown}: the sandbox's quota or disk is full; free space or raise the quota.`,
      );
    default:
      return sbxFailure(SbxErrorType.CommandFailed, `File operation on ${shown} failed in the sandbox (${code.replace(/[^A-Z]/g, '')}).`);
  }
}

function invalid(message: string): Error {
  return sbxFailure(SbxErrorType.InvalidArgument, message.charAt(0).toUpperCase() + message.slice(1));
}

function helperFailed(sandboxId: string, result: { status: string; exitCode: number; stderr: string }): Error {
  if (result.status === 'exited' && result.exitCode === 127) {
    return sbxFailure(
      SbxErrorType.InvalidState,
      `Sandbox ${sandboxId} has no file helper: it was started by an older sbx. Roll it back to its latest turn (or destroy and recreate it) to restart it with one.`,
    );
  }
  const why = result.status === 'exited' ? `exit code ${result.exitCode}` : result.status.replace('_', ' ');
  return sbxFailure(SbxErrorType.CommandFailed, `The file operation in sandbox ${sandboxId} did not complete (${why}); try again.`);
}
