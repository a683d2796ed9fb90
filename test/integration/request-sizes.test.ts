import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Session } from '../../src/client/session.js';
import { SbxErrorType } from '../../src/common/errors.js';
import { sessionWorkflowId } from '../../src/common/names.js';
import {
  ExecRequest,
  MAX_ARG_BYTES,
  MAX_ARGV_ENV_BYTES,
  MAX_COMBINED_OUTPUT_BYTES,
  MAX_STDIN_BYTES,
  serializedBytes,
} from '../../src/common/sandbox.js';
import { execUpdate, snapshotUpdate } from '../../src/protocol/messages.js';
import { recordHistory } from '../harness/histories.js';
import { startSbx, type SbxTestStack } from '../harness/sbx.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/**
 * Sizes are measured as they travel: output that would not fit a Temporal payload comes back capped,
 * a request too large for the update or for the kernel's exec is refused before anything runs, and
 * none of it leaves the session unusable.
 */
describe('request and result sizes (real runsc on ZFS)', () => {
  const stack = testStack();
  const { id } = uniqueNames(import.meta.url);
  let sbx: SbxTestStack;
  let session: Session;
  let sandboxId: string;
  let calls = 0;
  const next = () => `call-${++calls}`;

  const stillUsable = async () => {
    const result = await session.exec({ toolCallId: next(), command: 'echo still here' });
    expect(result).toMatchObject({ status: 'exited', exitCode: 0, stdout: 'still here\n' });
  };
  /** The error type a call ended with, or 'ok'. */
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (err: { type?: string }) => err.type ?? String(err),
    );
  /** The same request sent straight to the workflow, past the client's own check. */
  const rawExec = (request: unknown) =>
    sbx.client.temporal.workflow
      .getHandle(sessionWorkflowId(session.id))
      .executeUpdate(execUpdate, { args: [request as ExecRequest] })
      .then(
        () => 'ok',
        (err: unknown) =>
          err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? err.cause.type : String(err),
      );

  beforeAll(async () => {
    sbx = await startSbx(import.meta.url);
    const created = await sbx.client.createSession({ sessionId: `sizes-${id}`.slice(0, 63), template: 'busybox', maxNamedSnapshots: 2 });
    session = created.session;
    sandboxId = created.info.sandboxId;
  });

  afterAll(async () => {
    await session?.destroy().catch(() => undefined);
    await sbx?.stop();
  });

  it('caps 1 MiB of binary stdout and stderr each as it travels, and marks it truncated', async () => {
    const result = await session.exec({
      toolCallId: next(),
      command: 'head -c 1100000 /dev/urandom; head -c 1100000 /dev/urandom >&2; echo done >&2',
    });
    expect(result).toMatchObject({ status: 'exited', exitCode: 0, truncated: true });
    expect(serializedBytes(result)).toBeLessThan(MAX_COMBINED_OUTPUT_BYTES + 1024);
    // Both streams keep a fair share.
    expect(result.stdout.length).toBeGreaterThan(100_000);
    expect(result.stderr.length).toBeGreaterThan(100_000);
    await stillUsable();
  });

  const big = (bytes: number) => 'x'.repeat(bytes);
  it.each([
    ['a 3 MB command', () => ({ command: `: ${big(3_000_000)}` })],
    ['a 3 MB env value', () => ({ command: 'true', env: { BIG: big(3_000_000) } })],
    ['3 MB of stdin', () => ({ command: 'cat', stdin: big(3_000_000) })],
  ])('refuses %s in the client at once with InvalidArgument', async (_name, make) => {
    expect(await outcome(session.exec({ toolCallId: next(), ...make() }))).toBe(SbxErrorType.InvalidArgument);
    await stillUsable();
  });

  // Sent past the client, a request over 2 MB never reaches the validator: Temporal's server fails
  // on the rejection that echoes it. Everything below that is the validator's to refuse.
  it.each([
    ['1.9 MB of stdin', () => ({ command: 'cat', stdin: big(1_900_000) })],
    ['a command over the per-string limit', () => ({ command: `: ${big(MAX_ARG_BYTES)}` })],
    ['an env value over the per-string limit', () => ({ command: 'true', env: { BIG: big(MAX_ARG_BYTES) } })],
    ['argv over the total limit', () => ({ command: ['/bin/true', ...Array.from({ length: 8 }, () => big(MAX_ARGV_ENV_BYTES / 8))] })],
    ['stdin that grows past its limit as JSON', () => ({ command: 'cat', stdin: '\u0001'.repeat(MAX_STDIN_BYTES / 4) })],
    ['a NUL byte in the command', () => ({ command: 'echo a\0b' })],
  ])('refuses %s at once with InvalidArgument, in the client and in the workflow', async (_name, make) => {
    const request = { toolCallId: next(), ...make() };
    expect(await outcome(session.exec(request))).toBe(SbxErrorType.InvalidArgument);
    expect(await rawExec(request)).toBe(SbxErrorType.InvalidArgument);
    await stillUsable();
  });

  it('runs a command and an env value just under the limits', async () => {
    const value = big(MAX_ARG_BYTES - 'BIG='.length - 1);
    const fromEnv = await session.exec({ toolCallId: next(), command: 'printf %s "$BIG" | wc -c', env: { BIG: value } });
    expect(fromEnv).toMatchObject({ status: 'exited', exitCode: 0 });
    expect(fromEnv.stdout.trim()).toBe(String(value.length));
    const command = `: ${big(MAX_ARG_BYTES - 100)}; echo ran`;
    expect(await session.exec({ toolCallId: next(), command })).toMatchObject({ status: 'exited', exitCode: 0, stdout: 'ran\n' });
  });

  it('turns a spawn the kernel refuses into a typed failure, without hanging or leaking its temp directory', async () => {
    const tmp = mkdtempSync(join(stack.scratch, `tmp-${id}-`));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      // Past the schema, as a caller of the runtime itself: 200 KiB in one argv string is E2BIG.
      const request = { ...ExecRequest.parse({ toolCallId: next(), command: 'true' }), command: `: ${big(200 * 1024)}` };
      const path = await sbx.host.storage.sandboxPath(sandboxId);
      const failure = await sbx.host.runtime.exec(sandboxId, path, request).then(
        () => 'ok',
        (err: { type?: string }) => err.type ?? String(err),
      );
      expect(failure).toBe(SbxErrorType.InvalidArgument);
    } finally {
      process.env.TMPDIR = before;
    }
    expect(readdirSync(tmp)).toEqual([]);
    await stillUsable();
  });

  it('refuses a cwd that is a file', async () => {
    await session.exec({ toolCallId: next(), command: 'echo x > /workspace/plain' });
    expect(await outcome(session.exec({ toolCallId: next(), command: 'pwd', cwd: '/workspace/plain' }))).toBe(SbxErrorType.InvalidArgument);
    await stillUsable();
  });

  it('caps the named snapshots a session keeps', async () => {
    await session.snapshot('one');
    await session.snapshot('two');
    expect(await outcome(session.snapshot('three'))).toBe(SbxErrorType.InvalidState);
    // Straight to the workflow too; asking again for one it has is still fine.
    const handle = sbx.client.temporal.workflow.getHandle(sessionWorkflowId(session.id));
    const raw = await handle.executeUpdate(snapshotUpdate, { args: [{ name: 'three' }] }).then(
      () => 'ok',
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? err.cause.type : String(err),
    );
    expect(raw).toBe(SbxErrorType.InvalidState);
    expect((await session.snapshot('one')).name).toBe('one');
    await session.turnComplete();
    expect((await session.listSnapshots()).map((s) => s.name)).toEqual(['one', 'two', 'turn-000001']);
    await stillUsable();
  });

  it('holds the named-snapshot cap when two snapshots race for the last place', async () => {
    const { session: racer } = await sbx.client.createSession({
      sessionId: `race-${id}`.slice(0, 63),
      template: 'busybox',
      maxNamedSnapshots: 1,
    });
    const results = await Promise.allSettled([racer.snapshot('a'), racer.snapshot('b')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.type)).toEqual([
      SbxErrorType.InvalidState,
    ]);
    expect(await racer.listSnapshots()).toHaveLength(1);
    await racer.destroy();
    await recordHistory(racer.id, 'session-named-snapshot-cap');
  });
});
