import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { z } from 'zod';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { parseInput } from '../../common/validate.js';
import {
  DeletePathRequest,
  deletePathUpdate,
  ExecRequest,
  execUpdate,
  killProcessUpdate,
  LaunchProcessRequest,
  launchProcessUpdate,
  ListDirRequest,
  listDirUpdate,
  ProcessRef,
  processStatusUpdate,
  ReadFileRequest,
  readFileUpdate,
  ReadOutputRequest,
  readOutputUpdate,
  StatPathRequest,
  statPathUpdate,
  WriteFilesRequest,
  writeFilesUpdate,
} from '../../protocol/messages.js';
import type { Operation } from '../session-rules.js';
import type { LastToolCall } from '../session-story.js';
import type { SessionEntity } from './entity.js';
import type { HostActs } from './host-calls.js';
import { resume } from './lifecycle.js';
import { sessionPatched } from './patches.js';

const EXEC_RETRY = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 };

function continuedAsNew(session: SessionEntity): ApplicationFailure {
  return sbxFailure(
    SbxErrorType.ContinuedAsNew,
    `session ${session.sessionId} is continuing as new: send the same call again (same toolCallId); the next run answers it`,
  );
}

/** In validators and before a call starts: while continue-as-new is pending, a call waits for the next run. */
function assertNotContinuing(session: SessionEntity): void {
  if (session.continuing) throw continuedAsNew(session);
}

/**
 * Rejects once continue-as-new is pending: an exec in flight then answers ContinuedAsNew instead of
 * holding the run open for as long as its command runs, and its caller's resend (same toolCallId)
 * re-attaches to the command on the host from the next run. One condition per run.
 */
function handover(session: SessionEntity): Promise<never> {
  if (!session.handingOver) {
    session.handingOver = condition(() => session.continuing).then(() => Promise.reject(continuedAsNew(session)));
    session.handingOver.catch(() => undefined);
  }
  return session.handingOver;
}

/** A tool call: resumes a paused session first when autoResume is set, then shares the lock. */
async function runTool<T>(session: SessionEntity, fn: () => Promise<T>): Promise<T> {
  session.activitySeq++;
  session.toolsRunning++;
  try {
    if (session.state === 'paused' && session.req.autoResume) await session.lock.runExclusive(() => resume(session));
    return await session.lock.runShared(async () => {
      assertNotContinuing(session);
      if (session.state !== 'active') {
        session.allowed('exec');
        throw sbxFailure(SbxErrorType.SessionPaused, `session ${session.sessionId} was paused while the call waited; resume it`);
      }
      try {
        return await fn();
      } finally {
        session.activitySeq++;
      }
    });
  } finally {
    session.toolsRunning--;
  }
}

/** Runs a tool call shown as the session's last one: running, then how it ended. */
async function shownAs<T>(
  session: SessionEntity,
  call: LastToolCall,
  run: () => Promise<T>,
  ended: (result: T) => LastToolCall = () => ({ ...call, ended: true }),
): Promise<T> {
  session.lastToolCall = call;
  session.showStory();
  try {
    const result = await run();
    session.lastToolCall = ended(result);
    return result;
  } catch (err) {
    session.lastToolCall = { ...call, failed: (err instanceof ApplicationFailure && err.type) || 'error' };
    throw err;
  } finally {
    session.showStory();
  }
}

/**
 * A tool-call update: validated (input and session state) before it is accepted, then run on the
 * host under the shared lock. Its name labels errors.
 */
function toolUpdate<S extends z.ZodType, R>(
  session: SessionEntity,
  update: UpdateDefinition<R, [z.input<S>]>,
  schema: S,
  operation: Operation,
  call: (acts: HostActs, request: z.output<S>) => Promise<R>,
): void {
  const handler = (raw: z.input<S>) =>
    runTool(session, () =>
      shownAs(session, { name: update.name }, () => session.host.tool(update.name, (acts) => call(acts, schema.parse(raw)))),
    );
  setHandler(update, handler, {
    validator: (raw) => {
      parseInput(schema, raw, `${update.name} request`);
      session.allowed(operation);
      assertNotContinuing(session);
      session.assertToolSlot();
    },
  });
}

