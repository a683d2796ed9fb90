import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { supervise, supervisedStdio } from '../../src/activities/host/supervise.js';

/** A child the kernel or node refuses to start must end supervise at once, typed; it used to wait forever. */
describe('supervise and a child that never starts', () => {
  const run = (file: string, args: string[]) =>
    supervise(execa(file, args, supervisedStdio({})), { maxOutputBytes: 1024, timeoutMs: 60_000 }, {}, async () => undefined).then(
      () => 'ran',
      (err: Error & { code?: string }) => (err instanceof ApplicationFailure ? err.type : err.code),
    );

  it('turns E2BIG (an argument over the kernel limit) into InvalidArgument', async () => {
    expect(await run('/bin/echo', ['x'.repeat(200 * 1024)])).toBe('InvalidArgument');
  });

  it('leaves a missing program to the runtime, which says what was missing', async () => {
    expect(await run('/nonexistent/program', [])).toBe('ENOENT');
  });

  it('still runs what can run', async () => {
    expect(await run('/bin/echo', ['ok'])).toBe('ran');
  });
});

/**
 * Node may emit a child's `exit` before it has read the child's last output (seen with `runsc exec`
 * under load: exit 0 and empty stdout). A host worker starved right after the exit must still keep
 * output that reached the pipe within the grace, not throw it away unread.
 */
describe('supervise on a starved event loop', () => {
  // Other work (another activity) holds the loop just after the exit: before it polls for I/O again.
  const starveOnExit = (ms: number) => (child: ReturnType<typeof execa>) =>
    child.once('exit', () =>
      setImmediate(() => {
        const until = Date.now() + ms;
        while (Date.now() < until);
      }),
    );

  it('keeps output written just after the exit when the loop stalls past the grace', async () => {
    // The output lands 100 ms after the child exits, well within the grace; the loop then stalls.
    const child = execa('/bin/sh', ['-c', '(sleep 0.1; echo 5) &'], supervisedStdio({}));
    starveOnExit(800)(child);
    const run = await supervise(child, { maxOutputBytes: 1024, timeoutMs: 60_000 }, {}, async () => undefined);
    expect({ exitCode: run.exitCode, stdout: run.stdout }).toEqual({ exitCode: 0, stdout: '5\n' });
  });

  it('still stops waiting for a background process that holds stdout open', async () => {
    const child = execa('/bin/sh', ['-c', 'echo started; sleep 30 &'], supervisedStdio({}));
    const run = await supervise(child, { maxOutputBytes: 1024, timeoutMs: 60_000 }, {}, async () => undefined);
    expect({ exitCode: run.exitCode, stdout: run.stdout }).toEqual({ exitCode: 0, stdout: 'started\n' });
  });
});
