import { describe, expect, test } from '@jest/globals';
import { SbxErrorType } from '../../../src/common/errors.js';
import { execUpdate, type SessionInfo } from '../../../src/protocol/messages.js';
import { eventually, failureType } from '../harness/env.js';
import { env } from '../harness/current.js';
import { gate, heldBy } from '../harness/stubs.js';

const exec = (toolCallId: string) => ({ args: [{ toolCallId, command: ['true'] }] as [{ toolCallId: string; command: string[] }] });

describe('idle auto-pause', () => {
  test('an idle session pauses in its idle mode, and a tool call with autoResume resumes it first', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 1000, idlePauseMode: 'hibernate', autoResume: true });

    const paused = await eventually(
      () => env.info(handle),
      (i) => i.state === 'paused',
      'the idle pause',
    );
    expect(paused.pauseMode).toBe('hibernate');
    expect(env.recorder.count('pauseSandbox', sessionId)).toBe(1);

    const result = await handle.executeUpdate(execUpdate, exec('after-pause'));
    expect(result.exitCode).toBe(0);
    // (Its state right after is not asserted: a loaded machine may let the next idle period end first.)
    const timeline = env.recorder.timeline(sessionId);
    expect(timeline.indexOf('resumeSandbox:end')).toBeLessThan(timeline.indexOf('execCommand:start'));
    const resume = env.recorder.calls.find((c) => c.activity === 'resumeSandbox' && c.phase === 'start');
    expect(resume?.input).toMatchObject({ sandboxId: sessionId, mode: 'hibernate' });

    // Idle again after the call: the clock runs anew.
    await eventually(
      () => env.info(handle),
      (i) => i.state === 'paused',
      'the second idle pause',
    );
    expect(env.recorder.count('pauseSandbox', sessionId)).toBe(2);
  });

  test('without autoResume a tool call on a paused session is refused and nothing runs', async () => {
    const hostId = env.id('h');
    await env.startHost(hostId);
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 1000 });
    await eventually(
      () => env.info(handle),
      (i) => i.state === 'paused',
      'the idle pause',
    );

    expect(await failureType(handle.executeUpdate(execUpdate, exec('refused')))).toBe(SbxErrorType.SessionPaused);
    expect(env.recorder.count('execCommand', sessionId)).toBe(0);
    expect((await env.info(handle)).state).toBe('paused');
  });

  test('a tool call running longer than the idle timeout is not paused under it', async () => {
    const hostId = env.id('h');
    const held = gate();
    await env.startHost(hostId, () => ({
      execCommand: async () => (
        await heldBy(held),
        { exitCode: 0, stdout: '', stderr: '', truncated: false, status: 'exited', durationMs: 3000 }
      ),
    }));
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, idleTimeoutMs: 1000 });
    const call = handle.executeUpdate(execUpdate, exec('long'));
    await eventually(
      async () => env.recorder.count('execCommand', sessionId),
      (n) => n === 1,
      'the exec to reach the host',
    );
    // Two idle periods pass while the call runs.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await env.info(handle)).state).toBe('active');
    held.open();
    expect((await call).exitCode).toBe(0);
    expect(env.recorder.count('pauseSandbox', sessionId)).toBe(0);
    // Once the call ended the session idles, and then pauses.
    await eventually(
      () => env.info(handle),
      (i) => i.state === 'paused',
      'the idle pause after the call',
    );
  });
});

describe('max lifetime', () => {
  test('a session past its max lifetime is destroyed, stopping the tool call it was running', async () => {
    const hostId = env.id('h');
    const held = gate();
    await env.startHost(hostId, () => ({
      execCommand: async () => (
        await heldBy(held),
        { exitCode: 0, stdout: '', stderr: '', truncated: false, status: 'exited', durationMs: 1 }
      ),
    }));
    const sessionId = env.id('s');
    const { handle } = await env.createSession({ sessionId, hostId, maxLifetimeMs: 1500, idleTimeoutMs: 0 });
    const call = failureType(handle.executeUpdate(execUpdate, exec('endless')));
    await eventually(
      async () => env.recorder.count('execCommand', sessionId),
      (n) => n === 1,
      'the exec to reach the host',
    );

    const final = (await handle.result()) as SessionInfo;
    expect(final.state).toBe('destroyed');
    expect(await call).toBe(SbxErrorType.SessionDestroyed);
    expect(env.recorder.count('destroySandbox', sessionId)).toBe(1);
    held.open();
  });
});
