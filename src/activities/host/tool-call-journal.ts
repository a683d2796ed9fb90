import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ExecResult } from '../../common/sandbox.js';
import { readHostFile } from './host-file.js';
import { capCombinedOutput, jsonTextBytes } from './output-cap.js';

/** Entries kept per sandbox; the session's own cache covers the same recent calls. */
const MAX_ENTRIES = 1000;
/** A recorded result whose output takes more than this keeps only the head of it (marked truncated). */
const MAX_RECORD_BYTES = 256 * 1024;
/** What such a result keeps of stdout and stderr together, as JSON text. */
const MAX_RECORDED_OUTPUT_BYTES = 64 * 1024;

/** Recorded calls per sandbox between two looks at its entry count (a directory listing each time would be on every call's path). */
const PRUNE_EVERY = 100;

/** How often a waiting caller reports progress (its activity heartbeats). */
const PROGRESS_INTERVAL_MS = 2_000;

interface Running {
  result: Promise<ExecResult>;
  stop: AbortController;
}

/** The caller waiting for a call: its cancellation, its progress report, and whether its run has closed. */
export interface Waiter {
  signal?: AbortSignal;
  onProgress?: () => void;
  orphaned?: () => boolean;
}

type Entry = { state: 'started'; toolCallId: string; at: string } | { state: 'done'; toolCallId: string; result: ExecResult };

/**
 * What happened to each tool call on this host, kept in the host's data root (outside the sandbox
 * and its snapshots, so neither the agent nor a rollback can change it). A command is marked
 * started before it is spawned and done with its result after; a retry after the worker died
 * finds one of the two and never runs the command again: the result is returned, or, when the
 * worker died while it ran, a typed OutcomeUnknown says so. This holds across the session's
 * continue-as-new, which the workflow's own cache does not.
 */
export class ToolCallJournal {
  /** Calls running in this worker, by journal file: a resend joins the one running. */
  private readonly running = new Map<string, Running>();
  /** Calls recorded per sandbox since its entries were last counted. */
  private readonly sincePrune = new Map<string, number>();

  constructor(private readonly dir: string) {}

  /**
   * Runs `command` once per toolCallId: a recorded result is returned instead of running again, and a
   * call still running in this worker is joined (a resend from the session's next run after
   * continue-as-new waits for the command already running). `waiter` is the caller's: its progress is
   * reported while it waits, and its cancellation stops the command, unless the caller's run closed
   * (`orphaned`): then only that caller stops waiting and the command runs on for the resend.
   */
  async once(
    sandboxId: string,
    toolCallId: string,
    command: (signal: AbortSignal) => Promise<ExecResult>,
    waiter: Waiter = {},
  ): Promise<ExecResult> {
    const file = this.path(sandboxId, toolCallId);
    let run = this.running.get(file);
    if (run) return waitFor(run, waiter);
    const entry = await this.read(file);
    run = this.running.get(file);
    if (run) return waitFor(run, waiter);
    if (entry?.state === 'done' && entry.toolCallId === toolCallId) return entry.result;
    if (entry?.state === 'started' && entry.toolCallId === toolCallId) {
      throw sbxFailure(
        SbxErrorType.OutcomeUnknown,
        `Tool call ${toolCallId} was running when its host worker stopped (${entry.at}); it may or may not have completed, so it is not run again. Check the sandbox, then use a new toolCallId.`,
      );
    }
    const stop = new AbortController();
    const result = this.run(file, sandboxId, toolCallId, () => command(stop.signal)).finally(() => this.running.delete(file));
    run = { result, stop };
    this.running.set(file, run);
    return waitFor(run, waiter);
  }

  private async run(file: string, sandboxId: string, toolCallId: string, command: () => Promise<ExecResult>): Promise<ExecResult> {
    await this.write(file, { state: 'started', toolCallId, at: new Date().toISOString() });
    let result: ExecResult;
    try {
      result = await command();
    } catch (err) {
      // Thrown means refused before it ran (dead sandbox, bad cwd): the call may be made again.
      await rm(file, { force: true });
      throw err;
    }
    await this.write(file, { state: 'done', toolCallId, result: fitRecord(result) });
    const recorded = (this.sincePrune.get(sandboxId) ?? 0) + 1;
    this.sincePrune.set(sandboxId, recorded % PRUNE_EVERY);
    if (recorded >= PRUNE_EVERY) await this.prune(sandboxId);
    return result;
  }

  /** Forgets a destroyed sandbox's calls. */
  async forget(sandboxId: string): Promise<void> {
    this.sincePrune.delete(sandboxId);
    await rm(join(this.dir, sandboxId), { recursive: true, force: true });
  }

  private path(sandboxId: string, toolCallId: string): string {
    return join(this.dir, sandboxId, `${createHash('sha256').update(toolCallId).digest('hex').slice(0, 40)}.json`);
  }

  private async read(file: string): Promise<Entry | undefined> {
    const text = readHostFile(file);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Entry;
    } catch {
      return undefined; // torn by a crash mid-write: written through a rename, so never, but harmless
    }
  }

  /** Synchronous, as readHostFile is: a small file written on every tool call's path. */
  private async write(file: string, entry: Entry): Promise<void> {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(temp, file);
  }

  private async prune(sandboxId: string): Promise<void> {
    const dir = join(this.dir, sandboxId);
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.length <= MAX_ENTRIES) return;
    const aged = await Promise.all(
      names.map(async (name) => ({ name, mtime: (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0 })),
    );
    aged.sort((a, b) => a.mtime - b.mtime);
    await Promise.all(aged.slice(0, names.length - MAX_ENTRIES).map(({ name }) => rm(join(dir, name), { force: true })));
  }
}

/** The result as recorded: its output cut so one entry stays small. */
function fitRecord(result: ExecResult): ExecResult {
  const bytes = jsonTextBytes(result.stdout, MAX_RECORD_BYTES) + jsonTextBytes(result.stderr, MAX_RECORD_BYTES);
  if (bytes <= MAX_RECORD_BYTES) return result;
  return { ...capCombinedOutput(result, MAX_RECORDED_OUTPUT_BYTES), truncated: true };
}

/** Waits for `run` on behalf of `waiter` (see `once`). */
function waitFor(run: Running, { signal, onProgress, orphaned }: Waiter): Promise<ExecResult> {
  if (!signal && !onProgress) return run.result;
  return new Promise<ExecResult>((resolve, reject) => {
    const beat = onProgress ? setInterval(onProgress, PROGRESS_INTERVAL_MS) : undefined;
    const done = () => {
      clearInterval(beat);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      if (!orphaned?.()) return run.stop.abort(signal?.reason);
      done();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('the caller stopped waiting'));
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    run.result.then(resolve, reject).finally(done);
  });
}
