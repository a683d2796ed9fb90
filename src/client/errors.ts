import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { isSbxErrorType, SbxErrorType } from '../common/errors.js';

/** Every error the client throws: `type` says what went wrong, `message` what to do about it. */
export class SbxError extends Error {
  constructor(
    readonly type: SbxErrorType,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = type;
  }
}

export { SbxErrorType };

/** Turns whatever Temporal raised into an SbxError naming the session. */
export function toSbxError(err: unknown, sessionId: string): SbxError {
  if (err instanceof SbxError) return err;
  if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && isSbxErrorType(cause.type)) return new SbxError(cause.type, cause.message, { cause: err });
    if (cause instanceof ApplicationFailure) return new SbxError(SbxErrorType.CommandFailed, cause.message, { cause: err });
  }
  if (err instanceof ApplicationFailure) {
    return new SbxError(isSbxErrorType(err.type) ? err.type : SbxErrorType.CommandFailed, err.message, { cause: err });
  }
  if (err instanceof WorkflowNotFoundError) {
    return new SbxError(SbxErrorType.SessionNotFound, `session ${sessionId} does not exist`, { cause: err });
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return new SbxError(SbxErrorType.SessionDestroyed, `session id ${sessionId} belonged to a destroyed session; choose a new id`, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/workflow execution already completed/i.test(message)) {
    return new SbxError(SbxErrorType.SessionDestroyed, `session ${sessionId} is destroyed`, { cause: err });
  }
  return new SbxError(SbxErrorType.CommandFailed, message, { cause: err });
}

/** How long a call keeps waiting for a session's next run (continue-as-new waits for lifecycle work in flight). */
const NEXT_RUN_WAIT_MS = 15 * 60_000;
/** How long a call keeps waiting for a session whose workflow tasks fail or time out (an overloaded control worker). */
const NOT_READY_WAIT_MS = 3 * 60_000;
/** gRPC status code of the server's WorkflowNotReady refusal. */
const FAILED_PRECONDITION = 9;

/**
 * The server refused the call without admitting it: the session's last workflow tasks failed or timed
 * out (a control worker too slow under load, or failing), and it takes no update until one completes.
 */
export function isWorkflowTaskFailing(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Object && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, details } = e as { code?: unknown; message?: unknown; details?: unknown };
    if (code === FAILED_PRECONDITION && /workflow task in failed state/i.test(`${String(message)} ${String(details)}`)) return true;
  }
  return false;
}

/**
 * Runs `fn` again while the session answers ContinuedAsNew: the call did not run, or (an exec) runs on
 * and is joined by the resend, so sending the same call again is safe. The same while the server refuses
 * it because the session's workflow task is failing: the call was not admitted. The caller sees one answer.
 */
export async function acrossContinueAsNew<T>(fn: () => Promise<T>, sessionId: string): Promise<T> {
  const started = Date.now();
  for (let resends = 0; ; resends++) {
    try {
      return await fn();
    } catch (err) {
      const waited = Date.now() - started;
      const resend = isWorkflowTaskFailing(err)
        ? waited < NOT_READY_WAIT_MS
        : toSbxError(err, sessionId).type === SbxErrorType.ContinuedAsNew && waited < NEXT_RUN_WAIT_MS;
      if (!resend) throw err;
    }
    // The first resend goes at once: a run answers ContinuedAsNew in the workflow task that starts the
    // next run, so the next run is there already (a wait here was on every continue-as-new's path).
    if (resends > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** resends, 2_000)));
  }
}
