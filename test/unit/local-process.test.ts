import { cmdlineHasHost, localInstanceId, parseLocalInstanceId, parseProcStat } from '../../src/activities/control/local-process.js';

describe('local host identity', () => {
  it('round-trips host ids that hold dashes and digits through the instance id', () => {
    const id = localInstanceId('host-2-b', 4242);
    expect(id).toBe('local-host-2-b-4242');
    expect(parseLocalInstanceId(id)).toEqual({ hostId: 'host-2-b', pid: 4242 });
  });

  it('rejects instance ids of other providers', () => {
    expect(() => parseLocalInstanceId('i-0123456789abcdef0')).toThrow(/local-<hostId>-<pid>/);
    expect(() => parseLocalInstanceId('local-Host-1')).toThrow(/instanceId/);
  });

  it('reads the state and start time of /proc/<pid>/stat, whatever the command name holds', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 4)).join(' ');
    expect(parseProcStat(`123 (node) S ${rest}`)).toEqual({ state: 'S', startTime: '22' });
    expect(parseProcStat(`123 (a) b (c) Z ${rest}`)).toEqual({ state: 'Z', startTime: '22' });
    expect(parseProcStat('123 (node)')).toBeUndefined();
  });

  it('recognises the host flag in a NUL-separated command line', () => {
    const cmdline = ['node', 'dist/cli/main.js', 'host', '--host-id', 'h1', '--namespace', 'default', ''].join('\0');
    expect(cmdlineHasHost(cmdline, 'h1')).toBe(true);
    expect(cmdlineHasHost(cmdline, 'h2')).toBe(false);
    expect(cmdlineHasHost(['node', 'h1', '--host-id'].join('\0'), 'h1')).toBe(false);
  });
});
