import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** Where the bootstrap builds helpers/sbx-spawn, whether this runs from src/ (tests) or dist/. */
export const SPAWNER_PATH = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'dist', 'host-bin', 'sbx-spawn');

/** What a caller needs of a started command: a ChildProcess, or one that sbx-spawn started. */
export interface StartedChild extends EventEmitter {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  /** Lets the process exit while this one still runs. */
  unref?(): void;
}

/** A finished command, in the shape of execa's result the callers read. */
export interface CommandResult {
  /** Unset when the command was killed by a signal or never started. */
  exitCode?: number;
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Why it never started (ENOENT, E2BIG, …). */
  code?: string;
  message?: string;
}

/**
 * Limits on a command, as `flock -w <wait> -E 75 <lock> timeout -k <killAfter> <timeout>` would put
 * them: sbx-spawn applies them itself (two processes fewer per call); without it the command line
 * is wrapped so.
 */
export interface Bounds {
  /** SIGTERM after this long and SIGKILL `killAfterMs` later; it then exits 124, or 137 after the SIGKILL. */
  timeoutMs: number;
  killAfterMs: number;
  /** An exclusive flock on `path`, held until the command ends; not taken within `waitMs`, the command never runs and exits 75. */
  lock?: { path: string; waitMs: number };
}

/** `flock`'s exit when the lock was not taken in time (its `-E`). */
export const LOCK_TIMEOUT_EXIT = 75;
/** coreutils `timeout`'s exits: the command ran out of time (124) or needed the SIGKILL after it (137). */
export const COMMAND_TIMEOUT_EXITS: ReadonlySet<number> = new Set([124, 137]);

/** `argv` under `bounds` through `flock` and `timeout`, for a start without sbx-spawn. */
export function boundedCommandLine(argv: string[], bounds: Bounds): string[] {
  const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));
  const bounded = ['timeout', '-k', seconds(bounds.killAfterMs), seconds(bounds.timeoutMs), ...argv];
  const { lock } = bounds;
  return lock ? ['flock', '-w', seconds(lock.waitMs), '-E', String(LOCK_TIMEOUT_EXIT), lock.path, ...bounded] : bounded;
}

export interface RunOptions {
  input?: string;
  bounds?: Bounds;
  /** SIGTERM after this long, then SIGKILL `killAfterMs` later; `timedOut` says so. */
  timeoutMs: number;
  killAfterMs?: number;
  stripFinalNewline?: boolean;
}

interface SpawnEvent {
  id: number;
  pid?: number;
  error?: string;
  code?: string;
  /** 1 and 2, or 3 for a detached start's report pipe. */
  fd?: number;
  data?: string;
  eof?: boolean;
  exit?: number;
  signal?: number;
}

/** The name of signal number `n`, null when it has none. */
export const signalName = (n: number): NodeJS.Signals | null =>
  (Object.entries(constants.signals).find(([, value]) => value === n)?.[0] as NodeJS.Signals | undefined) ?? null;

class RelayedChild extends EventEmitter implements StartedChild {
  /** Its relayed output streams by fd: 1 and 2, or the reaper's report pipe (3) of a detached start. */
  readonly streams: Map<number, PassThrough>;
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Whether it keeps the process alive while it runs (a detached sandbox does not). */
  counted = true;

  constructor(
    private readonly spawner: Spawner,
    readonly id: number,
    fds: number[],
  ) {
    super();
    this.streams = new Map(fds.map((fd) => [fd, new PassThrough()]));
    // A reader that gives up on a stream (a background process holds it open) lets the helper stop reading it.
    for (const stream of this.streams.values()) stream.once('close', () => stream.writableEnded || this.spawner.send({ id, close: true }));
  }

  get stdout(): PassThrough | null {
    return this.streams.get(1) ?? null;
  }

