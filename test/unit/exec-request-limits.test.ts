import { LaunchProcessRequest } from '../../src/common/processes.js';
import { CreateSessionRequest } from '../../src/protocol/messages.js';
import { ExecRequest, MAX_ARG_BYTES, MAX_ARGV_ENV_BYTES, MAX_EXEC_REQUEST_BYTES, MAX_STDIN_BYTES } from '../../src/common/sandbox.js';

const issue = (
  value: unknown,
  schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } } = ExecRequest,
) => {
  const result = schema.safeParse(value);
  return result.success ? undefined : result.error!.issues[0]!.message;
};
const exec = (extra: object) => ({ toolCallId: 't', command: 'true', ...extra });

describe('exec request limits (client, update validator and host share them)', () => {
  it('takes a command and an env entry of exactly the per-string limit', () => {
    expect(issue(exec({ command: 'x'.repeat(MAX_ARG_BYTES) }))).toBeUndefined();
    expect(issue(exec({ env: { A: 'x'.repeat(MAX_ARG_BYTES - 2) } }))).toBeUndefined();
  });

  it('refuses a string one byte over, counting UTF-8 bytes', () => {
    expect(issue(exec({ command: 'x'.repeat(MAX_ARG_BYTES + 1) }))).toMatch(/each command argument .* at most 65536 bytes/);
    expect(issue(exec({ command: ['/bin/echo', 'é'.repeat(MAX_ARG_BYTES / 2 + 1)] }))).toMatch(/at most 65536 bytes/);
    expect(issue(exec({ env: { A: 'x'.repeat(MAX_ARG_BYTES - 1) } }))).toMatch(/each env entry NAME=value/);
  });

  it('refuses argv and env together past the total, counting 9 bytes per string', () => {
    const strings = Math.floor(MAX_ARGV_ENV_BYTES / (1000 + 9));
    expect(issue(exec({ command: Array.from({ length: strings }, () => 'x'.repeat(1000)) }))).toBeUndefined();
    expect(issue(exec({ command: Array.from({ length: strings + 1 }, () => 'x'.repeat(1000)) }))).toMatch(/together/);
    expect(issue(exec({ command: Array.from({ length: MAX_ARGV_ENV_BYTES / 9 + 1 }, () => '') }))).toMatch(/together/);
  });

  it('refuses NUL bytes, which would cut an argument short', () => {
    expect(issue(exec({ command: 'a\0b' }))).toMatch(/NUL/);
    expect(issue(exec({ command: ['a', 'b\0'] }))).toMatch(/NUL/);
    expect(issue(exec({ env: { A: '\0' } }))).toMatch(/NUL/);
  });

  it('measures stdin and the whole request as JSON', () => {
    expect(issue(exec({ stdin: 'x'.repeat(MAX_STDIN_BYTES - 2) }))).toBeUndefined();
    expect(issue(exec({ stdin: '\u0001'.repeat(MAX_STDIN_BYTES / 6 + 1) }))).toMatch(/stdin may be at most/);
    const escaped = '\u0001'.repeat(MAX_ARG_BYTES - 10);
    const request = exec({ command: ['/bin/true', escaped, escaped, escaped], stdin: 'x'.repeat(MAX_STDIN_BYTES - 2) });
    expect(issue(request)).toMatch(new RegExp(`exec request may be at most ${MAX_EXEC_REQUEST_BYTES} bytes`));
  });

  it('gives a launched process the limit of the env entry its command travels in', () => {
    const launch = (command: string, env = {}) => ({ processId: 'p', command, env });
    expect(issue(launch('x'.repeat(MAX_ARG_BYTES - 64)), LaunchProcessRequest)).toBeUndefined();
    expect(issue(launch('x'.repeat(MAX_ARG_BYTES - 63)), LaunchProcessRequest)).toMatch(/command may be at most/);
    const wide = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`V${i}`, 'x'.repeat(MAX_ARG_BYTES - 10)]));
    expect(issue(launch('true', wide), LaunchProcessRequest)).toMatch(/together/);
  });
});

describe('create request limits', () => {
  it('takes at most 64 labels, so a create stays small', () => {
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(256)]));
    expect(issue({ sessionId: 's1', labels: labels(64) }, CreateSessionRequest)).toBeUndefined();
    expect(issue({ sessionId: 's1', labels: labels(65) }, CreateSessionRequest)).toMatch(/at most 64 labels/);
  });
});
