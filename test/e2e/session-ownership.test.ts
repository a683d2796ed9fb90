import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Session } from '../../src/client/session.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import { DEFAULT_RESOURCES } from '../../src/common/sandbox.js';
import { CreateSessionRequest } from '../../src/protocol/messages.js';
import type { HostCallOutcome } from '../fixtures/host-call-workflows.js';
import { recordHistory, recordWorkflowHistory } from '../harness/histories.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { createTestWorker } from '../harness/temporal.js';
import { uniqueNames } from '../harness/stack.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * Issue 14: any caller of the Temporal API, in any language, starts workflows with whatever ids and
 * input it likes. None of that may reach another session's sandbox. Workflows are started here with
 * the raw Temporal client, as a non-TypeScript platform or the `temporal` CLI would.
 */
describe("a session's sandbox belongs to its own workflow (real dev server, zfs-fuse, runsc)", () => {
  const names = uniqueNames(import.meta.url);
  let sbx: SbxTestStack;
  let temporal: Client;
  let victim: Session;
  const secret = "the victim's own data\n";

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
    temporal = sbx.client.temporal;
    victim = (await sbx.client.createSession({ sessionId: 'victim' })).session;
    await victim.writeFiles([{ path: '/workspace/secret.txt', content: secret }]);
    await victim.turnComplete();
  }, 600_000);
  afterAll(async () => {
    await sbx?.stop();
  });

  const start = (workflowId: string, args: unknown[]) =>
    temporal.workflow.start('SessionWorkflow', { workflowId, taskQueue: sbx.controlTaskQueue, args });

  async function failureType(handle: WorkflowHandle): Promise<string | undefined> {
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    return ((err as WorkflowFailedError).cause as { type?: string }).type;
  }

  /** The victim is still active, runs commands and holds exactly what it wrote. */
  async function victimIntact(toolCallId: string): Promise<void> {
    expect(await victim.info()).toMatchObject({ state: 'active', turn: 1 });
    const read = await victim.exec({ toolCallId, command: 'cat /workspace/secret.txt' });
    expect({ exitCode: read.exitCode, stdout: read.stdout }).toEqual({ exitCode: 0, stdout: secret });
    expect(await sbx.host.storage.sandboxExists('victim')).toBe(true);
  }

  const activityEvents = (events: HistoryEvent[]) =>
    events.filter(
      (e) =>
        e.activityTaskScheduledEventAttributes ||
        (e.markerRecordedEventAttributes && e.markerRecordedEventAttributes.markerName !== 'core_patch'),
    );

  it("fails a session workflow started under another session's id, before it touches anything", async () => {
    const impostor = await start('sbx-session-mismatch', [{ request: { sessionId: 'victim', template: 'busybox' } }]);
    // What issue 14 found: the impostor's destroy deleted the victim's dataset.
    await impostor.executeUpdate('destroy', { args: [] }).catch(() => undefined);
    expect(await failureType(impostor)).toBe('InvalidArgument');
    expect(activityEvents((await impostor.fetchHistory()).events ?? [])).toEqual([]);
    await victimIntact('after-impostor');
    await recordWorkflowHistory('sbx-session-mismatch', 'session-id-mismatch');
  });

  it('refuses forkOf and carried in a plain start: only a fork and continue-as-new set them', async () => {
    const copier = await start(sessionWorkflowId('copier'), [
      { request: { sessionId: 'copier' }, forkOf: { sessionId: 'victim', snapshot: 'turn-000001', hostId: sbx.hostId } },
    ]);
    await copier.signal('forkReady', { ok: true });
    expect(await failureType(copier)).toBe('InvalidArgument');
    const carrier = await start(sessionWorkflowId('carrier'), [
      {
        request: { sessionId: 'carrier' },
        carried: {
          state: 'active',
          hostId: sbx.hostId,
          sandboxId: 'victim',
          turn: 1,
          snapshots: [],
          createdAt: '',
          toolCalls: 0,
          runs: 0,
          toolCache: [],
        },
      },
    ]);
    await carrier.executeUpdate('destroy', { args: [] }).catch(() => undefined);
    expect(await failureType(carrier)).toBe('InvalidArgument');
    expect(await sbx.host.storage.sandboxExists('copier')).toBe(false);
    await victimIntact('after-copier');
  });

  it("starts a session from minimal JSON with the client's defaults, and fails a start without a usable input", async () => {
    await start(sessionWorkflowId('cli1'), [{ request: { sessionId: 'cli1', template: 'busybox' } }]);
    // The same session asked for through the client: the same request once defaults are applied.
    const { session, info } = await sbx.client.createSession({ sessionId: 'cli1', template: 'busybox' });
    expect(info).toMatchObject({ state: 'active', template: 'busybox' });
    expect((await session.exec({ toolCallId: 'hi', command: 'echo hi' })).stdout).toBe('hi\n');
    await session.destroy();
    await recordHistory('cli1', 'session-minimal-json-start');

    const bad: Array<[string, unknown[]]> = [
      ['empty', [{}]],
      ['none', []],
      ['typed', [{ request: { sessionId: 7 } }]],
    ];
    for (const [id, args] of bad) {
      expect(await failureType(await start(sessionWorkflowId(`bad-${id}`), args))).toBe('InvalidArgument');
    }
  });

  it('takes a create request with its keys in any order as the same request', async () => {
    const reversed = (o: object) => Object.fromEntries(Object.entries(o).reverse());
    const request = CreateSessionRequest.parse({ sessionId: 'order1', labels: { a: '1', b: '2' } });
    await start(sessionWorkflowId('order1'), [
      { request: { ...reversed(request), resources: reversed(request.resources), labels: reversed(request.labels) } },
    ]);
    const { session, info } = await sbx.client.createSession({ sessionId: 'order1', labels: { a: '1', b: '2' } });
    expect(info.state).toBe('active');
    await session.destroy();
  });

  it("refuses (NotOwner) a new workflow started under a session's id after its own was terminated", async () => {
    const { session: target } = await sbx.client.createSession({ sessionId: 'target' });
    await target.writeFiles([{ path: '/workspace/secret.txt', content: secret }]);
    const handle = temporal.workflow.getHandle(sessionWorkflowId('target'));
    await handle.terminate('an attacker may terminate any workflow');
    // The replacement is a valid start under the right id: only the host can tell it from the original.
    const replacement = await start(sessionWorkflowId('target'), [{ request: { sessionId: 'target' } }]);
    const created = await replacement.executeUpdate('create', { args: [{ sessionId: 'target' }] }).then(
      () => undefined,
      (err: { cause?: { message?: string } }) => err.cause?.message,
    );
    expect(created).toContain('belongs to another workflow');
    await replacement.terminate('test over');
    const path = await sbx.host.storage.sandboxPath('target');
    expect(readFileSync(join(path, 'rootfs', 'workspace', 'secret.txt'), 'utf8')).toBe(secret);
  });

  it("keeps a session's sandbox through an operator's reset of its workflow", async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'reset1' });
    await session.writeFiles([{ path: '/workspace/kept.txt', content: 'kept\n' }]);
    const handle = temporal.workflow.getHandle(sessionWorkflowId('reset1'));
    const { runId } = await handle.describe();
    const events = (await handle.fetchHistory()).events ?? [];
    const lastTask = events.filter((e) => e.workflowTaskCompletedEventAttributes).at(-1)!;
    await temporal.workflowService.resetWorkflowExecution({
      namespace: temporal.options.namespace,
      workflowExecution: { workflowId: sessionWorkflowId('reset1'), runId },
      reason: 'operator reset',
      workflowTaskFinishEventId: lastTask.eventId,
      requestId: 'reset-reset1',
    });
    expect((await handle.describe()).runId).not.toBe(runId);
    const read = await session.exec({ toolCallId: 'after-reset', command: 'cat /workspace/kept.txt' });
    expect({ exitCode: read.exitCode, stdout: read.stdout }).toEqual({ exitCode: 0, stdout: 'kept\n' });
    await session.destroy();
  });

  it("refuses (NotOwner) a warm pool started by anyone that names a session's sandbox as its own", async () => {
    // A pool trims ready sandboxes it was not configured for: this one would destroy the victim's.
    const pool = await temporal.workflow.start('WarmPoolWorkflow', {
      workflowId: `sbx-warmpool-${names.id}`.slice(0, 60),
      taskQueue: sbx.controlTaskQueue,
      args: [
        {
          fleetId: 'rogue',
          template: 'busybox',
          carried: {
            sandboxes: [{ sandboxId: 'victim', state: 'ready', spec: 'other', hostId: sbx.hostId, readyAt: 0 }],
            counters: {},
            evictedHosts: [],
          },
        },
      ],
    });
    const ended = await until(async () => {
      const events = (await pool.fetchHistory()).events ?? [];
      return events.find((e) => e.activityTaskFailedEventAttributes || e.activityTaskCompletedEventAttributes);
    });
    await pool.terminate('test over');
    expect(ended.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type).toBe('NotOwner');
    await victimIntact('after-rogue-pool');
  });

  it("refuses (NotOwner) every host activity a workflow on an attacker's own worker calls on the victim's sandbox", async () => {
    const { worker, connection } = await createTestWorker({ taskQueue: `${names.taskQueue}-rogue` });
    const attacks: Array<[string, string, unknown]> = [
      [
        'rogue-exec',
        'execCommand',
        { sandboxId: 'victim', request: { toolCallId: 'steal', command: 'cat /workspace/secret.txt' }, resources: DEFAULT_RESOURCES },
      ],
      ['rogue-read', 'readFile', { sandboxId: 'victim', request: { path: '/workspace/secret.txt' } }],
      ['rogue-write', 'writeFiles', { sandboxId: 'victim', files: [{ path: '/workspace/secret.txt', content: 'overwritten' }] }],
      ['rogue-prune', 'destroySnapshots', { sandboxId: 'victim', names: ['turn-000001'] }],
      ['rogue-destroy', 'destroySandbox', { sandboxId: 'victim' }],
      ['rogue-take', 'transferSandbox', { sandboxId: 'victim', sessionId: 'thief' }],
      // Named as the session the copy would go to, it still may not read the victim's snapshot.
      [
        sessionWorkflowId('thief'),
        'createSandbox',
        { sandboxId: 'thief', origin: { kind: 'snapshot', sandboxId: 'victim', snapshot: 'turn-000001' } },
      ],
      ['rogue-fork', 'createSandbox', { sandboxId: 'thief', origin: { kind: 'snapshot', sandboxId: 'victim', snapshot: 'turn-000001' } }],
    ];
    const outcomes = await worker.runUntil(async () => {
      const results: Record<string, HostCallOutcome> = {};
      for (const [workflowId, activity, input] of attacks) {
        results[`${workflowId} ${activity}`] = await temporal.workflow.execute('hostCallWorkflow', {
          workflowId: `${workflowId}`,
          taskQueue: `${names.taskQueue}-rogue`,
          args: [sbx.hostId, activity, input],
        });
      }
      return results;
    });
    await connection.close();
    for (const [key, outcome] of Object.entries(outcomes))
      expect([key, outcome]).toEqual([key, expect.objectContaining({ ok: false, type: 'NotOwner' })]);
    expect(await sbx.host.storage.sandboxExists('thief')).toBe(false);
    expect((await victim.listSnapshots()).map((s) => s.name)).toEqual(['turn-000001']);
    await victimIntact('after-rogue-worker');
  });
});

/** Polls `read` until it returns something; the test's own timeout bounds it. */
async function until<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