  get stderr(): PassThrough | null {
    return this.streams.get(2) ?? null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.ended()) return false;
    this.spawner.send({ id: this.id, kill: constants.signals[signal] });
    return true;
  }

  unref(): void {
    this.counted = false;
    this.spawner.refIfBusy();
  }

  ended(): boolean {
    return this.exitCode !== null || this.signalCode !== null;
  }

  receive(event: SpawnEvent): void {
    if (event.pid !== undefined) {
      this.pid = event.pid;
      this.emit('spawn');
    } else if (event.error !== undefined) {
      this.fail(Object.assign(new Error(`spawn failed: ${event.error}`), { code: event.code || undefined }));
    } else if (event.fd !== undefined) {
      const stream = this.streams.get(event.fd);
      if (event.data) stream?.write(Buffer.from(event.data, 'base64'));
      if (event.eof) stream?.end();
    } else if (event.exit !== undefined) {
      this.exit(event.signal ? null : event.exit, event.signal ? signalName(event.signal) : null);
    }
  }

  fail(err: Error): void {
    for (const stream of this.streams.values()) stream.end();
    this.emit('error', err);
  }

  /** Its helper is gone: what the command did is unknown, so it ends as killed, as with its worker. */
  abandon(): void {
    if (this.pid === undefined) return this.fail(Object.assign(new Error('the sbx-spawn helper stopped'), { code: 'EAGAIN' }));
    for (const stream of this.streams.values()) stream.end();
    if (!this.ended()) this.exit(null, 'SIGKILL');
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

/** A start whose command hands its stdio to a sandbox that outlives it (runsc run, restore). */
export interface DetachedStart {
  /** Its stderr is appended here (a pipe would stay open for the sandbox's lifetime). */
  stderrFile: string;
  /** fd 3 is a pipe, read as `report` (sbx-reaper writes the runsc CLI's exit there). */
  report: boolean;
}

/**
 * Starts commands through the sbx-spawn helper: a fork of the host worker copies its page tables
 * (about 5 ms at 180 MB, on every runsc exec and zfs call); the helper is small and starts them with
 * vfork semantics. One helper per process, started at the first command.
 */
export class Spawner {
  private helper: ChildProcess | undefined;
  private nextId = 1;
  private readonly live = new Map<number, RelayedChild>();

  constructor(private readonly binary: string) {}

  spawn(argv: string[], options: { input?: string; detached?: DetachedStart; bounds?: Bounds } = {}): RelayedChild {
    this.start();
    const { detached } = options;
    const child = new RelayedChild(this, this.nextId++, detached ? (detached.report ? [3] : []) : [1, 2]);
    this.live.set(child.id, child);
    this.refIfBusy();
    // Its output may still arrive after it exits: it is forgotten once it has exited and its streams closed.
    let waiting = 1 + child.streams.size;
    const done = () => {
      if (--waiting > 0) return;
      this.live.delete(child.id);
      this.refIfBusy();
    };
    child.once('error', () => ((waiting = 1), done()));
    child.once('exit', done);
    for (const stream of child.streams.values()) stream.once('close', done);
    const stdin = options.input === undefined ? {} : { stdin: Buffer.from(options.input).toString('base64') };
    // PATH as it is now finds the program, as a direct spawn would; the rest of the environment is the
    // worker's when the helper started (reading all of process.env costs about a millisecond).
    const { bounds } = options;
    this.send({ id: child.id, argv, path: process.env.PATH, ...stdin, ...(detached ? { detached } : {}), ...(bounds ? { bounds } : {}) });
    return child;
  }

  send(request: object): void {
    this.helper?.stdin?.write(`${JSON.stringify(request)}\n`);
  }

  private start(): void {
    if (this.helper) return;
    const helper = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.helper = helper;
    createInterface({ input: helper.stdout! }).on('line', (line) => {
      let event: SpawnEvent;
      try {
        event = JSON.parse(line) as SpawnEvent;
      } catch {
        return;
      }
      this.live.get(event.id)?.receive(event);
    });
    helper.stdin!.on('error', () => undefined);
    const lost = () => {
      if (this.helper !== helper) return;
      this.helper = undefined;
      for (const child of [...this.live.values()]) child.abandon();
    };
    helper.once('error', lost);
    helper.once('exit', lost);
    this.refIfBusy();
  }

  /** The helper keeps the process alive only while a counted command runs. */
  refIfBusy(): void {
    const helper = this.helper;
    if (!helper) return;
    const busy = [...this.live.values()].some((child) => child.counted);
    for (const handle of [helper, helper.stdin, helper.stdout] as Array<{ ref?(): void; unref?(): void } | null>) {
      if (busy) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}

let shared: Spawner | null | undefined;

/** The process's spawner, or null where the helper is not built (commands then fork this process). */
function spawner(): Spawner | null {
  shared ??= existsSync(SPAWNER_PATH) ? new Spawner(SPAWNER_PATH) : null;
  return shared;
}

/** Starts `argv` with its output on pipes (stdin from `input`, or /dev/null), within `bounds`. */
export function startCommand(argv: string[], options: { input?: string; bounds?: Bounds } = {}): StartedChild {
  const via = spawner();
  if (via) return via.spawn(argv, options);
  const line = options.bounds ? boundedCommandLine(argv, options.bounds) : argv;
  const child = spawn(line[0]!, line.slice(1), { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (options.input !== undefined) {
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input);
  }
  return child as ChildProcess & StartedChild;
}

/**
 * Starts `argv` in a session of its own with stdin and stdout on /dev/null and stderr appended to
 * `stderrFile`; with `report`, fd 3 is a pipe read as the returned `report`.
 */
export async function startDetached(argv: string[], detached: DetachedStart): Promise<{ child: StartedChild; report: Readable | null }> {
  const via = spawner();
  if (via) {
    const child = via.spawn(argv, { detached });
    return { child, report: child.streams.get(3) ?? null };
  }
  const log = await open(detached.stderrFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'ignore', log.fd, ...(detached.report ? ['pipe' as const] : [])],
      detached: true,
    });
    return { child: child as ChildProcess & StartedChild, report: (child.stdio[3] as Readable | undefined) ?? null };
  } finally {
    await log.close();
  }
}

/** Runs `argv` to its end and collects its output; never throws for a failed or missing command. */
export async function runCommand(argv: string[], options: RunOptions): Promise<CommandResult> {
  const child = startCommand(argv, options);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const [stdoutStream, stderrStream] = [child.stdout!, child.stderr!];
  stdoutStream.on('data', (chunk: Buffer) => out.push(chunk));
  stderrStream.on('data', (chunk: Buffer) => err.push(chunk));
  let timedOut = false;
  let killer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 5_000);
  }, options.timeoutMs);
  const closed = (stream: Readable) =>
    stream.closed || stream.destroyed ? Promise.resolve() : new Promise<void>((resolve) => stream.once('close', () => resolve()));
  try {
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException }>(
      (resolve) => {
        child.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
        child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
      },
    );
    if ('error' in ended) {
      return { stdout: '', stderr: '', timedOut: false, code: ended.error.code, message: ended.error.message };
    }
    await Promise.all([closed(stdoutStream), closed(stderrStream)]);
    const text = (chunks: Buffer[]) => {
      const s = Buffer.concat(chunks).toString('utf8');
      return options.stripFinalNewline ? s.replace(/\r?\n$/, '') : s;
    };
    const stdout = text(out);
    const stderr = text(err);
    if (ended.signal) {
      return { signal: ended.signal, stdout, stderr, timedOut, message: `Command was killed with ${ended.signal}: ${argv.join(' ')}` };
    }
    return { exitCode: ended.code ?? undefined, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
    clearTimeout(killer);
  }
}
