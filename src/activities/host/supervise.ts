import { once } from 'node:events';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ExecRequest } from '../../common/sandbox.js';
import type { ExecHooks } from './backends.js';
import { OutputCap } from './output-cap.js';
import type { StartedChild } from './spawner.js';

/** What an execa child settles to: a spawn refused at once shows only there. */
type ExecaResult = PromiseLike<{ exitCode?: number; signal?: string; failed: boolean; cause?: unknown }>;

/** The execa options a supervised child needs: streamed output, no rejection, stdin from the request. */
export function supervisedStdio(request: Pick<ExecRequest, 'stdin'>) {
  return {
    buffer: false,
    reject: false,
    stripFinalNewline: false,
    ...(request.stdin === undefined ? { stdin: 'ignore' as const } : { input: request.stdin }),
  } as const;
}

export interface SupervisedExit {
  /** Exit code, or 128 + signal number when the child died from a signal. */
  exitCode: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** The signal that killed the child itself, if one did. */
  killedBy?: NodeJS.Signals;
  /** Why it ended: on its own, or because sbx killed it. */
  ending: 'exited' | 'timed_out' | 'aborted';
  durationMs: number;
}

/** How long stdio may stay open after the child exited (a background process can hold it forever). */
const DRAIN_GRACE_MS = 500;
/** How long the child may take to exit after `kill` before it is killed itself. */
const KILL_GRACE_MS = 5_000;
const PROGRESS_INTERVAL_MS = 2_000;

/**
 * Watches a child started with `supervisedStdio`: caps its output, enforces the request's timeout and
 * the hooks' cancellation through `kill` (which kills the command and everything it started),
 * reports progress, and returns once it has exited.
 */
export async function supervise(
  /** An execa child, or one from startCommand. */
  child: StartedChild | (StartedChild & ExecaResult),
  request: Pick<ExecRequest, 'maxOutputBytes' | 'timeoutMs'>,
  hooks: ExecHooks,
  kill: () => Promise<void>,
): Promise<SupervisedExit> {
  const options = { ...request, ...hooks, kill };
  const started = Date.now();
  const stdout = new OutputCap(options.maxOutputBytes);
  const stderr = new OutputCap(options.maxOutputBytes);
  child.stdout?.on('data', (chunk: Buffer) => (stdout.push(chunk), options.onOutput?.('stdout', chunk)));
  child.stderr?.on('data', (chunk: Buffer) => (stderr.push(chunk), options.onOutput?.('stderr', chunk)));
  const execaResult = 'then' in child ? Promise.resolve(child) : undefined;
  // An execa child's promise settles after the streams close; exit is awaited separately below.
  execaResult?.catch(() => undefined);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawnFailed = Promise.race([
    once(child, 'error').then(([err]) => Promise.reject(err as Error)),
    // A spawn refused at once (E2BIG) leaves execa a stand-in child that never emits exit or error;
    // only its result tells.
    execaResult
      ? execaResult.then((result) =>
          result.exitCode === undefined && result.signal === undefined && result.failed
            ? Promise.reject((result.cause as Error | undefined) ?? result)
            : new Promise<never>(() => undefined),
        )
      : new Promise<never>(() => undefined),
  ]).catch((err: NodeJS.ErrnoException) => Promise.reject(spawnFailure(err)));
  spawnFailed.catch(() => undefined);

  let ending: SupervisedExit['ending'] = 'exited';
  let killing: Promise<void> | undefined;
  const stop = (why: 'timed_out' | 'aborted') => {
    if (killing) return;
    ending = why;
    killing = options
      .kill()
      .catch(() => undefined)
      .then(async () => {
        const late = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
        await exited;
        clearTimeout(late);
      });
  };
  const timer = setTimeout(() => stop('timed_out'), options.timeoutMs);
  const onAbort = () => stop('aborted');
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const progress = options.onProgress ? setInterval(options.onProgress, PROGRESS_INTERVAL_MS) : undefined;

  try {
    const { code, signal } = await Promise.race([exited, spawnFailed]);
    await killing;
    await drain([child.stdout, child.stderr]);
    return {
      exitCode: code ?? 128 + signalNumber(signal),
      ...(signal ? { killedBy: signal } : {}),
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated,
      ending,
      durationMs: Date.now() - started,
    };
  } finally {
    clearTimeout(timer);
    if (progress) clearInterval(progress);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * A child that never started, as the typed failure to report. ENOENT stays as it is: each runtime
 * says what was missing. Arguments the kernel refuses are the caller's to fix; anything else
 * (EAGAIN, ENOMEM, EMFILE) is the host's and may pass.
 */
function spawnFailure(err: NodeJS.ErrnoException): Error {
  if (err.code === 'ENOENT') return err;
  if (err.code === 'E2BIG') {
    return sbxFailure(
      SbxErrorType.InvalidArgument,
      'The command could not be started: its arguments and environment are too large for the kernel (E2BIG).',
    );
  }
  return sbxFailure(SbxErrorType.CommandFailed, `The command could not be started (${err.code ?? err.message}); try again.`);
}

async function drain(streams: (Readable | null | undefined)[]): Promise<void> {
  const open = streams.filter((s): s is Readable => !!s && !s.closed && !s.destroyed);
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(open.map((s) => once(s, 'close').catch(() => undefined))),
    new Promise((resolve) => (grace = setTimeout(resolve, DRAIN_GRACE_MS))),
  ]);
  clearTimeout(grace);
  // Node may emit exit before reading the child's last output, and a loop busy elsewhere runs the
  // grace timer before it polls the pipes again: let one I/O poll (it precedes setImmediate) read
  // what already reached them, or an exec answers exit 0 with its output lost.
  await new Promise((resolve) => setImmediate(resolve));
  for (const s of open) s.destroy();
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] : constants.signals.SIGKILL;
}
