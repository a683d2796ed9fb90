import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ExecResult, ReadFileResult } from '../../src/common/sandbox.js';
import type { SessionInfo } from '../../src/protocol/messages.js';
import type { NexusOutcome, NexusStep } from '../fixtures/nexus-workflows.js';
import { startNexusCaller, type NexusCaller } from '../harness/nexus.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';

let sbx: SbxTestStack;
let caller: NexusCaller;

beforeAll(async () => {
  sbx = await startSbx(import.meta.url);
  caller = await startNexusCaller(sbx, import.meta.url);
}, 120_000);

afterAll(async () => {
  await caller?.stop();
  await sbx?.stop();
});

async function runScript(id: string, steps: NexusStep[]): Promise<{ outcomes: NexusOutcome[]; final?: SessionInfo }> {
  return caller.client.workflow.execute('nexusScript', {
    taskQueue: caller.taskQueue,
    workflowId: `nexus-${id}-${Date.now().toString(36)}`,
    args: [{ endpoint: caller.endpoint, steps }],
  });
}

const value = <T>(o: NexusOutcome | undefined): T => {
  if (!o?.ok) throw new Error(`step failed: ${JSON.stringify(o)}`);
  return o.value as T;
};

describe('the Nexus service sbx.sandbox.v1, called from a workflow in another namespace', () => {
  it('holds a session from create to destroy and runs every operation on it', async () => {
    const sessionId = `nx-${Date.now().toString(36)}`;
    const { outcomes, final } = await runScript('life', [
      { op: 'createSession', input: { sessionId } },
      { op: 'exec', input: { sessionId, toolCallId: 't1', command: 'echo one > a.txt; cat a.txt' } },
      { op: 'writeFiles', input: { sessionId, files: [{ path: 'b.txt', content: 'bee\n' }] } },
      { op: 'turnComplete', input: { sessionId } },
      { op: 'exec', input: { sessionId, toolCallId: 't2', command: 'echo two > a.txt; rm b.txt' } },
      { op: 'rollback', input: { sessionId, turn: 1 } },
      { op: 'readFile', input: { sessionId, path: 'a.txt' } },
      { op: 'listDir', input: { sessionId } },
      // A repeated toolCallId answers from the record: the command does not run again.
      { op: 'exec', input: { sessionId, toolCallId: 't1', command: 'echo never > a.txt' } },
      { op: 'pause', input: { sessionId } },
      { op: 'resume', input: { sessionId } },
      { op: 'info', input: { sessionId } },
      { op: 'destroy', input: { sessionId } },
    ]);
    const by = (op: string, n = 0) => outcomes.filter((o) => o.op === op)[n];
    expect(value<{ token: boolean }>(by('createSession'))).toEqual({ token: true });
    expect(value<ExecResult>(by('exec')).stdout).toBe('one\n');
    expect(value<{ turn: number }>(by('turnComplete')).turn).toBe(1);
    expect(value<ReadFileResult>(by('readFile')).content).toBe('one\n');
    expect(
      value<{ entries: { name: string }[] }>(by('listDir'))
        .entries.map((e) => e.name)
        .sort(),
    ).toEqual(['a.txt', 'b.txt']);
    expect(value<ExecResult>(by('exec', 2)).stdout).toBe('one\n');
    expect(value<SessionInfo>(by('pause')).state).toBe('paused');
    expect(value<SessionInfo>(by('resume')).state).toBe('active');
    expect(value<SessionInfo>(by('info')).toolCalls).toBe(2);
    expect(value<SessionInfo>(by('destroy')).state).toBe('destroyed');
    // The caller's createSession operation ends with the session: its result is the final info.
    expect(final?.state).toBe('destroyed');
    expect(final?.sessionId).toBe(sessionId);
  });

  it('runs an exec longer than the Nexus request timeout once, answering the retried request', async () => {
    const sessionId = `nx-long-${Date.now().toString(36)}`;
    const { outcomes } = await runScript('long', [
      { op: 'createSession', input: { sessionId } },
      // Longer than the server's 10 s Nexus request timeout: the request is retried and joins the exec in flight.
      { op: 'exec', input: { sessionId, toolCallId: 'slow', command: 'sleep 13; echo ran >> count.txt; cat count.txt' } },
      { op: 'destroy', input: { sessionId } },
    ]);
    expect(value<ExecResult>(outcomes[1]).stdout).toBe('ran\n');
    expect(value<SessionInfo>(outcomes[2]).toolCalls).toBe(1);
  });

  it('answers bad requests and unknown sessions with typed sbx errors the caller acts on', async () => {
    const sessionId = `nx-bad-${Date.now().toString(36)}`;
    const { outcomes } = await runScript('errors', [
      { op: 'createSession', input: { sessionId: 'Not A Valid Id' } },
      { op: 'exec', input: { sessionId: 'no-such-session', toolCallId: 'x', command: 'true' } },
      { op: 'createSession', input: { sessionId } },
      { op: 'exec', input: { sessionId, toolCallId: 'x', command: '' } },
      { op: 'rollback', input: { sessionId, turn: 5 } },
      { op: 'readFile', input: { sessionId, path: 'missing.txt' } },
      { op: 'destroy', input: { sessionId } },
      { op: 'exec', input: { sessionId, toolCallId: 'y', command: 'true' } },
      // A destroyed session's id is not reused.
      { op: 'createSession', input: { sessionId } },
    ]);
    const types = outcomes.map((o) => (o.ok ? 'ok' : o.type));
    expect(types).toEqual([
      'InvalidArgument',
      'SessionNotFound',
      'ok',
      'InvalidArgument',
      'InvalidArgument',
      'NotFound',
      'ok',
      'SessionDestroyed',
      'SessionDestroyed',
    ]);
    const bad = outcomes[0] as { message: string };
    expect(bad.message).toMatch(/sessionId/);
  });
});
