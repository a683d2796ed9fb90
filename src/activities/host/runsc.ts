import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ContainerState, ExecRequest, ExecResult, Resources } from '../../common/sandbox.js';
import { runscPath } from '../../dev/paths.js';
import type { ExecHooks, Runtime } from './backends.js';
import { FILES_CALL_ID, FILES_HELPER } from './files-helper.js';
import { buildOciSpec, SANDBOX_HELPER_DIR, sandboxCgroup } from './oci-spec.js';
import { sandboxAbsolutePath } from './sandbox-path.js';
import { sandboxFiles } from './sandbox-files.js';
import { supervise } from './supervise.js';
import { readHostFile } from './host-file.js';
import { runCommand, signalName, startCommand, startDetached, type CommandResult, type StartedChild } from './spawner.js';

export interface GvisorRuntimeOptions {
  /** runsc's state directory (one per host). */
  runscRoot: string;
  /** The runsc binary; default the pinned build the bootstrap made, else `runsc` on PATH. */
  runscPath?: string;
  /** `ptrace` (runsc's default) or `kvm`. */
  platform?: string;
  extraFlags?: string[];
  /** Parent cgroup of every sandbox; default `/sbx`. */
  cgroupParent?: string;
  /** Host directory holding the `sbx-files` helper, mounted read-only into every sandbox. */
  helperDir: string;
  /** Limits on one runsc call, and on checkpoint and restore; defaults below. */
  timeoutsMs?: { call: number; image: number };
  /** The `sbx-reaper` binary that runsc run and restore run under; default the built one, none if absent. */
  reaperPath?: string | null;
}

/** What `runsc state` reports; `created` means create ran but start did not. */
type RunscStatus = 'created' | 'running' | 'paused' | 'stopped';

const CHECKPOINT_FILE = 'checkpoint.img';
const CGROUP_FS = '/sys/fs/cgroup';

const CONTAINER_SUFFIX = '.sbx';
/** Where the bootstrap builds helpers/sbx-reaper, whether this runs from src/ (tests) or dist/. */
const DEFAULT_REAPER = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'dist', 'host-bin', 'sbx-reaper');
/** The sandbox's copy of the helper, in its bundle (the session's directory, outside rootfs). */
const BUNDLE_HELPER_DIR = 'helper';

/**
 * How long one runsc CLI call may take before it is killed and reported: a wedged sandbox must not
 * hold an activity slot until the activity's own timeout. Checkpoint and restore move the whole
 * sandbox memory through the disk, so they get longer (still inside the 10-minute activity).
 */
const RUNSC_TIMEOUTS_MS = { call: 120_000, image: 480_000 };
const KILL_GRACE_MS = 5_000;
/** How long destroy waits for the SIGKILLed sandbox to be reaped, and how often it looks. */
const KILL_REAP_WAIT_MS = 1_000;
const KILL_REAP_POLL_MS = 2;

/**
 * The session's container id. runsc resolves ids by prefix and calls `s1` ambiguous once `s1-fork`
 * exists; a suffix that session ids cannot contain makes no id a prefix of another.
 */
export function containerId(sandboxId: string): string {
  return `${sandboxId}${CONTAINER_SUFFIX}`;
}

/**
 * Runs each session in a gVisor sandbox: container id `<sandboxId>.sbx`, the session's directory as
 * OCI bundle, no network. Every call goes through the runsc CLI with an argument array.
 */
export class GvisorRuntime implements Runtime {
  readonly kind = 'gvisor' as const;
  private readonly binary: string;
  private readonly globalFlags: string[];
  private readonly cgroupParent: string;
  private readonly helperDir: string;
  private readonly timeoutsMs: { call: number; image: number };
  private readonly reaperPath: string | undefined;

