import { capCombinedOutput, fitJsonText, jsonTextBytes } from '../../src/activities/host/output-cap.js';
import { serializedBytes, type ExecResult } from '../../src/common/sandbox.js';

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

describe('output as it travels (JSON)', () => {
  it('counts bytes as JSON writes them', () => {
    for (const text of ['plain', 'a\nb\t"q"\\', '\u0000\u0001\u001f', 'é€😀', '\ufffd\u007f\u0085', '\ud800 lone']) {
      expect(jsonTextBytes(text)).toBe(serializedBytes(text) - 2);
    }
  });

  it('counts line-broken ASCII output as JSON writes it, whether or not it fits', () => {
    const alphabet = 'ab \n\t"\\~';
    let seed = 7;
    // xorshift32: the same texts every run.
    const next = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    for (let n = 0; n < 200; n++) {
      const text = Array.from({ length: next() % 60 }, () => alphabet[next() % alphabet.length]).join('');
      const exact = serializedBytes(text) - 2;
      expect(jsonTextBytes(text)).toBe(exact);
      expect(jsonTextBytes(text, exact)).toBe(exact);
      if (exact > 0) expect(jsonTextBytes(text, exact - 1)).toBeGreaterThan(exact - 1);
      expect(fitJsonText(text, exact)).toBe(text);
      if (exact > 0) expect(fitJsonText(text, exact - 1).length).toBeLessThan(text.length);
    }
  });

  it('cuts at the longest start that fits, as JSON counts it', () => {
    for (const text of ['a\nb\t"q"\\', '\u0000\u0001\u001f', 'é€😀', '\ufffd\u007f\u0085', '\ud800 lone']) {
      for (let max = 0; max <= jsonTextBytes(text); max++) {
        const fit = fitJsonText(text, max);
        expect(text.startsWith(fit)).toBe(true);
        expect(jsonTextBytes(fit)).toBeLessThanOrEqual(max);
        // One more character (a surrogate pair is one) would not fit.
        const next = text.slice(0, fit.length + (/[\ud800-\udbff]/.test(text[fit.length] ?? '') ? 2 : 1));
        if (fit !== text) expect(jsonTextBytes(next)).toBeGreaterThan(max);
      }
    }
  });

  it('counts only as far as asked, and says when a text is larger', () => {
    expect(jsonTextBytes('abc', 10)).toBe(3);
    expect(jsonTextBytes('a'.repeat(100), 10)).toBeGreaterThan(10);
    expect(jsonTextBytes('\u0001'.repeat(100), 10)).toBeGreaterThan(10);
  });

  it('counts a control character as the 6 bytes it takes, not 1', () => {
    const capped = capCombinedOutput({ ...base, stdout: '\u0001'.repeat(100) }, 60);
    expect(capped.stdout).toBe('\u0001'.repeat(10));
    expect(capped.truncated).toBe(true);
  });

  it('keeps decoded binary output within the limit as JSON, for both streams', () => {
    const binary = () => Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256)).toString('utf8');
    const capped = capCombinedOutput({ ...base, stdout: binary(), stderr: binary() }, 200_000);
    expect(jsonTextBytes(capped.stdout) + jsonTextBytes(capped.stderr)).toBeLessThanOrEqual(200_000);
    expect(jsonTextBytes(capped.stderr)).toBeGreaterThanOrEqual(99_990);
    expect(capped.truncated).toBe(true);
  });

  it('never splits a surrogate pair', () => {
    expect(fitJsonText('a😀', 4)).toBe('a');
    expect(fitJsonText('a😀', 5)).toBe('a😀');
  });
});
