import { ApplicationFailure } from '@temporalio/common';
import { parseSessionInput, type StartedAs } from '../../src/protocol/session-input.js';

const as = (sessionId: string, more: Partial<StartedAs> = {}): StartedAs => ({ workflowId: `sbx-session-${sessionId}`, ...more });

function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('parseSessionInput', () => {
  it("applies the client's defaults to a minimal start", () => {
    const input = parseSessionInput({ request: { sessionId: 'cli1', template: 'busybox' } }, as('cli1'));
    expect(input.request).toMatchObject({
      sessionId: 'cli1',
      template: 'busybox',
      resources: { cpus: 1, memoryMb: 512, maxPids: 256 },
      idleTimeoutMs: 30 * 60_000,
      autoResume: false,
      labels: {},
    });
  });

  it("refuses a workflow id that is not the session's own", () => {
    const failure = failureOf(() => parseSessionInput({ request: { sessionId: 'victim' } }, { workflowId: 'sbx-session-mismatch' }));
    expect(failure).toMatchObject({ type: 'InvalidArgument', nonRetryable: true });
    expect(failure.message).toContain('sbx-session-victim');
  });

  it.each([
    ['no input', undefined],
    ['null', null],
    ['an empty object', {}],
    ['a string', 'cli1'],
    ['a request of the wrong type', { request: { sessionId: 42 } }],
    ['a bad default override', { request: { sessionId: 'cli1', resources: { cpus: -1 } } }],
  ])('refuses %s with InvalidArgument', (_what, raw) => {
    expect(failureOf(() => parseSessionInput(raw, as('cli1')))).toMatchObject({ type: 'InvalidArgument', nonRetryable: true });
  });

  it('takes forkOf only from the source session as parent, or from its own continued run', () => {
    const raw = { request: { sessionId: 'copy' }, forkOf: { sessionId: 'victim', snapshot: 'turn-000001', hostId: 'h1' } };
    expect(failureOf(() => parseSessionInput(raw, as('copy'))).type).toBe('InvalidArgument');
    expect(failureOf(() => parseSessionInput(raw, as('copy', { parentWorkflowId: 'sbx-session-other' }))).type).toBe('InvalidArgument');
    expect(parseSessionInput(raw, as('copy', { parentWorkflowId: 'sbx-session-victim' })).forkOf?.sessionId).toBe('victim');
    expect(parseSessionInput(raw, as('copy', { continuedFromRunId: 'run-1' })).forkOf?.sessionId).toBe('victim');
  });

  it('takes carried state only from continue-as-new, and keeps fields it does not know', () => {
    const carried = {
      state: 'active',
      hostId: 'h1',
      sandboxId: 'victim',
      turn: 2,
      snapshots: [{ name: 'turn-000002', turn: 2, createdAt: 'x', usedBytes: 1, referencedBytes: 2 }],
      createdAt: 'x',
      toolCalls: 1,
      runs: 1,
      toolCache: [],
      later: { added: true },
    };
    const raw = { request: { sessionId: 'thief' }, carried };
    expect(failureOf(() => parseSessionInput(raw, as('thief'))).type).toBe('InvalidArgument');
    expect(parseSessionInput(raw, as('thief', { continuedFromRunId: 'run-1' })).carried).toEqual(carried);
  });
});
