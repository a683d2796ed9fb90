import type { ExecResult } from '../../src/common/sandbox.js';
import { ToolCallCache } from '../../src/workflows/tool-call-cache.js';

const result = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: '', truncated: false, status: 'exited', durationMs: 5 });

describe('ToolCallCache', () => {
  it('returns the recorded result of a toolCallId and forgets the oldest beyond its size', () => {
    const cache = new ToolCallCache(2);
    cache.record('a', result('A'));
    cache.record('b', result('B'));
    cache.record('c', result('C'));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')!.result.stdout).toBe('B');
    expect(cache.size).toBe(2);
  });

  it('carries every id across continue-as-new, keeping output of the newest within the budget', () => {
    const cache = new ToolCallCache(10);
    cache.record('old', result('x'.repeat(600)));
    cache.record('new', result('y'.repeat(600)));
    const carried = cache.carry(1000);
    expect(carried.map((c) => c.toolCallId)).toEqual(['old', 'new']);
    expect(carried[1]!.result.stdout).toHaveLength(600);
    expect(carried[0]!.outputDropped).toBe(true);
    expect(carried[0]!.result.stdout).toBe('');
    expect(carried[0]!.result.exitCode).toBe(0);

    const next = new ToolCallCache(10, carried);
    expect(next.get('old')!.outputDropped).toBe(true);
    expect(next.get('new')!.result.stdout).toHaveLength(600);
  });

  it('answers a resent toolCallId whose output was dropped with outputExpired, not a bare empty output', () => {
    const cache = new ToolCallCache(10);
    cache.record('old', result('5\n'.repeat(600)));
    cache.record('new', result('6\n'));
    const next = new ToolCallCache(10, cache.carry(100));
    expect(next.get('old')!.result).toMatchObject({ exitCode: 0, stdout: '', outputExpired: true });
    expect(next.get('new')!.result.stdout).toBe('6\n');
    expect(next.get('new')!.result.outputExpired).toBeUndefined();
    // Carried again, it still says so.
    expect(new ToolCallCache(10, next.carry(100)).get('old')!.result.outputExpired).toBe(true);
  });

  it('counts carried output as it travels: a control character is 6 bytes of JSON', () => {
    const cache = new ToolCallCache(10);
    cache.record('binary', result('\u0001'.repeat(200)));
    expect(cache.carry(1000)[0]!.outputDropped).toBe(true);
    expect(cache.carry(1300)[0]!.result.stdout).toHaveLength(200);
  });
});
