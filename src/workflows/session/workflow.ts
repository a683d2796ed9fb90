import { allHandlersFinished, condition, continueAsNew, log, setHandler, sleep, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { sameValue } from '../../common/same-value.js';
import { parseInput } from '../../common/validate.js';
import { CreateSessionRequest, createUpdate, infoQuery, type SessionInfo } from '../../protocol/messages.js';
import { SbxTemplate, SbxTurn } from '../../protocol/search-attributes.js';
import { parseSessionInput, type SessionWorkflowInput } from '../../protocol/session-input.js';
import { sessionMemo } from '../../protocol/session-memo.js';
import { IdleClock } from '../idle-clock.js';
import { create } from './create.js';
import { SessionEntity } from './entity.js';
import { registerForkHandler } from './fork.js';
import { destroy, pause, registerLifecycleHandlers, resume } from './lifecycle.js';
import { registerSnapshotHandlers } from './snapshots.js';
import { registerToolHandlers } from './tools.js';
import { sessionPatched, startSessionPatches } from './patches.js';

/** One workflow per session (id `sbx-session-<sessionId>`): it owns the session's whole lifecycle. */
export async function SessionWorkflow(raw: SessionWorkflowInput): Promise<SessionInfo> {
  startSessionPatches();
  // Histories from before the check keep their path; new runs fail at once on a bad start.
  const started = workflowInfo();
  const input = sessionPatched('session-validates-input')
    ? (parseSessionInput(raw, {
        workflowId: started.workflowId,
        parentWorkflowId: started.parent?.workflowId,
        continuedFromRunId: started.continuedFromExecutionRunId,
      }) as SessionWorkflowInput)
    : raw;
  // Memo and activity summaries for the Web UI are new commands: histories from before keep none.
  const session = new SessionEntity(input, sessionPatched('session-tells-story'));
  const { req, sessionId, lock, pending } = session;

  setHandler(infoQuery, () => session.info());
  setHandler(
    createUpdate,
    async () => {
      await condition(() => session.state !== 'creating');
      if (session.createError) throw session.createError;
      return session.info();
    },
    {
      validator: (raw) => {
        const asked = parseInput(CreateSessionRequest, raw, 'create request');
        if (!sameValue(asked, req)) {
          throw sbxFailure(SbxErrorType.SessionExists, `session ${sessionId} already exists with different parameters`);
        }
        // A destroyed session's workflow stays open while its dataset is removed.
        if (session.state === 'destroying' || session.state === 'destroyed') {
          throw sbxFailure(SbxErrorType.SessionDestroyed, `session id ${sessionId} belonged to a destroyed session; choose a new id`);
        }
      },
    },
  );
  registerToolHandlers(session);
  registerSnapshotHandlers(session);
  registerForkHandler(session);
  registerLifecycleHandlers(session);

  session.showStory();
  const memo = sessionMemo(req);
  const memoShown = workflowInfo().memo ?? {};
  // A start without sbx's client (the `temporal` CLI) carries no memo, or one that does not match the request.
  if (session.story && Object.entries(memo).some(([key, value]) => !sameValue(memoShown[key], value))) upsertMemo(memo);
  if (session.state === 'creating') {
    session.upsertOnCreate([
      { key: SbxTemplate, value: req.template },
      { key: SbxTurn, value: 0 },
    ]);
    await create(session);
  }
  const { deadline } = session.record;
  if (deadline !== undefined) {
    void sleep(Math.max(0, deadline - Date.now())).then(() => {
      session.lifetimeExpired = true;
    });
  }

  // One timer per idle period instead of two timer rows per tool call.
  const idleClock = sessionPatched('one-idle-timer-per-period') ? new IdleClock(req.idleTimeoutMs) : undefined;
  for (;;) {
    const seen = session.activitySeq;
    const idleTimeout = session.state === 'active' && req.idleTimeoutMs > 0 ? req.idleTimeoutMs : undefined;
    const wake = () =>
      session.destroyRequested ||
      session.lifetimeExpired ||
      pending.length > 0 ||
      session.activitySeq !== seen ||
      workflowInfo().continueAsNewSuggested;
    const woke = idleClock
      ? await idleClock.wait(idleTimeout !== undefined, wake)
      : idleTimeout === undefined
        ? (await condition(wake), true)
        : await condition(wake, idleTimeout);
    // A tool call starting or ending, or one still running when the period ends, is activity.
    if (session.activitySeq !== seen || (!woke && !lock.idle)) idleClock?.touch();
    if (!woke && lock.idle) pending.push({ kind: 'pause', mode: req.idlePauseMode, reason: 'idle' });
    if (session.lifetimeExpired && !session.destroyRequested && session.state !== 'destroyed') {
      log.info('session reached its max lifetime; destroying', { sessionId });
      session.destroyRequested = true;
      session.host.stopTools();
    }
    if (session.destroyRequested) {
      await lock.runExclusive(() => destroy(session));
      if (session.state === 'destroyed') break;
      continue;
    }
    for (;;) {
      const signal = pending.shift();
      if (signal === undefined) break;
      await lock
        .runExclusive(() => (signal.kind === 'pause' ? pause(session, signal.mode) : resume(session)))
        .catch((err) => log.warn(`${signal.kind} failed`, { sessionId, error: String(err) }));
    }
    if (workflowInfo().continueAsNewSuggested) {
      // New tool calls wait for the next run and execs in flight are handed over to it (see tools.ts):
      // a day-long command no longer holds the run, and its history, open for a day.
      session.continuing = sessionPatched('continue-as-new-hands-over-tool-calls');
      await condition(() => allHandlersFinished() && lock.idle);
      if (session.destroyRequested || pending.length > 0) {
        session.continuing = false;
        continue;
      }
      await continueAsNew<typeof SessionWorkflow>(session.continuation());
    }
  }
  await condition(allHandlersFinished);
  return session.info();
}
