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
