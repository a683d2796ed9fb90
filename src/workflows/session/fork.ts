import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  setHandler,
  startChild,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { sessionWorkflowId } from '../../common/names.js';
import { parseInput } from '../../common/validate.js';
import { ForkRequest, forkReadySignal, forkUpdate } from '../../protocol/messages.js';
import { SbxHost, SbxSessionState, SbxTemplate, SbxTurn } from '../../protocol/search-attributes.js';
import { sessionMemo } from '../../protocol/session-memo.js';
import { resolveSnapshot } from '../session-rules.js';
import type { SessionEntity } from './entity.js';
import { placementActivities } from './placement.js';
import type { SessionWorkflow } from './workflow.js';
import { sessionPatched } from './patches.js';

/**
 * fork: a new session, started as this one's child, made from one of this session's snapshots on
 * the same host. The child waits for forkReady while this session clones the filesystem and starts
 * the fork's sandbox.
 */
export function registerForkHandler(session: SessionEntity): void {
  const { lock, req, sessionId, host } = session;
  const placement = placementActivities(session.story);

  setHandler(
    forkUpdate,
    (raw) =>
      lock.runExclusive(async () => {
        session.allowed('fork');
        const request = ForkRequest.parse(raw);
        const source = resolveSnapshot(session.record.snapshots, request, session.record.turn);
        const { hostId, sandboxId } = session.placed();
        // A fork takes a slot on its source's host like any session; without one it fails here,
        // before anything is made.
        const fleetId = session.record.fleetId && sessionPatched('fork-reserves-fleet-slot') ? session.record.fleetId : undefined;
        if (fleetId) {
          await placement.reserveSlot({ sessionId: request.newSessionId, template: req.template, hostId }).catch((err) => {
            throw err instanceof ActivityFailure && err.cause instanceof ApplicationFailure
              ? sbxFailure(err.cause.type as SbxErrorType, `cannot fork into ${request.newSessionId}: ${err.cause.message}`)
              : err;
          });
        }
        const child = await startChild<typeof SessionWorkflow>('SessionWorkflow', {
          workflowId: sessionWorkflowId(request.newSessionId),
          args: [
            {
              request: { ...req, sessionId: request.newSessionId, hostId },
              forkOf: { sessionId, snapshot: source.name, hostId, sandboxId, fleetId },
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: SbxSessionState, value: 'creating' },
            { key: SbxTemplate, value: req.template },
            { key: SbxHost, value: hostId },
            { key: SbxTurn, value: 0 },
          ],
          staticSummary: `sbx session ${request.newSessionId}, forked from ${sessionId}@${source.name}`,
          ...(session.story ? { memo: sessionMemo(req) } : {}),
        }).catch(async (err: Error) => {
          if (fleetId) await session.releaseFleetSlot(fleetId, request.newSessionId, hostId);
          throw sbxFailure(SbxErrorType.SessionExists, `cannot fork into ${request.newSessionId}: ${err.message}`);
        });
        // The copy also starts the fork's sandbox, and forkReady says so: its session is then active
        // at once, with no host call of its own, by the time this update answers.
        const starts = sessionPatched('fork-copy-starts-sandbox');
        try {
          await host.run('fork copy', () =>
            host.acts().createSandbox({
              sandboxId: request.newSessionId,
              origin: { kind: 'snapshot', sandboxId, snapshot: source.name },
              quotaBytes: req.quotaBytes,
              ...(starts ? { start: req.resources } : {}),
            }),
          );
        } catch (err) {
          await child.signal(forkReadySignal, { ok: false, message: (err as Error).message });
          throw err;
        }
        await child.signal(forkReadySignal, starts ? { ok: true, started: true } : { ok: true });
        return { sessionId: request.newSessionId, fromSnapshot: source.name };
      }),
    {
      validator: (raw) => {
        const request = parseInput(ForkRequest, raw, 'fork request');
        if (request.newSessionId === sessionId) {
          throw sbxFailure(SbxErrorType.InvalidArgument, 'a fork needs a new session id, not the source id');
        }
        resolveSnapshot(session.record.snapshots, request, session.record.turn);
        session.allowed('fork');
      },
    },
  );
}
