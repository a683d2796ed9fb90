import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { ProcessStatus } from '../../common/processes.js';

/**
 * Long-running programs (dev servers, watchers) inside the sandbox, managed with small shell
 * scripts run through the ordinary exec path: the sandbox's own `sh` does the work, nothing runs
 * on the host. Each process keeps its pid, output and exit code under /tmp/.sbx-proc/<processId>.
 */
const DIR = '/tmp/.sbx-proc';

/** Starts the command in its own session, detached from the exec that launches it. */
export function launchScript(): string {
  return [
    `d=${DIR}/$SBX_PROCESS_ID`,
    'if [ -e "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then cat "$d/pid"; exit 0; fi',
    'mkdir -p "$d" && rm -f "$d/exit"',
    `setsid sh -c 'sh -c "$SBX_PROCESS_COMMAND" >"$0/output" 2>&1; echo $? >"$0/exit"' "$d" </dev/null >/dev/null 2>&1 &`,
    'echo $! >"$d/pid"',
    'cat "$d/pid"',
  ].join('\n');
}

/** Prints `pid`, `running|exited`, the exit code (or -) and the output tail, one per line. */
export function statusScript(): string {
  return [
    `d=${DIR}/$SBX_PROCESS_ID`,
    '[ -e "$d/pid" ] || { echo missing; exit 3; }',
    'pid=$(cat "$d/pid")',
    'echo "$pid"',
    'if kill -0 "$pid" 2>/dev/null && [ ! -e "$d/exit" ]; then echo running; else echo exited; fi',
    'cat "$d/exit" 2>/dev/null || echo -',
    'tail -c 4096 "$d/output" 2>/dev/null',
  ].join('\n');
}

/** SIGTERM to the process group, SIGKILL after two seconds; succeeds if it is already gone. */
export function killScript(): string {
  return [
    `d=${DIR}/$SBX_PROCESS_ID`,
    '[ -e "$d/pid" ] || { echo missing; exit 3; }',
    'pid=$(cat "$d/pid")',
    'kill -TERM -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null',
    'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.2; done',
    'kill -KILL -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; exit 0',
  ].join('\n');
}

/** Reads statusScript's output. */
export function parseProcessStatus(processId: string, stdout: string, exitCode: number): ProcessStatus {
  if (exitCode === 3) throw sbxFailure(SbxErrorType.ProcessNotFound, `no process ${processId} in this sandbox: launch it first`);
  const [pid, state, exit, ...tail] = stdout.split('\n');
  if (!pid || !/^\d+$/.test(pid) || (state !== 'running' && state !== 'exited')) {
    throw sbxFailure(SbxErrorType.CommandFailed, `unreadable status of process ${processId}: ${stdout.slice(0, 200)}`);
  }
  return {
    processId,
    pid: Number(pid),
    status: state,
    exitCode: exit && /^\d+$/.test(exit) ? Number(exit) : undefined,
    outputTail: tail.join('\n'),
  };
}
