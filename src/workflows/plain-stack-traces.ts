/**
 * How errors made in workflow code get their stack: as V8 writes it, without source maps, and none at
 * all for the SDK's promise hook.
 *
 * SDK 1.24 records where each promise a workflow makes was made, for its stack-trace query: a promise
 * hook takes a source-mapped stack trace of every promise (temporalio/sdk-typescript#1587). That was
 * a third of the control worker's workflow-thread time. Node formats an error's stack
 * with the `Error.prepareStackTrace` of the context that made the error before the worker's own, so
 * this one, set in the workflow context while it can still be set (before the SDK freezes its
 * globals), gives the hook's errors an empty stack: the hook then records nothing. The cost is the
 * Web UI's Stack Trace tab, which shows nothing for sbx workflows; their current details show what
 * each is doing.
 */

type CallSite = { getFileName(): string | null | undefined; toString(): string };

/** The SDK's hook runs inside node's promise-hook dispatcher: its frame is among the first. */
function madeByPromiseHook(frames: CallSite[]): boolean {
  return frames.slice(0, 3).some((frame) => frame.getFileName() === 'node:internal/promise_hooks');
}

export function usePlainStackTraces(): void {
  Error.prepareStackTrace = (error: Error, frames: CallSite[]) => {
    if (madeByPromiseHook(frames)) return '';
    return [String(error), ...frames.map((frame) => `    at ${String(frame)}`)].join('\n');
  };
}
