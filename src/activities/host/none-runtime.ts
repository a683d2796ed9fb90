import { mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { execa } from 'execa';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ContainerState, ExecRequest, ExecResult, Resources } from '../../common/sandbox.js';
import type { ExecHooks, Runtime } from './backends.js';
import { FILES_HELPER } from './files-helper.js';
import { SANDBOX_PATH } from './oci-spec.js';
import { pathEscape, sandboxAbsolutePath } from './sandbox-path.js';
import { supervise, supervisedStdio } from './supervise.js';

export interface NoneRuntimeOptions {
  /** Where each session's state marker is kept, so it survives a worker restart. One per host. */
  stateDir?: string;
  warn?: (message: string) => void;
  /** Host directory holding the `sbx-files` helper. */
  helperDir: string;
}

type NoneState = Exclude<ContainerState, 'absent'>;

/**
 * No isolation at all: commands run as plain child processes of the worker, in the session's
 * rootfs directory. For development on machines without root or gVisor only.
 */
export class NoneRuntime implements Runtime {
  readonly kind = 'none' as const;
  private readonly stateDir: string;
  private readonly states = new Map<string, NoneState>();
  private readonly helperDir: string;

  constructor(options: NoneRuntimeOptions) {
    this.helperDir = options.helperDir;
    this.stateDir = options.stateDir ?? join(tmpdir(), 'sbx-none-runtime');
    (options.warn ?? console.warn)(
      'runtime "none": commands run as plain processes of this worker with its user and privileges, ' +
        'with NO isolation, NO resource limits and full network access. Use it for development only, never for untrusted code.',
    );
  }

  async start(sandboxId: string, bundlePath: string, _resources: Resources): Promise<void> {
    await mkdir(join(bundlePath, 'rootfs', 'workspace'), { recursive: true });
    if ((await this.current(sandboxId)) === 'paused') return;
    await this.record(sandboxId, 'running');
  }

  async exec(sandboxId: string, bundlePath: string, request: ExecRequest, hooks: ExecHooks = {}): Promise<ExecResult> {
    const state = await this.current(sandboxId);
    if (state === 'absent') throw sbxFailure(SbxErrorType.NotFound, `Session ${sandboxId} has no sandbox on this host: start it first.`);
    if (state === 'paused')
      throw sbxFailure(SbxErrorType.SessionPaused, `Session ${sandboxId} is paused: resume it before running commands.`);
    if (state === 'stopped')
      throw sbxFailure(SbxErrorType.InvalidState, `The sandbox of session ${sandboxId} is stopped: start or restore it first.`);

    const rootfs = join(bundlePath, 'rootfs');
    const cwd = await hostDirInside(rootfs, request.cwd);
    const [file, ...args] = typeof request.command === 'string' ? ['/bin/sh', '-c', request.command] : request.command;
    const child = execa(file!, args, {
      cwd,
      // Nothing of the worker's environment: the sandbox sees only what it is given.
      env: { PATH: SANDBOX_PATH, HOME: join(rootfs, 'root'), LANG: 'C.UTF-8', ...request.env },
      extendEnv: false,
      detached: true,
      ...supervisedStdio(request),
    });
    const run = await supervise(child, request, hooks, async () => killGroup(child.pid)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!run) {
      return { exitCode: 127, stdout: '', stderr: `${file}: command not found\n`, truncated: false, status: 'exited', durationMs: 0 };
    }
    const status = run.ending === 'timed_out' ? 'timed_out' : run.ending === 'aborted' || run.exitCode === 137 ? 'killed' : 'exited';
    return { exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr, truncated: run.truncated, status, durationMs: run.durationMs };
  }

  /** No sandbox to run it in: the helper runs on the host, confined to the rootfs by os.Root. */
  filesCommand(bundlePath: string): string[] {
    return [join(this.helperDir, FILES_HELPER), '--root', join(bundlePath, 'rootfs')];
  }

  async pause(sandboxId: string): Promise<void> {
    await this.transition(sandboxId, ['running', 'paused'], 'paused');
  }

  async resume(sandboxId: string): Promise<void> {
    await this.transition(sandboxId, ['paused', 'running'], 'running');
  }

  async checkpoint(sandboxId: string, _imagePath: string): Promise<void> {
    await this.transition(sandboxId, ['running', 'paused', 'stopped'], 'stopped');
  }

  async restore(sandboxId: string, bundlePath: string, _imagePath: string): Promise<void> {
    await mkdir(join(bundlePath, 'rootfs'), { recursive: true });
    if ((await this.current(sandboxId)) === 'paused') return;
    await this.record(sandboxId, 'running');
  }

  /** No processes run here: nothing to kill. */
  async kill(): Promise<boolean> {
    return true;
  }

  async destroy(sandboxId: string): Promise<void> {
    this.states.delete(sandboxId);
    await rm(this.markerPath(sandboxId), { force: true });
  }

  async state(sandboxId: string): Promise<ContainerState> {
    return this.current(sandboxId);
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.stateDir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  }

  private async transition(sandboxId: string, from: ContainerState[], to: NoneState): Promise<void> {
    const state = await this.current(sandboxId);
    if (state === 'absent') throw sbxFailure(SbxErrorType.NotFound, `Session ${sandboxId} has no sandbox on this host: start it first.`);
    if (!from.includes(state)) {
      throw sbxFailure(
        SbxErrorType.InvalidState,
        `The sandbox of session ${sandboxId} is ${state}, so it cannot become ${to}: start or restore it first.`,
      );
    }
    if (state !== to) await this.record(sandboxId, to);
  }

  private async current(sandboxId: string): Promise<ContainerState> {
    const known = this.states.get(sandboxId);
    if (known) return known;
    const text = await readFile(this.markerPath(sandboxId), 'utf8').catch(() => undefined);
    if (text === undefined) return 'absent';
    const { state } = JSON.parse(text) as { state: NoneState };
    this.states.set(sandboxId, state);
    return state;
  }

  private async record(sandboxId: string, state: NoneState): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    await writeFile(this.markerPath(sandboxId), JSON.stringify({ state }));
    this.states.set(sandboxId, state);
  }

  private markerPath(sandboxId: string): string {
    return join(this.stateDir, `${sandboxId}.json`);
  }
}

/**
 * The host directory for a sandbox path (relative ones start at /workspace). `..` may not climb
 * above the rootfs, and neither may a symlink on the way.
 */
async function hostDirInside(rootfs: string, sandboxPath: string): Promise<string> {
  const dir = join(rootfs, sandboxAbsolutePath(sandboxPath, 'Working directory'));
  const [realRoot, realDir] = await Promise.all([realpath(rootfs), realpath(dir).catch(() => undefined)]);
  if (realDir === undefined || !(await stat(realDir)).isDirectory()) {
    throw sbxFailure(
      SbxErrorType.InvalidArgument,
      `Working directory ${sandboxPath} does not exist in the sandbox: create it first or use another cwd.`,
    );
  }
  const rel = relative(realRoot, realDir);
  if (rel === '..' || rel.startsWith(`..${sep}`)) throw pathEscape(sandboxPath, 'Working directory');
  return realDir;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