/** exec, with its toolCallId dedupe, and the file and process updates. */
export function registerToolHandlers(session: SessionEntity): void {
  const { cache, inFlight, req } = session;
  setHandler(
    execUpdate,
    async (raw) => {
      const request = ExecRequest.parse(raw);
      const recorded = cache.get(request.toolCallId);
      if (recorded) return recorded.result;
      const running = inFlight.get(request.toolCallId);
      if (running) return running;
      const call = runTool(session, async () => {
        const shown: LastToolCall = { name: 'exec', toolCallId: request.toolCallId, command: request.command };
        const result = await shownAs(
          session,
          shown,
          () => {
            const onHost = session.host.tool(
              'exec',
              (acts) => acts.execCommand({ sandboxId: session.sandboxId, request, resources: req.resources }),
              {
                startToCloseTimeout: request.timeoutMs + 60_000,
                heartbeatTimeout: '30 seconds',
                // A command may have run on a host that died mid-way. The host's tool-call journal makes a
                // retry safe (it returns the recorded result, or OutcomeUnknown, and never runs it twice),
                // so a host that comes back answers what really happened instead of a bare HostLost.
                retry: sessionPatched('exec-retry-through-journal') ? EXEC_RETRY : { maximumAttempts: 1 },
              },
            );
            // `continuing` is only ever set behind its patch: older histories never take this branch.
            return Promise.race([onHost, handover(session)]);
          },
          ({ exitCode, status }) => ({ ...shown, result: { exitCode, status } }),
        );
        session.record.toolCalls++;
        cache.record(request.toolCallId, result);
        return result;
      });
      inFlight.set(request.toolCallId, call);
      try {
        return await call;
      } finally {
        inFlight.delete(request.toolCallId);
      }
    },
    {
      validator: (raw) => {
        const { toolCallId } = parseInput(ExecRequest, raw, 'exec request');
        session.allowed('exec');
        assertNotContinuing(session);
        // A repeated toolCallId answers from the record or joins the call in flight: no new slot.
        if (!cache.get(toolCallId) && !inFlight.has(toolCallId)) session.assertToolSlot();
      },
    },
  );

  const sandboxId = () => session.sandboxId;
  toolUpdate(session, writeFilesUpdate, WriteFilesRequest, 'files', (acts, request) =>
    acts.writeFiles({ sandboxId: sandboxId(), ...request }),
  );
  toolUpdate(session, readFileUpdate, ReadFileRequest, 'files', (acts, request) => acts.readFile({ sandboxId: sandboxId(), request }));
  toolUpdate(session, readOutputUpdate, ReadOutputRequest, 'files', (acts, request) =>
    acts.readOutput({ sandboxId: sandboxId(), request }),
  );
  toolUpdate(session, listDirUpdate, ListDirRequest, 'files', (acts, request) => acts.listDir({ sandboxId: sandboxId(), request }));
  toolUpdate(session, statPathUpdate, StatPathRequest, 'files', (acts, request) => acts.statPath({ sandboxId: sandboxId(), request }));
  toolUpdate(session, deletePathUpdate, DeletePathRequest, 'files', (acts, request) =>
    acts.deletePath({ sandboxId: sandboxId(), request }),
  );
  toolUpdate(session, launchProcessUpdate, LaunchProcessRequest, 'exec', (acts, request) =>
    acts.launchProcess({ sandboxId: sandboxId(), request }),
  );
  toolUpdate(session, processStatusUpdate, ProcessRef, 'files', (acts, { processId }) =>
    acts.processStatus({ sandboxId: sandboxId(), processId }),
  );
  toolUpdate(session, killProcessUpdate, ProcessRef, 'files', (acts, { processId }) =>
    acts.killProcess({ sandboxId: sandboxId(), processId }),
  );
}