  constructor(options: GvisorRuntimeOptions) {
    this.reaperPath =
      options.reaperPath === null ? undefined : (options.reaperPath ?? (existsSync(DEFAULT_REAPER) ? DEFAULT_REAPER : undefined));
    this.helperDir = options.helperDir;
    this.binary = options.runscPath ?? runscPath();
    this.globalFlags = [
      '--root',
      options.runscRoot,
      '--network',
      'none',
      ...pinnedFlags(this.binary),
      ...(options.platform ? ['--platform', options.platform] : []),
      ...(options.extraFlags ?? []),
    ];
    this.cgroupParent = options.cgroupParent ?? '/sbx';
    this.timeoutsMs = options.timeoutsMs ?? RUNSC_TIMEOUTS_MS;
  }

  async start(sandboxId: string, bundlePath: string, resources: Resources, { fresh = false } = {}): Promise<void> {
    // A caller that just destroyed the container knows there is none: no `runsc state` to ask.
    let status = fresh ? undefined : await this.status(sandboxId);
    if (status === 'running' || status === 'paused') return;
    if (status === 'stopped') {
      // A sandbox that died (OOM kill, host reboot) comes back as a fresh container.
      await this.runsc(['delete', '--force', containerId(sandboxId)]);
      status = undefined;
    }
    if (status === undefined) {
      const helperDir = await this.installHelper(bundlePath);
      const spec = buildOciSpec({ sandboxId, resources, cgroupParent: this.cgroupParent, helperDir });
      await writeFile(join(bundlePath, 'config.json'), JSON.stringify(spec, null, 2));
      // create and start in one runsc call (one CLI start and state load less); a run that fails
      // part-way deletes what it created.
      await this.runscDetached(['run', '--detach', '--bundle', bundlePath, containerId(sandboxId)]);
      return;
    }
    await this.runsc(['start', containerId(sandboxId)]);
  }

