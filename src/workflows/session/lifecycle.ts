import { condition, log, setHandler, type ApplicationFailure } from '@temporalio/workflow';
import { SbxErrorType } from '../../common/errors.js';
import { parseInput } from '../../common/validate.js';
import {
  destroyUpdate,
  ForkReady,
  forkReadySignal,
  HostRef,
  hostLostSignal,
  pauseNowUpdate,
  pauseSignal,
  PauseRequest,
  resumeNowUpdate,
  resumeSignal,
  type PauseMode,
} from '../../protocol/messages.js';
import type { SessionEntity } from './entity.js';
import { sessionPatched } from './patches.js';

/** Pause, resume and destroy: each runs under the lifecycle lock, taken by its caller. */

export async function resume(session: SessionEntity): Promise<void> {
  if (session.state !== 'paused') return;
  await session.host.run('resume', () =>
    session.host
      .acts()
      .resumeSandbox({ sandboxId: session.sandboxId, mode: session.record.pauseMode ?? 'freeze', resources: session.req.resources }),
  );
  session.record.pauseMode = undefined;
  session.setState('active');
}

export async function pause(session: SessionEntity, mode: PauseMode): Promise<void> {
  if (session.state !== 'active') return;
  await session.host.run('pause', () => session.host.acts().pauseSandbox({ sandboxId: session.sandboxId, mode }));
  session.record.pauseMode = mode;
  session.setState('paused');
}

export async function destroy(session: SessionEntity): Promise<void> {
  // setState clears the failure reason: read it first (reading it after made every destroy of a
  // host-lost session wait hostTimeoutMs for the lost host).
  const hostLost = session.record.failureReason === 'host-lost';
  session.setState('destroying');
  const { hostId } = session.record;
  // A lost host cannot be reached; its reconcile at next start removes what closed sessions left.
  const reachable = !!hostId && !(hostLost && sessionPatched('destroy-skips-lost-host'));
  // The caller is answered once the sandbox is killed: removing the dataset (zfs-fuse unmounts and
  // destroys, seconds under load) goes on after, and the workflow closes only when it is done.
  const killFirst = reachable && sessionPatched('destroy-answers-after-kill');
  let killed = false;
  if (reachable) {
    try {
      const { sandboxId } = session;
      await session.host.run('destroy', () =>
        killFirst ? session.host.acts().stopSandbox({ sandboxId }) : session.host.acts().destroySandbox({ sandboxId }),
      );
      killed = true;
    } catch (err) {
      const failure = err as ApplicationFailure;
      if (failure.type !== SbxErrorType.HostLost) {
        session.destroyError = failure;
        session.destroyRequested = false;
        session.setState('failed', 'destroy-failed');
        return;
      }
      log.warn('host unreachable during destroy; leaving cleanup to its reconcile', { sessionId: session.sessionId, hostId });
    }
  }
  if (killFirst) {
    session.setState('destroyed');
    if (killed) await removeSandbox(session);
    await session.releaseSlot();
    return;
  }
  await session.releaseSlot();
  session.setState('destroyed');
}

/**
 * The second half of a destroy whose caller was answered already. Its activity is retried like any
 * (a host worker that crashes mid-way runs it again when back); one that still fails, or a host that
 * never picks it up, leaves the dataset to the host's reconcile, which removes closed sessions' data.
 * Not through host.run: a host found lost now must not turn the destroyed session into a failed one.
 */
async function removeSandbox(session: SessionEntity): Promise<void> {
  const { sessionId, sandboxId } = session;
  try {
    await session.host.acts().destroySandbox({ sandboxId });
  } catch (err) {
    log.warn("could not remove the destroyed session's sandbox; leaving it to the host's reconcile", {
      sessionId,
      hostId: session.record.hostId,
      error: String(err),
    });
  }
}

/** destroy, pause and resume (signals and their update twins), and the fleet's and a forking parent's signals. */
export function registerLifecycleHandlers(session: SessionEntity): void {
  const { lock } = session;
  setHandler(
    destroyUpdate,
    async () => {
      session.destroyError = undefined;
      session.destroyRequested = true;
      session.host.stopTools();
      await condition(() => session.state === 'destroyed' || session.destroyError !== undefined);
      if (session.destroyError) throw session.destroyError;
      return session.info();
    },
    { validator: () => session.allowed('destroy') },
  );

  setHandler(hostLostSignal, (raw) => {
    const hostId = session.signalInput('hostLost', HostRef, raw)?.hostId;
    const { state } = session;
    if (hostId === undefined || hostId !== session.record.hostId || state === 'destroyed' || state === 'destroying' || state === 'failed')
      return;
    log.warn("the fleet reports this session's host lost", { sessionId: session.sessionId, hostId });
    session.setState('failed', 'host-lost');
  });
  setHandler(forkReadySignal, (raw) => {
    session.forkReady = session.signalInput('forkReady', ForkReady, raw) ?? session.forkReady;
  });
  setHandler(pauseSignal, (raw) => {
    const request = session.signalInput('pause', PauseRequest, raw ?? {});
    if (request) session.pending.push({ kind: 'pause', mode: request.mode, reason: 'signal' });
  });
  setHandler(resumeSignal, () => {
    session.pending.push({ kind: 'resume' });
  });
  // The update twins run under the lifecycle lock like the signals' queue, and answer with the outcome.
  setHandler(
    pauseNowUpdate,
    async (raw) => {
      const { mode } = PauseRequest.parse(raw ?? {});
      await lock.runExclusive(async () => {
        session.allowed('pause');
        await pause(session, mode);
      });
      session.activitySeq++; // the main loop re-arms its idle timer for the new state
      return session.info();
    },
    { validator: (raw) => (parseInput(PauseRequest, raw ?? {}, 'pauseNow request'), session.allowed('pause')) },
  );
  setHandler(
    resumeNowUpdate,
    async () => {
      await lock.runExclusive(async () => {
        if (session.state !== 'active') session.allowed('resume');
        await resume(session);
      });
      session.activitySeq++;
      return session.info();
    },
    { validator: () => session.state === 'active' || session.allowed('resume') },
  );
}
