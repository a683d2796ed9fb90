import { execa } from 'execa';
import { cli } from '../harness/cli.js';
import { testStack } from '../harness/stack.js';

/** Every usage error of the compiled `sbx` exits 2, and nothing a caller typed reaches the terminal raw. */
describe('sbx usage errors', () => {
  const stack = testStack();
  const sbx = (...args: string[]) => execa('node', [cli, ...args], { reject: false, timeout: 30_000 });

  it.each([
    ['an unknown command', ['nosuch']],
    ['an unknown option', ['--bogus', 'session', 'ls']],
    ['a --turn that is not a whole number', ['session', 'rollback', 's1', '--turn', 'x']],
    ['a missing argument', ['session', 'exec']],
    ['a group without its command', ['session']],
  ])('exits 2 on %s', async (_name, args) => {
    const result = await sbx(...args);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/error|Usage/);
  });

  it('still exits 0 for --help', async () => {
    expect((await sbx('--help')).exitCode).toBe(0);
  });

  it('escapes control characters in a parse error', async () => {
    const result = await sbx('no\u001b[31msuch');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("unknown command 'no\\u001b[31msuch'");
    expect(result.stderr).not.toContain('\u001b');
  });

  it('escapes control characters in a name an error repeats', async () => {
    const result = await sbx(
      '--address',
      stack.temporalAddress,
      '--namespace',
      stack.namespace,
      'session',
      'info',
      'x\u001b]0;owned\u0007y',
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('x\\u001b]0;owned\\u0007y');
    expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
  });
});
