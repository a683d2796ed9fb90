import { patched } from '@temporalio/workflow';

/**
 * The session workflow's patches. The first `patched(id)` of a run costs it two history events, a
 * marker and an upsert of TemporalChangeVersion (a visibility write on the server): a create used six
 * ids, a session's first exec two more. A run started by this code records one marker for all of them
 * (SESSION_BASELINE, its first command) and takes every new path; a run recorded before it replays
 * through each id as it did.
 *
 * A run on the baseline also upserts at its create only the search attributes its start did not
 * already set (sbx's fronts set them all but the host): histories from before upserted them all.
 *
 * A patch added later is a plain `patched()`. A later baseline must still take runs on this one
 * (its marker, none of the ids it covers) down every path it covers.
 */
const SESSION_BASELINE = 'session-baseline-1';

export type SessionPatch =
  | 'continue-as-new-hands-over-tool-calls'
  | 'create-starts-sandbox'
  | 'destroy-answers-after-kill'
  | 'destroy-skips-lost-host'
  | 'destroy-stops-tool-calls'
  | 'exec-retry-through-journal'
  | 'fork-copy-starts-sandbox'
  | 'fork-reserves-fleet-slot'
  | 'fork-started-by-copy'
  | 'host-timeout-keeps-session'
  | 'lifecycle-lock-recheck'
  | 'named-snapshot-cap'
  | 'one-idle-timer-per-period'
  | 'session-tells-story'
  | 'session-validates-input'
  | 'tool-calls-on-tools-queue'
  | 'upsert-only-changes'
  | 'warm-claim-local-activity';

/** Module state is the workflow's own: the SDK evaluates workflow modules once per workflow. */
let onBaseline = false;

/** Must be the run's first command: whether it started with every SessionPatch in force. */
export function startSessionPatches(): void {
  onBaseline = patched(SESSION_BASELINE);
}

/** Whether this run started on the baseline. */
export function onSessionBaseline(): boolean {
  return onBaseline;
}

/** Whether the new path of `id` is taken: always on the baseline, else as `patched(id)` says. */
export function sessionPatched(id: SessionPatch): boolean {
  return onBaseline || patched(id);
}
