import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { MAX_FILE_BYTES, type DirEntry, type FileWrite, type ReadFileResult } from '../../common/sandbox.js';

const MAX_SYMLINKS = 40;

/**
 * The host path of `sandboxPath` inside `rootfs`, resolved the way the sandbox would see it: absolute
 * paths from the sandbox root, relative ones from `/workspace`, symlinks followed component by
 * component with absolute targets taken from the sandbox root. Any `..` that would climb above the
 * root, directly or through a symlink, is refused with PathEscape. Components that do not exist are
 * kept as written. Set `followFinal` false to get the link itself rather than its target.
 *
 * This checks the tree as it is now; a process inside the sandbox changing it concurrently could
 * race the check, so callers run file operations while no tool is running or accept that risk.
 */
export async function resolveInside(rootfs: string, sandboxPath: string, followFinal = true): Promise<string> {
  if (sandboxPath.includes('\0')) throw invalid(`path ${JSON.stringify(sandboxPath)} contains a NUL byte.`);
  const absolute = sandboxPath.startsWith('/') ? sandboxPath : `/workspace/${sandboxPath}`;
  const pending = absolute.split('/');
  const resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) throw escape(sandboxPath);
      resolved.pop();
      continue;
    }
    resolved.push(part);
    if (missing) continue;
    const host = join(rootfs, ...resolved);
    const info = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (!info) {
      missing = true;
      continue;
    }
    if (!info.isSymbolicLink() || (pending.every((p) => p === '' || p === '.') && !followFinal)) continue;
    if (++links > MAX_SYMLINKS) throw invalid(`path ${sandboxPath} has too many levels of symbolic links.`);
    const target = await readlink(host);
    resolved.pop();
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/'));
  }
  return join(rootfs, ...resolved);
}

/** Writes each file through a temporary file and a rename, creating parent directories. */
export async function writeFiles(rootfs: string, files: FileWrite[]): Promise<void> {
  const decoded = files.map((file) => {
    const data = Buffer.from(file.content, file.encoding ?? 'utf8');
    if (data.length > MAX_FILE_BYTES) {
      throw invalid(`file ${file.path} is ${data.length} bytes; the limit is ${MAX_FILE_BYTES} bytes per file.`);
    }
    return { file, data };
  });
  for (const { file, data } of decoded) {
    const target = await resolveInside(rootfs, file.path);
    if (target === rootfs) throw invalid(`path ${file.path} is the sandbox root, not a file.`);
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isDirectory()) throw invalid(`path ${file.path} is a directory; give the path of a file.`);
    const dir = posix.dirname(target);
    await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      throw fileError(err, file.path);
    });
    const temp = join(dir, `.sbx-write-${randomBytes(6).toString('hex')}`);
    const mode = file.mode ?? (existing ? existing.mode & 0o7777 : 0o644);
    try {
      const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.writeFile(data);
        await handle.chmod(mode);
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      // On a full ZFS quota even an unlink can fail (copy-on-write needs space): report the write's error.
      await rm(temp, { force: true }).catch(() => undefined);
      throw fileError(err as NodeJS.ErrnoException, file.path);
    }
  }
}

/** Reads at most `maxBytes`; `truncated` says there was more, `size` is the whole file's size. */
export async function readFile(
  rootfs: string,
  request: { path: string; maxBytes?: number; encoding?: 'utf8' | 'base64' },
): Promise<ReadFileResult> {
  const maxBytes = Math.min(request.maxBytes ?? MAX_FILE_BYTES, MAX_FILE_BYTES);
  const encoding = request.encoding ?? 'utf8';
  const target = await resolveInside(rootfs, request.path);
  // O_NONBLOCK so a FIFO planted at the path cannot hang the host; O_NOFOLLOW as the path is resolved.
  const handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw fileError(err, request.path);
  });
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw invalid(`path ${request.path} is a directory; list it instead of reading it.`);
    if (!info.isFile()) throw invalid(`path ${request.path} is not a regular file.`);
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const truncated = info.size > bytesRead;
    let data = buffer.subarray(0, bytesRead);
    if (truncated && encoding === 'utf8') data = data.subarray(0, completeUtf8Length(data));
    return { content: data.toString(encoding), encoding, size: info.size, truncated };
  } finally {
    await handle.close();
  }
}

/** The directory's entries sorted by name; symlinks are reported as links, not followed. */
export async function listDir(rootfs: string, path: string): Promise<DirEntry[]> {
  const target = await resolveInside(rootfs, path);
  const info = await lstat(target).catch((err: NodeJS.ErrnoException) => {
    throw fileError(err, path);
  });
  if (!info.isDirectory()) throw invalid(`path ${path} is not a directory.`);
  const names = (await readdir(target)).sort();
  const entries: DirEntry[] = [];
  for (const name of names) {
    const entry = await lstat(join(target, name)).catch(() => undefined);
    if (!entry) continue;
    const type = entry.isFile() ? 'file' : entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'symlink' : 'other';
    entries.push({ name, type, size: entry.size });
  }
  return entries;
}

/** Bytes of `data` up to the last complete UTF-8 character, so a cut never ends mid-character. */
export function completeUtf8Length(data: Uint8Array): number {
  let start = data.length;
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  for (let i = data.length - 1; i >= 0 && i >= data.length - 4; i--) {
    if ((data[i]! & 0xc0) !== 0x80) {
      start = i;
      break;
    }
  }
  if (start === data.length) return data.length;
  const lead = data[start]!;
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return data.length - start >= needed ? data.length : start;
}

function invalid(message: string): Error {
  return sbxFailure(SbxErrorType.InvalidArgument, message.charAt(0).toUpperCase() + message.slice(1));
}

function escape(path: string): Error {
  return sbxFailure(SbxErrorType.PathEscape, `Path ${path} leads outside the sandbox; use a path inside it.`);
}

/** libuv has no name for EDQUOT (errno 122 on Linux) and reports it as an unknown error. */
const EDQUOT_ERRNO = -122;

function fileError(err: NodeJS.ErrnoException, path: string): Error {
  if ((err as { type?: string }).type) return err;
  switch (err.errno === EDQUOT_ERRNO ? 'EDQUOT' : err.code) {
    case 'ENOENT':
      return sbxFailure(SbxErrorType.NotFound, `No such file or directory in the sandbox: ${path}.`);
    case 'ENOTDIR':
    case 'EEXIST':
      return invalid(`a parent of ${path} is a file, not a directory.`);
    case 'EISDIR':
      return invalid(`path ${path} is a directory; give the path of a file.`);
    case 'ELOOP':
      return invalid(`path ${path} ends in a symbolic link that could not be followed safely.`);
    case 'ENOSPC':
    case 'EDQUOT':
      return sbxFailure(SbxErrorType.NoSpace, `No space left to write ${path}: the sandbox's quota or disk is full; free space or raise the quota.`);
    default:
      return sbxFailure(SbxErrorType.CommandFailed, `File operation on ${path} failed: ${err.message}`);
  }
}
