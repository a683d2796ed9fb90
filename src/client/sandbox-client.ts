import { Client, Connection, WithStartWorkflowOperation, WorkflowIdReusePolicy } from '@temporalio/client';
import { z } from 'zod';
import { CONTROL_TASK_QUEUE, HostId, sessionWorkflowId, TemplateName } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import { CreateSessionRequest, createUpdate, SessionState, type CreateSessionInput, type SessionInfo } from '../protocol/messages.js';
import { SbxHost, SbxSessionState, SbxTemplate, SbxTurn } from '../protocol/search-attributes.js';
import type { SessionWorkflowInput } from '../protocol/session-input.js';
import type { SessionWorkflow } from '../workflows/session/workflow.js';
import { sessionMemo } from '../protocol/session-memo.js';
import { acrossContinueAsNew, toSbxError } from './errors.js';
import { Session } from './session.js';

export interface SandboxClientOptions {
  /** Temporal frontend, host:port. */
  address?: string;
  namespace?: string;
  /** The control workers' task queue. */
  taskQueue?: string;
  connection?: Connection;
}

export const ListSessionsFilter = z.object({
  state: SessionState.optional(),
  host: HostId.optional(),
  template: TemplateName.optional(),
  limit: z.number().int().positive().max(10_000).default(100),
});

export interface SessionSummary {
  sessionId: string;
  state?: string;
  host?: string;
  template?: string;
  turn?: number;
  startTime: Date;
  status: string;
}

/**
 * How every front starts a session workflow: its id, queue, reuse policy, search attributes, and what
 * the Web UI shows of it. A session id that belonged to a destroyed session is refused.
 */
export function sessionStartOptions(request: CreateSessionRequest, taskQueue: string, createdBy = 'created through SandboxClient') {
  const labels = Object.entries(request.labels).map(([k, v]) => `${k}=${v}`);
  return {
    workflowId: sessionWorkflowId(request.sessionId),
    taskQueue,
    args: [{ request }] as [SessionWorkflowInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: SbxSessionState, value: 'creating' },
      { key: SbxTemplate, value: request.template },
      { key: SbxTurn, value: 0 },
      ...(request.hostId ? [{ key: SbxHost, value: request.hostId }] : []),
    ],
    staticSummary: `sbx session ${request.sessionId} (template ${request.template})`,
    memo: sessionMemo(request),
    // Who made the session (the client, a Nexus caller, MCP), so the Web UI tells the fronts apart.
    staticDetails: [createdBy, ...(labels.length ? [`labels: ${labels.join(', ')}`] : [])].join('\n'),
  };
}

/** What the agent platform imports: creates sessions and hands out `Session` handles. */
export class SandboxClient {
  private constructor(
    readonly temporal: Client,
    private readonly connection: Connection,
    private readonly ownsConnection: boolean,
    private readonly taskQueue: string,
  ) {}

  static async connect(options: SandboxClientOptions = {}): Promise<SandboxClient> {
    const connection = options.connection ?? (await Connection.connect({ address: options.address ?? 'localhost:7233' }));
    const temporal = new Client({ connection, namespace: options.namespace ?? 'default' });
    return new SandboxClient(temporal, connection, !options.connection, options.taskQueue ?? CONTROL_TASK_QUEUE);
  }

  /**
   * Creates a session, or returns the existing one when the same request is retried (update-with-start).
   * A destroyed session's id cannot be reused. `createdBy` is what the Web UI shows as its origin.
   */
  async createSession(input: CreateSessionInput, options: { createdBy?: string } = {}): Promise<{ session: Session; info: SessionInfo }> {
    const sessionId = (input as { sessionId?: string }).sessionId ?? '?';
    let request: CreateSessionRequest;
    try {
      request = parseInput(CreateSessionRequest, input, 'create request');
    } catch (err) {
      throw toSbxError(err, sessionId);
    }
    try {
      // Sent again while the server refuses it (see acrossContinueAsNew): create is idempotent for the same
      // request, and a start operation is single-use, so each send gets its own.
      const info = await acrossContinueAsNew(
        () =>
          this.temporal.workflow.executeUpdateWithStart(createUpdate, {
            args: [request],
            startWorkflowOperation: new WithStartWorkflowOperation<typeof SessionWorkflow>(
              'SessionWorkflow',
              sessionStartOptions(request, this.taskQueue, options.createdBy),
            ),
          }),
        request.sessionId,
      );
      return { session: new Session(this.temporal, request.sessionId), info };
    } catch (err) {
      throw toSbxError(err, request.sessionId);
    }
  }

  /** A handle on an existing session; calls on it fail with SessionNotFound if there is none. */
  session(sessionId: string): Session {
    return new Session(this.temporal, sessionId);
  }

  /** Sessions through Temporal visibility, newest first. */
  async listSessions(filter: z.input<typeof ListSessionsFilter> = {}): Promise<SessionSummary[]> {
    const parsed = parseInput(ListSessionsFilter, filter, 'session filter');
    const clauses = [`WorkflowType = 'SessionWorkflow'`];
    if (parsed.state) clauses.push(`SbxSessionState = '${parsed.state}'`);
    if (parsed.host) clauses.push(`SbxHost = '${parsed.host}'`);
    if (parsed.template) clauses.push(`SbxTemplate = '${parsed.template}'`);
    const out: SessionSummary[] = [];
    for await (const wf of this.temporal.workflow.list({ query: clauses.join(' AND ') })) {
      const attrs = wf.typedSearchAttributes;
      out.push({
        sessionId: wf.workflowId.replace(/^sbx-session-/, ''),
        state: attrs.get(SbxSessionState),
        host: attrs.get(SbxHost),
        template: attrs.get(SbxTemplate),
        turn: attrs.get(SbxTurn),
        startTime: wf.startTime,
        status: wf.status.name,
      });
      if (out.length >= parsed.limit) break;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}
