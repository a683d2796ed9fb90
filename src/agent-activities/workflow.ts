import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import { DEFAULT_EXEC_TIMEOUT_MS } from '../common/sandbox.js';
import type { SandboxActivities } from './types.js';

/**
 * The workflow side of the sandbox activities: each tool with the timeouts and retry it needs. Retrying
 * is safe: an exec's toolCallId and every other call's update id (its activity id) make a retried
 * attempt the same call, so sbx answers it from its record instead of running it again. sbx errors other
 * than Busy are non-retryable and reach the workflow as an ActivityFailure with the sbx type (see
 * `sbxErrorOf` in the Nexus service module, which reads both).
 */
export function sandboxTools(options: { taskQueue?: string } = {}) {
  const base: ActivityOptions = {
    ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
    // An attempt lost with its worker is noticed within this, not at its start-to-close timeout.
    heartbeatTimeout: '20 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  };
  const quick = proxyActivities<SandboxActivities>({ ...base, startToCloseTimeout: '2 minutes' });
  // Create, turn snapshots, rollback, fork and destroy move whole filesystems and sandboxes.
  const heavy = proxyActivities<SandboxActivities>({ ...base, startToCloseTimeout: '30 minutes' });
  return {
    create: heavy.sandboxCreate,
    /** The activity runs as long as the command may, plus a margin for the round trip. */
    exec: (input: Parameters<SandboxActivities['sandboxExec']>[0]) =>
      proxyActivities<SandboxActivities>({
        ...base,
        startToCloseTimeout: (input.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS) + 120_000,
      }).sandboxExec(input),
    writeFiles: quick.sandboxWriteFiles,
    readFile: quick.sandboxReadFile,
    listDir: quick.sandboxListDir,
    turnComplete: heavy.sandboxTurnComplete,
    rollback: heavy.sandboxRollback,
    fork: heavy.sandboxFork,
    destroy: heavy.sandboxDestroy,
    info: quick.sandboxInfo,
  };
}
export type SandboxTools = ReturnType<typeof sandboxTools>;
export type { SandboxActivities } from './types.js';
