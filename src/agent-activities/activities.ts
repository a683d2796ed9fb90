import { Context } from '@temporalio/activity';
import { ServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { heartbeating } from '../activities/control/heartbeating.js';
import { SbxError, toSbxError } from '../client/errors.js';
import type { SandboxClient } from '../client/sandbox-client.js';
import { SessionOps } from '../client/session-ops.js';
import { sbxFailure } from '../common/errors.js';
import type { SandboxActivities } from './types.js';

/**
 * Activities-as-tools for a platform that runs its agent loop as a Temporal workflow without Nexus: it
 * registers these in its own worker (with a SandboxClient connected to sbx's namespace) and calls them
 * through `sandboxTools()` from its workflow. Each is one call on the session workflow.
 */
export function createSandboxActivities(client: SandboxClient, options: { createdBy?: string } = {}): SandboxActivities {
  const ops = new SessionOps(client.temporal);
  /** A retried attempt of the same activity sends the same update id: Temporal keeps one outcome for it. */
  const updateId = () => {
    const { workflowExecution: wf, activityId } = Context.current().info;
    return `activity-${wf?.workflowId}-${wf?.runId}-${activityId}`;
  };
  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await heartbeating(fn);
    } catch (err) {
      throw toActivityFailure(err);
    }
  };
  return {
    sandboxCreate: (input) =>
      run(
        async () =>
          (
            await client.createSession(input, {
              createdBy: options.createdBy ?? `created by an activity of workflow ${Context.current().info.workflowExecution?.workflowId}`,
            })
          ).info,
      ),
    sandboxExec: (input) => run(() => ops.exec(input)),
    sandboxWriteFiles: (input) => run(() => ops.writeFiles(input, { updateId: updateId() })),
    sandboxReadFile: (input) => run(() => ops.readFile(input)),
    sandboxListDir: (input) => run(() => ops.listDir(input)),
    sandboxTurnComplete: (input) => run(() => ops.turnComplete(input, { updateId: updateId() })),
    sandboxRollback: (input) => run(() => ops.rollback(input, { updateId: updateId() })),
    sandboxFork: (input) => run(() => ops.fork(input, { updateId: updateId() })),
    sandboxDestroy: (input) => run(() => ops.destroy(input, { updateId: updateId() })),
    sandboxInfo: (input) => run(() => ops.info(input)),
  };
}

/** An sbx error keeps its type (retryable only when sbx says so: Busy); Temporal's own faults are retried. */
function toActivityFailure(err: unknown): Error {
  if (err instanceof SbxError && err.cause instanceof ServiceError && !(err.cause.cause instanceof ApplicationFailure)) return err.cause;
  if (err instanceof ServiceError) return err;
  const error = err instanceof SbxError ? err : toSbxError(err, '?');
  return sbxFailure(error.type, error.message);
}
