import { execa } from 'execa';
import { repoRoot, requireBuilt, temporalioPythonPath } from '../../src/dev/paths.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack } from '../harness/stack.js';

/**
 * Issue 14: a platform written in Python drives a session with the official `temporalio` SDK and no
 * sbx code (examples/python/session_lifecycle.py), through the whole lifecycle.
 */
describe('the Temporal Python SDK drives a session (real dev server, zfs-fuse, runsc)', () => {
  let sbx: SbxTestStack;

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
  }, 600_000);
  afterAll(async () => {
    await sbx?.stop();
  });

  it('runs create, exec, turnComplete, rollback, pause, resume, pauseNow, resumeNow and destroy', async () => {
    const python = requireBuilt(temporalioPythonPath(), 'the Temporal Python SDK virtualenv');
    const stack = testStack();
    const run = await execa(
      python,
      [
        `${repoRoot}/examples/python/session_lifecycle.py`,
        ...[
          '--address',
          stack.temporalAddress,
          '--namespace',
          stack.namespace,
          '--task-queue',
          sbx.controlTaskQueue,
          '--session-id',
          'py-api',
        ],
      ],
      { reject: false },
    );
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const steps = Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { step: string; result: unknown })
        .map(({ step, result }) => [step, result]),
    );
    expect(steps).toMatchObject({
      create: { sessionId: 'py-api', state: 'active', template: 'busybox' },
      exec: { exitCode: 0, status: 'exited' },
      turnComplete: { snapshotId: 'turn-000001', turn: 1 },
      rollback: { snapshotId: 'turn-000001', turn: 1 },
      pause: { state: 'paused', pauseMode: 'hibernate' },
      resume: { state: 'active' },
      pauseNow: { state: 'paused', pauseMode: 'freeze' },
      resumeNow: { state: 'active' },
      rejectedSignal: { name: 'pause', reason: expect.stringContaining('invalid pause signal input') },
      badExec: { type: 'InvalidArgument', message: expect.stringContaining('toolCallId') },
      cat: { exitCode: 0, stdout: 'hi\n' },
      destroy: { sessionId: 'py-api', state: 'destroyed' },
    });
  });
});
