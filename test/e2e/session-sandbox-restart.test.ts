import { startSbx, type SbxTestStack } from '../harness/sbx.js';

/** A sandbox that died under an active session (OOM kill, host reboot) comes back at the next tool call. */
describe('a dead sandbox under an active session', () => {
  let sbx: SbxTestStack;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  });

  afterAll(async () => {
    await sbx?.stop();
  });

  it('is started again on its filesystem by the next exec, which runs once', async () => {
    const { session, info } = await sbx.client.createSession({ sessionId: 'revive', template: 'busybox' });
    await session.exec({ toolCallId: 'write', command: 'echo kept > /workspace/f; echo run >> /workspace/runs' });
    await sbx.host.runtime.destroy(info.sandboxId);
    expect(await sbx.host.runtime.state(info.sandboxId)).toBe('absent');

    const result = await session.exec({ toolCallId: 'read', command: 'echo run >> /workspace/runs; cat /workspace/f' });
    expect(result).toMatchObject({ exitCode: 0, status: 'exited', stdout: 'kept\n' });
    expect(await sbx.host.runtime.state(info.sandboxId)).toBe('running');
    expect((await session.readFile('/workspace/runs')).content).toBe('run\nrun\n');
    await session.destroy();
  });
});
