import { capCombinedOutput } from '../../src/activities/host/activities.js';
import type { ExecResult } from '../../src/common/sandbox.js';

const base: ExecResult = { exitCode: 0, stdout: '', stderr: '', truncated: false, status: 'exited', durationMs: 1 };

describe('capCombinedOutput', () => {
  it('leaves results under the limit alone', () => {
    const result = { ...base, stdout: 'abc', stderr: 'de' };
    expect(capCombinedOutput(result, 10)).toBe(result);
  });

  it('trims so stdout + stderr fit, keeps a fair share of stderr, and marks truncation', () => {
    const capped = capCombinedOutput({ ...base, stdout: 'o'.repeat(100), stderr: 'e'.repeat(100) }, 100);
    expect(Buffer.byteLength(capped.stdout) + Buffer.byteLength(capped.stderr)).toBeLessThanOrEqual(100);
    expect(capped.stderr.length).toBe(50);
    expect(capped.truncated).toBe(true);
  });

  it('never splits a multi-byte character', () => {
    const capped = capCombinedOutput({ ...base, stdout: 'é'.repeat(100) }, 51);
    expect(capped.stdout).toBe('é'.repeat(25));
  });
});
