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

/**
 * Runs `fn` again while the session answers ContinuedAsNew: the call did not run, or (an exec) runs on
 * and is joined by the resend, so sending the same call again is safe. The caller sees one answer.
 */
export async function acrossContinueAsNew<T>(fn: () => Promise<T>, sessionId: string): Promise<T> {
  const until = Date.now() + NEXT_RUN_WAIT_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      if (toSbxError(err, sessionId).type !== SbxErrorType.ContinuedAsNew || Date.now() > until) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
