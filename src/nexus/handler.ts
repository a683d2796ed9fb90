import { ServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { getClient, startWorkflow, WorkflowRunOperationHandler } from '@temporalio/nexus';
import * as nexus from 'nexus-rpc';
import { SbxError, SbxErrorType, toSbxError } from '../client/errors.js';
import { sessionStartOptions } from '../client/sandbox-client.js';
import { SessionOps, type OpOptions } from '../client/session-ops.js';
import { sessionWorkflowId } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import { CreateSessionRequest, createUpdate, type CreateSessionInput, type SessionInfo } from '../protocol/messages.js';
import { SessionWorkflow } from '../workflows/session/workflow.js';
import { sbxSandboxService } from './service.js';
import { createdByNexus } from './caller.js';

/**
 * The errors a caller acts on become operation failures carrying the sbx type (see `sbxErrorOf`).
 * Busy becomes a retryable handler error, so Nexus retries it; faults of Temporal itself (a server
 * unreachable) are left to the SDK, which makes the retryable ones retryable handler errors.
 */
export function toNexusError(err: unknown): Error {
  if (err instanceof nexus.HandlerError || err instanceof nexus.OperationError) return err;
  const transient = (e: unknown) => e instanceof ServiceError && !(e.cause instanceof ApplicationFailure);
  if (err instanceof SbxError && transient(err.cause)) return err.cause as Error;
  if (transient(err)) return err as Error;
  const error = err instanceof SbxError ? err : toSbxError(err, '?');
  if (error.type === SbxErrorType.Busy) {
    return new nexus.HandlerError('RESOURCE_EXHAUSTED', error.message, { retryableOverride: true });
  }
  const cause = ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true });
  return new nexus.OperationError('failed', error.message, { cause });
}

async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toNexusError(err);
  }
}

/** The service's handlers, for the control worker's `nexusServices`. */
export function createSbxNexusHandler() {
  const ops = () => new SessionOps(getClient());
  // A retried Nexus request keeps its request id: as the update id it makes the retry the same update.
  // A fork's wait ends a second before the request's deadline, so its "ask again" reaches the caller.
  const once = (ctx: nexus.StartOperationContext): OpOptions => ({
    updateId: `nexus-${ctx.requestId}`,
    deadline: ctx.requestDeadline && new Date(ctx.requestDeadline.getTime() - 1000),
  });

  return nexus.serviceHandler(sbxSandboxService, {
    createSession: new WorkflowRunOperationHandler<CreateSessionInput, SessionInfo>(async (ctx, input) => {
      const request = await mapped(async () => {
        try {
          return parseInput(CreateSessionRequest, input, 'create request');
        } catch (err) {
          throw toSbxError(err, (input as { sessionId?: string } | undefined)?.sessionId ?? '?');
        }
      });
      // The worker's own queue: the endpoint routes to the control queue that runs the sessions.
      const options = { ...sessionStartOptions(request, '', createdByNexus(ctx.inboundLinks)), taskQueue: undefined };
      const handle = await mapped(async () => {
        try {
          return await startWorkflow(ctx, SessionWorkflow, options);
        } catch (err) {
          throw toSbxError(err, request.sessionId);
        }
      });
      // The operation starts once the session is active (or failed to be made): the caller can use it at once.
      await mapped(async () => {
        try {
          await getClient()
            .workflow.getHandle(sessionWorkflowId(request.sessionId))
            .executeUpdate(createUpdate, { args: [request] });
        } catch (err) {
          throw toSbxError(err, request.sessionId);
        }
      });
      return handle;
    }),
    exec: (_ctx, input) => mapped(() => ops().exec(input)),
    writeFiles: (ctx, input) => mapped(() => ops().writeFiles(input, once(ctx))),
    readFile: (_ctx, input) => mapped(() => ops().readFile(input)),
    readOutput: (_ctx, input) => mapped(() => ops().readOutput(input)),
    listDir: (_ctx, input) => mapped(() => ops().listDir(input)),
    turnComplete: (ctx, input) => mapped(() => ops().turnComplete(input, once(ctx))),
    rollback: (ctx, input) => mapped(() => ops().rollback(input, once(ctx))),
    fork: (ctx, input) => mapped(() => ops().fork(input, once(ctx))),
    pause: (ctx, input) => mapped(() => ops().pause(input, once(ctx))),
    resume: (ctx, input) => mapped(() => ops().resume(input, once(ctx))),
    destroy: (ctx, input) => mapped(() => ops().destroy(input, once(ctx))),
    info: (_ctx, input) => mapped(() => ops().info(input)),
  });
}