  async exec(sandboxId: string, bundlePath: string, request: ExecRequest, hooks: ExecHooks = {}): Promise<ExecResult> {
    // Synchronous: a local directory and a cgroup file cost microseconds, a thread-pool round trip each far more.
    const pidDir = mkdtempSync(join(tmpdir(), 'sbx-exec-'));
    const oomKillsBefore = this.oomKills(sandboxId);
    const pidFile = join(pidDir, 'pid');
    const argv = typeof request.command === 'string' ? ['/bin/sh', '-c', request.command] : request.command;
    const env = Object.entries(request.env).flatMap(([name, value]) => ['--env', `${name}=${value}`]);
    const cwd = sandboxAbsolutePath(request.cwd, 'Working directory');
    try {
      const child = startCommand(
        // The trailing /. makes the sandbox refuse a cwd that is a file, as it does a missing one.
        [
          this.binary,
          ...this.globalFlags,
          'exec',
          '--user',
          '0:0',
          '--cwd',
          `${cwd}/.`,
          ...env,
          '--internal-pid-file',
          pidFile,
          containerId(sandboxId),
          ...argv,
        ],
        { input: request.stdin },
      );
      const run = await supervise(child, request, hooks, () => this.killExec(sandboxId, pidFile)).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? runscMissing(this.binary) : err;
      });
      const base = { exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr, truncated: run.truncated, durationMs: run.durationMs };
      if (run.ending === 'timed_out') return { ...base, status: 'timed_out' };
      if (run.ending === 'aborted') return { ...base, status: 'killed' };
      if (run.killedBy === 'SIGPIPE') {
        // The sandbox accepted the stdio sockets, then could not start the command, and shut them
        // down before runsc printed why: tell a missing cwd from a missing program by asking the
        // sandbox itself (the host never resolves a path the sandbox controls).
        // A helper call that fails so is the helper's own failure: it is not asked about itself.
        if (request.toolCallId !== FILES_CALL_ID && !(await this.directoryInside(sandboxId, bundlePath, request.cwd))) {
          throw missingCwd(sandboxId, request);
        }
        return {
          ...base,
          exitCode: 127,
          status: 'exited',
          stderr: `${base.stderr}sbx: cannot run ${argv[0]}: no such program in the sandbox\n`,
        };
      }
      if (run.exitCode === 128) {
        const refusal = execRefusal(sandboxId, request, run.stderr);
        if (refusal === 'not-found') return { ...base, exitCode: 127, status: 'exited' };
        if (refusal) throw refusal;
      }
      if (run.exitCode === 128 || run.exitCode === 137) {
        // Either the command was SIGKILLed or the whole sandbox died under it: the memory cgroup
        // tells an OOM kill apart from any other kill.
        const oomKillsAfter = this.oomKills(sandboxId);
        if (oomKillsAfter !== undefined && oomKillsAfter > (oomKillsBefore ?? 0)) return { ...base, exitCode: 137, status: 'oom' };
        if (run.exitCode === 137) return { ...base, status: 'killed' };
        if ((await this.status(sandboxId)) !== 'running') return { ...base, exitCode: 137, status: 'killed' };
      }
      return { ...base, status: 'exited' };
    } finally {
      // Only killExec reads the pid file: its removal need not hold up the result. The directory
      // holds that file at most (fs's rm, forced or recursive, looks with lstat before each step).
      void unlink(pidFile)
        .catch(() => undefined)
        .then(() => rmdir(pidDir))
        .catch(() => undefined);
    }
  }

  /**
   * Each sandbox mounts its own copy of the helper, in its bundle beside (not inside) its rootfs,
   * put back before every start and restore. The mount is read-only, but that is gVisor's promise
   * alone: runsc 2024-04 let `echo x > /.sbx/sbx-files` truncate the file behind a read-only bind
   * mount. A shared host file would have been every sandbox's helper; a copy is only this one's.
   * Its mount point in the rootfs is made ready at the same time.
   */
  private async installHelper(bundlePath: string): Promise<string> {
    const dir = join(bundlePath, BUNDLE_HELPER_DIR);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const temp = join(dir, `.${FILES_HELPER}.tmp`);
    await copyFile(join(this.helperDir, FILES_HELPER), temp);
    await chmod(temp, 0o555);
    await rename(temp, join(dir, FILES_HELPER));
    await prepareHelperMountpoint(join(bundlePath, 'rootfs'));
    return dir;
  }

  /** Whether `path` is a directory as the sandbox sees it, asked through the file helper. */
  private async directoryInside(sandboxId: string, bundlePath: string, path: string): Promise<boolean> {
    return sandboxFiles(this, sandboxId, bundlePath)
      .listDir({ path, limit: 1 })
      .then(
        () => true,
        () => false,
      );
  }

  filesCommand(): string[] {
    return [posix.join(SANDBOX_HELPER_DIR, FILES_HELPER)];
  }

  async pause(sandboxId: string): Promise<void> {
    const status = await this.requireStatus(sandboxId, 'pause');
    if (status === 'paused') return;
    if (status !== 'running') throw notRunning(sandboxId, status, 'paused');
    await this.runsc(['pause', containerId(sandboxId)]);
  }

  async resume(sandboxId: string): Promise<void> {
    const status = await this.requireStatus(sandboxId, 'resume');
    if (status === 'running') return;
    if (status !== 'paused') throw notRunning(sandboxId, status, 'resumed');
    await this.runsc(['resume', containerId(sandboxId)]);
  }

  async checkpoint(sandboxId: string, imagePath: string): Promise<void> {
    const image = join(imagePath, CHECKPOINT_FILE);
    const status = await this.status(sandboxId);
    if ((status === undefined || status === 'stopped') && (await exists(image))) return;
    if (status === undefined) throw notFound(sandboxId);
    if (status !== 'running' && status !== 'paused') throw notRunning(sandboxId, status, 'checkpointed');
    // An image left by an earlier hibernation (since restored) would make runsc refuse to write; newer
    // runsc writes several files beside checkpoint.img, so the directory starts empty.
    await rm(imagePath, { recursive: true, force: true });
    await mkdir(imagePath, { recursive: true });
    await this.runsc(['checkpoint', '--image-path', imagePath, containerId(sandboxId)], { timeoutMs: this.timeoutsMs.image });
  }

  async restore(sandboxId: string, bundlePath: string, imagePath: string): Promise<void> {
    const status = await this.status(sandboxId);
    if (status === 'running' || status === 'paused') return;
    if (!(await exists(join(imagePath, CHECKPOINT_FILE)))) {
      throw sbxFailure(
        SbxErrorType.NotFound,
        `No checkpoint image for session ${sandboxId} at ${imagePath}: it was never hibernated, or the image was removed.`,
      );
    }
    if (!(await exists(join(bundlePath, 'config.json')))) {
      throw sbxFailure(
        SbxErrorType.InvalidState,
        `Session ${sandboxId} has no config.json in ${bundlePath}: start it instead of restoring.`,
      );
    }
    // runsc restore creates the container itself and refuses an id that still exists.
    if (status !== undefined) await this.runsc(['delete', '--force', containerId(sandboxId)]);
    await this.installHelper(bundlePath);
    await this.runscDetached(
      ['restore', '--bundle', bundlePath, '--image-path', imagePath, '--detach', containerId(sandboxId)],
      this.timeoutsMs.image,
    );
  }

  async destroy(sandboxId: string): Promise<void> {
    // No graceful stop: the sandbox's processes are SIGKILLed, then delete --force removes the
    // container. It does nothing for an absent container, so no `runsc state` first (one CLI call
    // less per destroy).
    await this.kill(sandboxId);
    const args = ['delete', '--force', containerId(sandboxId)];
    const result = await this.runsc(args, { reject: false });
    if (result.exitCode !== 0 && !isMissingContainer(String(result.stderr))) throw runscFailed(args, result);
    await this.removeCgroups(sandboxId);
  }

  async state(sandboxId: string): Promise<ContainerState> {
    const status = await this.status(sandboxId);
    if (status === undefined) return 'absent';
    return status === 'created' ? 'stopped' : status;
  }

  async list(): Promise<string[]> {
    const { stdout } = await this.runsc(['list', '--format', 'json']);
    const containers = (JSON.parse(stdout || '[]') ?? []) as { id: string }[];
    return containers.filter((c) => c.id.endsWith(CONTAINER_SUFFIX)).map((c) => c.id.slice(0, -CONTAINER_SUFFIX.length));
  }

  private async status(sandboxId: string): Promise<RunscStatus | undefined> {
    const result = await this.runsc(['state', containerId(sandboxId)], { reject: false });
    if (result.exitCode !== 0) {
      if (isMissingContainer(result.stderr)) return undefined;
      throw runscFailed(['state', containerId(sandboxId)], result);
    }
    const { status, pid } = JSON.parse(result.stdout) as { status: RunscStatus; pid?: number };
    // runsc tells a live sandbox by signalling its pid, which a sandbox that exited (checkpointed,
    // OOM-killed) still answers while it waits as a zombie for the host's init to reap it.
    if ((status === 'running' || status === 'paused') && pid && (await isDead(pid))) return 'stopped';
    return status;
  }

  private async requireStatus(sandboxId: string, verb: string): Promise<RunscStatus> {
    const status = await this.status(sandboxId);
    if (status === undefined)
      throw sbxFailure(SbxErrorType.NotFound, `Cannot ${verb} session ${sandboxId}: it has no sandbox on this host; start it first.`);
    return status;
  }

  /**
   * Killing the runsc CLI leaves the command running inside the sandbox, so this kills inside.
   * First the command's process group at once (runsc exec makes it a session and group leader).
   * That needs a new process in the sandbox, which a fork bomb at the process limit refuses; so
   * then, from the host through `runsc ps` and `runsc kill --pid`, whatever is left: descendants of
   * the command and orphans reparented to init since it started (pids only grow). All are stopped
   * first, so none can fork while the rest are killed. A background process another command
   * orphaned during this one is caught as well: the price of not seeing process groups from outside.
   */
  private async killExec(sandboxId: string, pidFile: string): Promise<void> {
    const pid = await readPid(pidFile);
    if (pid === undefined) return;
    await this.runsc(['exec', containerId(sandboxId), '/bin/sh', '-c', `kill -9 -${pid} 2>/dev/null; kill -9 ${pid} 2>/dev/null; true`], {
      reject: false,
    });
    const signal = (victims: number[], sig: string) =>
      Promise.all(victims.map((victim) => this.runsc(['kill', '--pid', String(victim), containerId(sandboxId), sig], { reject: false })));
    for (let round = 0; round < 10; round++) {
      let victims = await this.leftovers(sandboxId, pid);
      if (victims.length === 0) return;
      for (let more = victims; more.length > 0 && victims.length < 10_000;) {
        await signal(more, 'STOP');
        const seen = new Set(victims);
        more = (await this.leftovers(sandboxId, pid)).filter((p) => !seen.has(p));
        victims = [...victims, ...more];
      }
      await signal(victims, 'KILL');
    }
  }

  private async leftovers(sandboxId: string, root: number): Promise<number[]> {
    const ps = await this.runsc(['ps', containerId(sandboxId)], { reject: false });
    if (ps.exitCode !== 0) return [];
    const parentOf = new Map<number, number>();
    for (const line of ps.stdout.split('\n').slice(1)) {
      const [, pid, ppid] = line.trim().split(/\s+/).map(Number);
      if (pid !== undefined && ppid !== undefined && !Number.isNaN(pid)) parentOf.set(pid, ppid);
    }
    const belongs = (pid: number): boolean => {
      for (let p: number | undefined = pid, hops = 0; p !== undefined && hops < 10_000; p = parentOf.get(p), hops++) {
        if (p === root || (p > root && parentOf.get(p) === 1)) return true;
      }
      return false;
    };
    return [...parentOf.keys()].filter((pid) => pid !== 1 && belongs(pid));
  }

  /** OOM kills counted by the sandbox's memory cgroup (v1 or v2); undefined without one. */
  private oomKills(sandboxId: string): number | undefined {
    const group = sandboxCgroup(this.cgroupParent, sandboxId);
    for (const [file, key] of [
      [join(CGROUP_FS, 'memory', group, 'memory.oom_control'), 'oom_kill'],
      [join(CGROUP_FS, group, 'memory.events'), 'oom_kill'],
    ] as const) {
      const text = readHostFile(file);
      const match = text && new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
      if (match) return Number(match[1]);
    }
    return undefined;
  }

  /**
   * SIGKILLs every process in the sandbox's cgroup (the sandbox, its gofer, their helpers) and waits
   * briefly until the cgroup is empty and they are reaped. `runsc delete --force` sends the same
   * SIGKILL but then checks the sandbox and the gofer only every 100 ms; finding them gone, it waits
   * for nothing. Without a cgroup (no sandbox) there is nothing to kill.
   */
  async kill(sandboxId: string): Promise<boolean> {
    const killed = new Set<number>();
    for (const deadline = performance.now() + KILL_REAP_WAIT_MS; ;) {
      const pids = await this.cgroupPids(sandboxId);
      for (const pid of pids.filter((p) => !killed.has(p))) {
        killed.add(pid);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      if (pids.length === 0 && (await Promise.all([...killed].map(isReaped))).every(Boolean)) return true;
      if (performance.now() > deadline) return false;
      await sleep(KILL_REAP_POLL_MS);
    }
  }

  /** The processes in the sandbox's cgroup (v1 pids or memory controller, or v2); none without one. */
  private async cgroupPids(sandboxId: string): Promise<number[]> {
    const group = sandboxCgroup(this.cgroupParent, sandboxId);
    for (const dir of [join(CGROUP_FS, 'pids', group), join(CGROUP_FS, 'memory', group), join(CGROUP_FS, group)]) {
      const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => undefined);
      if (text !== undefined)
        return text
          .split('\n')
          .filter(Boolean)
          .map(Number)
          .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid);
    }
    return [];
  }

  /** runsc leaves the sandbox's cgroups behind after delete; empty ones are removed here. */
  private async removeCgroups(sandboxId: string): Promise<void> {
    const group = sandboxCgroup(this.cgroupParent, sandboxId);
    const controllers = await readdir(CGROUP_FS).catch(() => [] as string[]);
    for (const dir of ['', ...controllers].map((c) => join(CGROUP_FS, c, group))) {
      await rmdir(dir).catch(() => undefined);
    }
  }

  /**
   * run and restore hand their stdio to the sandbox, which keeps it open for its lifetime: pipes
   * would never close. The sandbox gets /dev/null and a scratch file that only runsc itself writes
   * to.
   */
  private async runscDetached(args: string[], timeoutMs = this.timeoutsMs.call): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'sbx-runsc-'));
    const stderrFile = join(dir, 'stderr');
    try {
      // Detached: the sandbox outlives the worker and ignores signals sent to its process group (Ctrl-C).
      // Through the reaper when there is one: it reaps the sandbox as soon as it dies, which `runsc
      // delete` waits for (the host's init may take seconds).
      const reaper = this.reaperPath;
      const argv = [...(reaper ? [reaper] : []), this.binary, ...this.globalFlags, ...args];
      const { child, report } = await startDetached(argv, { stderrFile, report: !!reaper });
      // Only the runsc CLI is killed (the reaper kills it on SIGTERM): the sandbox runs in a session of its own.
      const timer = setTimeout(() => child.kill(reaper ? 'SIGTERM' : 'SIGKILL'), timeoutMs);
      const [exitCode, signal] = (await Promise.race([
        report ? reaperReport(child, report) : once(child, 'exit'),
        once(child, 'error').then(([err]) => {
          throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? runscMissing(reaper ?? this.binary) : err;
        }),
      ]).finally(() => clearTimeout(timer))) as [number | null, NodeJS.Signals | null];
      if (signal === 'SIGKILL') throw runscTimedOut(args, timeoutMs);
      if (exitCode !== 0) throw runscFailed(args, { exitCode: exitCode ?? undefined, stderr: await readFile(stderrFile, 'utf8') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async runsc(args: string[], options: { reject?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> {
    const timeout = options.timeoutMs ?? this.timeoutsMs.call;
    const result = await runCommand([this.binary, ...this.globalFlags, ...args], { timeoutMs: timeout, killAfterMs: KILL_GRACE_MS });
    if (result.exitCode === undefined && result.code === 'ENOENT') throw runscMissing(this.binary);
    if (result.timedOut) throw runscTimedOut(args, timeout);
    if (result.exitCode !== 0 && options.reject !== false) throw runscFailed(args, result);
    return result;
  }
}

/**
 * The helper's mount point is a path the sandbox controls: a link there would carry the mount to
 * wherever it points inside the sandbox (over its /etc, say), and a file would make runsc refuse to
 * start it at all. Whatever is there that is not a directory is removed (never followed: lstat and
 * unlink act on the entry itself, and rootfs is the host's own directory) and a directory made.
 */
export async function prepareHelperMountpoint(rootfs: string): Promise<void> {
  const mountpoint = join(rootfs, SANDBOX_HELPER_DIR);
  const info = await lstat(mountpoint).catch(() => undefined);
  if (info?.isDirectory()) return;
  if (info) await rm(mountpoint, { force: true });
  await mkdir(mountpoint, { mode: 0o755 });
}

function isMissingContainer(stderr: string): boolean {
  return /loading (container|sandbox).*(file does not exist|no such file)|container .* does not exist/i.test(stderr);
}

/**
 * runsc exec exits 128 and prints its reason when it could not run the command at all. Returns the
 * typed failure to throw, 'not-found' for a missing program (reported like a shell's 127), or
 * undefined when the exit was not runsc's refusal.
 */
function execRefusal(sandboxId: string, request: ExecRequest, stderr: string): Error | 'not-found' | undefined {
  const tail = stderr.slice(-2000);
  if (/failed to load .*: no such file or directory/.test(tail)) return 'not-found';
  if (/failed to find initial working directory/.test(tail)) {
    return missingCwd(sandboxId, request);
  }
  if (/in state paused/.test(tail))
    return sbxFailure(SbxErrorType.SessionPaused, `Session ${sandboxId} is paused: resume it before running commands.`);
  if (/cannot execute in container .* in state (stopped|created)/.test(tail)) {
    return sbxFailure(SbxErrorType.InvalidState, `The sandbox of session ${sandboxId} is not running: start it before running commands.`);
  }
  if (isMissingContainer(tail)) return notFound(sandboxId);
  return undefined;
}

function missingCwd(sandboxId: string, request: ExecRequest): Error {
  return sbxFailure(
    SbxErrorType.InvalidArgument,
    `Working directory ${request.cwd} does not exist in session ${sandboxId} or is not a directory: create it first or use another cwd.`,
  );
}

function notFound(sandboxId: string): Error {
  return sbxFailure(SbxErrorType.NotFound, `Session ${sandboxId} has no sandbox on this host: start it first.`);
}

function notRunning(sandboxId: string, status: RunscStatus, goal: string): Error {
  return sbxFailure(
    SbxErrorType.InvalidState,
    `The sandbox of session ${sandboxId} is ${status}, so it cannot be ${goal}: start or restore it first.`,
  );
}

function runscMissing(binary: string): Error {
  return sbxFailure(
    SbxErrorType.CommandMissing,
    `runsc (gVisor) was not found at ${binary}: run 'npm run bootstrap', set --runsc to its path, or run the host with --runtime none.`,
  );
}

function runscTimedOut(args: string[], timeoutMs: number): Error {
  return sbxFailure(
    SbxErrorType.CommandFailed,
    `runsc ${args.join(' ')} did not finish within ${timeoutMs / 1000} s and was killed: the sandbox may be wedged; retry, or destroy the session.`,
  );
}

/**
 * Flags sbx pins on every runsc that knows them, so old and new gVisor behave alike:
 * - `--overlay2=none`: newer runsc keeps rootfs writes in a sandbox-private overlay by default, which
 *   ZFS snapshots, forks and the host-side file API would never see.
 * - `--gofer-network-namespace=new`: newer runsc otherwise pins a shared empty network namespace by
 *   bind-mounting it into the runsc root, a mount that outlives every sandbox and makes the root
 *   impossible to remove.
 */
/**
 * What sbx-reaper wrote on fd 3 about the runsc CLI it ran, as [exitCode, signal]; the reaper itself
 * stays (unreferenced) until the sandbox is gone. No report means the reaper died: its own exit then.
 */
async function reaperReport(child: StartedChild, pipe: Readable): Promise<[number | null, NodeJS.Signals | null]> {
  let text = '';
  pipe.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(pipe, 'close');
  const report = /^(exit|signal) (\d+)$/.exec(text.trim());
  if (!report) {
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    return [child.exitCode, child.signalCode];
  }
  child.unref?.();
  if (report[1] === 'exit') return [Number(report[2]), null];
  return [null, signalName(Number(report[2])) ?? 'SIGKILL'];
}

/** The flags sbx gives every runsc call, for the build at `binary` (the bench's raw sandboxes use them too). */
export function pinnedFlags(binary: string): string[] {
  const known = spawnSync(binary, ['flags'], { encoding: 'utf8', timeout: 10_000 });
  const help = `${known.stdout ?? ''}${known.stderr ?? ''}`;
  const flags: string[] = [];
  if (/^\s+-overlay2\b/m.test(help)) flags.push('--overlay2=none');
  if (/^\s+-gofer-network-namespace\b/m.test(help)) flags.push('--gofer-network-namespace=new');
  return flags;
}

function runscFailed(args: string[], result: { stderr?: unknown; stdout?: unknown; exitCode?: number }): Error {
  const reason = String(result.stderr || result.stdout || `exit code ${result.exitCode}`)
    .trim()
    .split('\n')
    .slice(-3)
    .join(' ');
  if (isMissingContainer(reason)) return sbxFailure(SbxErrorType.NotFound, `runsc ${args[0]}: ${reason}`);
  return sbxFailure(SbxErrorType.CommandFailed, `runsc ${args.join(' ')} failed: ${reason}`);
}

async function readPid(file: string): Promise<number | undefined> {
  // runsc writes the pid once the process exists; a kill right after spawn waits for it briefly.
  for (let attempt = 0; attempt < 50; attempt++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (pid > 0) return pid;
    await sleep(100);
  }
  return undefined;
}

/** A process that is gone entirely: a zombie still counts as alive for runsc. */
async function isReaped(pid: number): Promise<boolean> {
  return stat(`/proc/${pid}`).then(
    () => false,
    () => true,
  );
}

/** A process that is gone or a zombie. */
async function isDead(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
