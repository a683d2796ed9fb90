import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Page } from 'playwright-core';
import { sessionWorkflowId } from '../../src/common/names.js';
import { DEFAULT_RESOURCES } from '../../src/common/sandbox.js';
import { waitFor } from '../../src/dev/net.js';
import { openChromium } from '../harness/browser.js';
import { recordHistory } from '../harness/histories.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack } from '../harness/stack.js';

const { EventType } = temporal.api.enums.v1;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The text a person sees on the page, iframes (where the UI renders markdown) included. */
async function renderedText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((frame) =>
      frame
        .locator('body')
        .innerText()
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

/**
 * Issue 14: an operator opening a session in the Temporal Web UI sees what it is doing (state,
 * turn, last tool call), what each host activity was for, and a history not buried in timer rows.
 */
describe("the Temporal Web UI tells a session's story (real dev server and its UI, headless Chromium)", () => {
  let sbx: SbxTestStack;
  let client: Client;
  let chromium: Awaited<ReturnType<typeof openChromium>>;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
    client = sbx.client.temporal;
    chromium = await openChromium();
  }, 300_000);
  afterAll(async () => {
    await chromium?.close();
    await sbx?.stop();
  });

  const handle = (sessionId: string) => client.workflow.getHandle(sessionWorkflowId(sessionId));
  const events = async (sessionId: string): Promise<HistoryEvent[]> => (await handle(sessionId).fetchHistory()).events ?? [];
  const summaries = (history: HistoryEvent[]) =>
    history
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((e) => (e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary) : undefined));

  it("shows the state, host, template, turn and last tool call on the session's page", async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'ui-story' });
    const ran = await session.exec({ toolCallId: 'call-17', command: 'echo story; exit 3' });
    expect(ran.exitCode).toBe(3);
    expect(await session.turnComplete()).toMatchObject({ turn: 1 });

    const { runId } = await handle('ui-story').describe();
    const stack = testStack();
    const url = `${stack.temporalUiUrl}/namespaces/${stack.namespace}/workflows/${sessionWorkflowId('ui-story')}/${runId}/history`;
    await waitFor('the Temporal Web UI', 60_000, async () => (await fetch(stack.temporalUiUrl)).ok);
    const page = await chromium.context.newPage();
    await page.goto(url);
    // UI 2.42 (the CLI's dev server) shows current details, summary and details under this tab.
    await page.getByText('User Metadata', { exact: true }).click();
    let text = '';
    await waitFor("the session's current details on its page", 60_000, async () => {
      text = await renderedText(page);
      return /state:\s*active/.test(text) && /turn:\s*1\b/.test(text);
    }).catch((err: Error) => {
      throw new Error(`${err.message}; the page showed:\n${text}`);
    });
    expect(text).toContain(sbx.hostId);
    expect(text).toMatch(/template:\s*busybox/);
    expect(text).toMatch(/call-17[^\n]*exit 3/);
    await page.close();
    await session.destroy();
    await recordHistory('ui-story', 'session-web-ui');
  });

  it("labels each host activity with a short summary, the agent's command made safe to show", async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'ui-summaries' });
    await session.exec({ toolCallId: 'call-1', command: 'npm test || true' });
    const hostile = `echo '\u001b[2J<img src=x onerror=alert(1)>'\n# ${'x'.repeat(500)}`;
    await session.exec({ toolCallId: 'call-2', command: hostile });
    await session.turnComplete();
    await session.destroy();

    const shown = summaries(await events('ui-summaries'));
    expect(shown).toEqual(
      expect.arrayContaining(['create and start sandbox ui-summaries', 'exec: npm test || true (call-1)', 'snapshot turn-000001']),
    );
    expect(shown).not.toContain(undefined);
    const long = shown.find((s) => s?.includes('(call-2)'))!;
    expect(long.length).toBeLessThanOrEqual(120);
    expect(long).not.toMatch(/[\u0000-\u001f<>]/);
  });

  it('records the template and resources in the memo, for client starts, forks and bare JSON starts', async () => {
    const resources = { cpus: 1, memoryMb: 256, maxPids: 128 };
    const { session } = await sbx.client.createSession({ sessionId: 'ui-memo', resources });
    await session.turnComplete();
    const fork = await session.fork({ newSessionId: 'ui-memo-fork', turn: 1 });
    // As the `temporal` CLI starts one: no memo, no defaults.
    const bare = await client.workflow.start('SessionWorkflow', {
      workflowId: sessionWorkflowId('ui-memo-bare'),
      taskQueue: sbx.controlTaskQueue,
      args: [{ request: { sessionId: 'ui-memo-bare' } }],
    });
    await waitFor(
      'the bare session to be active',
      60_000,
      async () => (await sbx.client.session('ui-memo-bare').info()).state === 'active',
    );

    expect((await handle('ui-memo').describe()).memo).toEqual({ template: 'busybox', resources });
    expect((await handle('ui-memo-fork').describe()).memo).toEqual({ template: 'busybox', resources });
    expect((await bare.describe()).memo).toEqual({ template: 'busybox', resources: DEFAULT_RESOURCES });
    for (const s of [session, fork, sbx.client.session('ui-memo-bare')]) await s.destroy();
  });

  it('keeps one idle timer per idle period, not one per tool call, and still pauses an idle session', async () => {
    const { session } = await sbx.client.createSession({ sessionId: 'ui-timers' });
    for (let i = 1; i <= 8; i++) await session.exec({ toolCallId: `busy-${i}`, command: 'true' });
    const timers = (await events('ui-timers')).filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED);
    // The session's lifetime timer and one idle timer.
    expect(timers.length).toBeLessThanOrEqual(2);
    await session.destroy();

    const { session: idle } = await sbx.client.createSession({ sessionId: 'ui-idle', idleTimeoutMs: 2000 });
    // A tool call longer than the idle timeout is activity: the session is not paused under it.
    const slow = await idle.exec({ toolCallId: 'slow', command: 'sleep 3; echo done' });
    expect({ exitCode: slow.exitCode, stdout: slow.stdout }).toEqual({ exitCode: 0, stdout: 'done\n' });
    await waitFor('the idle session to pause itself', 60_000, async () => (await idle.info()).state === 'paused');
    await idle.destroy();
    await recordHistory('ui-idle', 'session-idle-pause');
  });
});
