import { DEFAULT_RESOURCES } from '../../src/common/sandbox.js';
import { sessionMemo } from '../../src/protocol/session-memo.js';
import { currentDetails } from '../../src/workflows/session-story.js';

describe('what the Web UI shows of a session', () => {
  const story = { state: 'active' as const, hostId: 'h1', template: 'busybox', turn: 4 };

  it('puts state, turn, template, host and the last tool call in the current details', () => {
    expect(
      currentDetails({
        ...story,
        lastToolCall: { name: 'exec', toolCallId: 'call-17', command: 'npm test', result: { exitCode: 1, status: 'exited' } },
      }),
    ).toBe('state: **active** · turn: **4** · template: busybox · host: h1\n\nlast tool call: ` call-17 ` exec ` npm test ` → exit 1');
    expect(currentDetails({ ...story, state: 'paused', pauseMode: 'hibernate' })).toBe(
      'state: **paused** (hibernate) · turn: **4** · template: busybox · host: h1',
    );
    expect(
      currentDetails({ ...story, state: 'failed', failureReason: 'host-lost', lastToolCall: { name: 'writeFiles', failed: 'HostLost' } }),
    ).toContain('last tool call: writeFiles → failed (HostLost)');
    expect(
      currentDetails({
        ...story,
        lastToolCall: { name: 'exec', toolCallId: 'c', command: ['sleep', '9'], result: { exitCode: 137, status: 'timed_out' } },
      }),
    ).toContain('→ timed out (exit 137)');
  });

  it("keeps the agent's text inert: one line, short, controls escaped, in a code span it cannot close", () => {
    const command = 'echo ` <img src=x onerror=alert(1)> ``\n\u001b[2J' + 'x'.repeat(500);
    const details = currentDetails({ ...story, lastToolCall: { name: 'exec', toolCallId: 'id', command } });
    const line = details.split('\n\n')[1]!;
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line.length).toBeLessThan(140);
    // The longest backtick run inside is 2, so the span is fenced with 3.
    expect(line).toContain('``` echo ` <img src=x onerror=alert(1)> ``\\n\\u001b[2J');
    expect(line).toMatch(/x… ``` → running$/);
  });

  it('holds the template and resources in the memo, and the quota when one was asked', () => {
    expect(sessionMemo({ template: 'busybox', resources: DEFAULT_RESOURCES })).toEqual({
      template: 'busybox',
      resources: DEFAULT_RESOURCES,
    });
    expect(sessionMemo({ template: 'node', resources: DEFAULT_RESOURCES, quotaBytes: 1 << 30 })).toEqual({
      template: 'node',
      resources: DEFAULT_RESOURCES,
      quotaBytes: 1 << 30,
    });
  });
});
