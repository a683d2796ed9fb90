import { ApplicationFailure, condition, log } from '@temporalio/workflow';
import type { Placement } from '../../activities/control/placement.js';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import type { SandboxOrigin } from '../../common/sandbox.js';
import { SbxHost } from '../../protocol/search-attributes.js';
import type { SessionEntity } from './entity.js';
import { placementActivities, warmClaimer } from './placement.js';
import { sessionPatched } from './patches.js';

const FORK_COPY_TIMEOUT = '30 minutes';

/** Finds the session's host: the forking parent's, a claimed warm sandbox's, or the fleet's placement. */
async function place(session: SessionEntity): Promise<void> {
  const { forkOf, req, sessionId } = session;
  if (forkOf) {
    session.placeOn(forkOf.hostId, forkOf.fleetId);
    return;
  }
  const ask = { sessionId, template: req.template, hostId: req.hostId, resources: req.resources, quotaBytes: req.quotaBytes };
  let placed: Placement | null = null;
  let claimAgain = true;
  if (!req.hostId && sessionPatched('warm-claim-local-activity')) {
    try {
      placed = await warmClaimer().claimWarmSandbox(ask);
      claimAgain = false;
    } catch (err) {
      // The claim may have landed before its answer was lost: the placement activity asks the
      // pool again, which returns the same sandbox to the same session.
      log.warn('warm claim failed; placing through the placement activity', { sessionId, error: String(err) });
    }
  }
  placed ??= await placementActivities(session.story).placeSession({ ...ask, claim: claimAgain });
  session.placeOn(placed.hostId, placed.fleetId, placed.warm);
}

/** A fork's filesystem comes from its parent's snapshot, copied by the parent before it signals forkReady. */
async function origin(session: SessionEntity): Promise<SandboxOrigin> {
  const { forkOf, req } = session;
  if (!forkOf) return { kind: 'template', template: req.template };
  if (!(await condition(() => session.forkReady !== undefined, FORK_COPY_TIMEOUT))) {
    throw sbxFailure(SbxErrorType.CreateFailed, `session ${forkOf.sessionId} never finished copying the fork`);
  }
  const ready = session.forkReady;
  if (!ready?.ok) throw sbxFailure(SbxErrorType.CreateFailed, ready?.message ?? 'the fork copy failed');
  return { kind: 'snapshot', sandboxId: forkOf.sandboxId ?? forkOf.sessionId, snapshot: forkOf.snapshot };
}

/**
 * Creates the session's sandbox. A failed create undoes its steps in reverse (a saga), fails the
 * session and gives its slot back; the create update then answers with the failure.
 */
export async function create(session: SessionEntity): Promise<void> {
  const { req, sessionId, host } = session;
  const undo: Array<() => Promise<unknown>> = [];
  try {
    await place(session);
    const { hostId, sandboxId } = session.placed();
    session.upsertOnCreate([{ key: SbxHost, value: hostId }]);
    if (session.record.warmClaim) {
      // A claimed warm sandbox is already made and started: the session is ready now.
      session.setState('active');
      return;
    }
    const from = await origin(session);
    // The parent's copy made and started this fork's sandbox: nothing is left to make (histories from
    // before make it again, which finds it made and running).
    if (session.forkReady?.started && sessionPatched('fork-started-by-copy')) {
      session.setState('active');
      return;
    }
    const acts = host.acts();
    // Each undo is registered before its step runs and is idempotent, so a step that failed half-way is undone too.
    undo.push(() => acts.destroySandbox({ sandboxId }));
    if (sessionPatched('create-starts-sandbox')) {
      // One host call makes and starts the sandbox (one round trip less); the destroy undoes both.
      const made = { sandboxId, origin: from, quotaBytes: req.quotaBytes, start: req.resources };
      await host.run('create sandbox', () => acts.createSandbox(made));
    } else {
      await host.run('create sandbox', () => acts.createSandbox({ sandboxId, origin: from, quotaBytes: req.quotaBytes }));
      undo.push(() => acts.stopSandbox({ sandboxId }));
      await host.run('start sandbox', () => acts.startSandbox({ sandboxId, resources: req.resources }));
    }
    session.setState('active');
  } catch (err) {
    const failure = err instanceof ApplicationFailure ? err : host.failed('create', err);
    const hostLost = failure.type === SbxErrorType.HostLost;
    if (failure.type !== SbxErrorType.AlreadyExists && !hostLost) {
      for (const step of undo.reverse()) {
        await step().catch((undoErr) => log.warn('undo of a failed create step failed', { sessionId, error: String(undoErr) }));
      }
    }
    // A request the host refuses as invalid (a quota over its maximum) keeps its type: the caller must change it.
    const type = hostLost
      ? SbxErrorType.HostLost
      : failure.type === SbxErrorType.InvalidArgument
        ? SbxErrorType.InvalidArgument
        : SbxErrorType.CreateFailed;
    session.createError = sbxFailure(type, `session ${sessionId} could not be created: ${failure.message}`);
    session.setState('failed', hostLost ? 'host-lost' : 'create-failed');
    await session.releaseSlot();
  }
}
