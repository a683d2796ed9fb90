import { sandboxAbsolutePath } from '../../src/activities/host/sandbox-path.js';

describe('sandboxAbsolutePath', () => {
  it('starts relative paths at /workspace and normalizes . and ..', () => {
    expect(sandboxAbsolutePath('src')).toBe('/workspace/src');
    expect(sandboxAbsolutePath('./a/../b/')).toBe('/workspace/b');
    expect(sandboxAbsolutePath('..')).toBe('/');
    expect(sandboxAbsolutePath('/')).toBe('/');
    expect(sandboxAbsolutePath('/tmp//x/.')).toBe('/tmp/x');
  });

  it('refuses a path whose .. climbs above the root, whichever runtime asks', () => {
    expect(() => sandboxAbsolutePath('../..', 'Working directory')).toThrow(expect.objectContaining({ type: 'PathEscape' }));
    expect(() => sandboxAbsolutePath('/workspace/../../etc')).toThrow(expect.objectContaining({ type: 'PathEscape' }));
  });
});
