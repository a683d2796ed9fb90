import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ExecResult } from '../../common/sandbox.js';
import type { OutputPage, OutputStream } from '../../protocol/messages.js';
import { utf8SafeEnd } from './output-cap.js';

const MiB = 1024 * 1024;
/** A call whose stdout or stderr goes past this has both kept in full on the host. */
export const SPILL_AFTER_BYTES = 64 * 1024;
/** Kept per stream; the rest of a longer one is only counted. */
const MAX_STORED_STREAM_BYTES = 64 * MiB;
/** Kept per sandbox: the oldest outputs go first beyond it (the agent must not fill the host's disk). */
const MAX_STORED_SANDBOX_BYTES = 256 * MiB;

const STREAMS: OutputStream[] = ['stdout', 'stderr'];

/**
 * Full outputs of tool calls too large for a result, kept in the host's data root next to the tool-call
 * journal (outside the sandbox and its snapshots) and read back in pages by `readOutput`. A result
 * carries the head of its output and a reference (its toolCallId) to the rest.
 */
export class ExecOutputStore {
  constructor(private readonly dir: string) {}

  /** Collects one call's output as it is printed; `finish` says whether it was kept. */
  capture(sandboxId: string, toolCallId: string): OutputCapture {
    return new OutputCapture(this, sandboxId, toolCallId);
  }

  /** One page of a kept output; an output no longer kept is a typed OutputExpired. */
  async read(sandboxId: string, ref: string, stream: OutputStream, offset: number, maxBytes: number): Promise<OutputPage> {
    const file = await open(this.path(sandboxId, ref, stream), 'r').catch(() => {
      throw sbxFailure(
        SbxErrorType.OutputExpired,
        `the full output of tool call ${ref} is not kept on this host (never large enough, pruned as newer ones came, or its session was forked or destroyed); run the command again to see it`,
      );
    });
    try {
      const totalBytes = (await file.stat()).size;
      if (offset > totalBytes) {
        throw sbxFailure(SbxErrorType.InvalidArgument, `offset ${offset} is past the end of ${stream} (${totalBytes} bytes)`);
      }
      const buffer = Buffer.alloc(Math.min(maxBytes, totalBytes - offset));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      const end = offset + bytesRead < totalBytes ? utf8SafeEnd(buffer, bytesRead) || bytesRead : bytesRead;
      const bytes = buffer.subarray(0, end);
      const text = validUtf8(bytes);
      return {
        stream,
        offset,
        totalBytes,
        ...(text === undefined ? { data: bytes.toString('base64'), encoding: 'base64' } : { data: text, encoding: 'utf8' }),
        ...(offset + end < totalBytes ? { nextOffset: offset + end } : {}),
      };
    } finally {
      await file.close();
    }
  }

  async forget(sandboxId: string): Promise<void> {
    await rm(join(this.dir, sandboxId), { recursive: true, force: true });
  }

  path(sandboxId: string, ref: string, stream: OutputStream): string {
    return join(this.dir, sandboxId, `${createHash('sha256').update(ref).digest('hex').slice(0, 40)}.${stream}`);
  }

  /** Drops the sandbox's oldest outputs until what is kept fits its budget. */
  async prune(sandboxId: string): Promise<void> {
    const dir = join(this.dir, sandboxId);
    const names = await readdir(dir).catch(() => [] as string[]);
    const files = await Promise.all(names.map(async (name) => ({ name, stat: await stat(join(dir, name)).catch(() => undefined) })));
    let total = files.reduce((sum, f) => sum + (f.stat?.size ?? 0), 0);
    files.sort((a, b) => (a.stat?.mtimeMs ?? 0) - (b.stat?.mtimeMs ?? 0));
    for (const { name, stat: s } of files) {
      if (total <= MAX_STORED_SANDBOX_BYTES) break;
      total -= s?.size ?? 0;
      await rm(join(dir, name), { force: true });
    }
  }
}

/** Holds a call's output in memory until a stream goes past SPILL_AFTER_BYTES, then writes both to files. */
export class OutputCapture {
  private readonly head = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly seen = { stdout: 0, stderr: 0 };
  private files: Record<OutputStream, WriteStream> | undefined;
  private failed = false;

  constructor(
    private readonly store: ExecOutputStore,
    private readonly sandboxId: string,
    private readonly ref: string,
  ) {}

  push(stream: OutputStream, chunk: Buffer): void {
    const room = MAX_STORED_STREAM_BYTES - this.seen[stream];
    this.seen[stream] += chunk.length;
    if (room <= 0 || this.failed) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (this.files) {
      this.files[stream].write(kept);
      return;
    }
    this.head[stream].push(kept);
    if (this.seen[stream] > SPILL_AFTER_BYTES) this.spill();
  }

  /** The result, with a reference to its full output when that was kept. */
  async finish(result: ExecResult): Promise<ExecResult> {
    const files = this.files;
    if (!files) return result;
    await Promise.all(STREAMS.map((s) => new Promise<void>((resolve) => files[s].end(resolve))));
    if (this.failed) {
      await Promise.all(STREAMS.map((s) => rm(this.store.path(this.sandboxId, this.ref, s), { force: true })));
      return result;
    }
    await this.store.prune(this.sandboxId);
    const complete = this.seen.stdout <= MAX_STORED_STREAM_BYTES && this.seen.stderr <= MAX_STORED_STREAM_BYTES;
    return { ...result, fullOutput: { ref: this.ref, stdoutBytes: this.seen.stdout, stderrBytes: this.seen.stderr, complete } };
  }

  private spill(): void {
    const dir = join(this.store.path(this.sandboxId, this.ref, 'stdout'), '..');
    const open = (stream: OutputStream) => {
      const file = createWriteStream(this.store.path(this.sandboxId, this.ref, stream), { mode: 0o600 });
      file.on('error', () => (this.failed = true)); // a full disk: the result keeps its head, without a reference
      for (const chunk of this.head[stream]) file.write(chunk);
      this.head[stream] = [];
      return file;
    };
    // Made before the streams open their files (they do so on a later tick).
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.files = { stdout: open('stdout'), stderr: open('stderr') };
  }
}

/** `bytes` as text when they are valid UTF-8, else undefined. */
function validUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
