import { OutputCap, utf8SafeEnd } from '../../src/activities/host/output-cap.js';

describe('OutputCap', () => {
  it('keeps everything under the cap and says nothing was cut', () => {
    const cap = new OutputCap(16);
    cap.push(Buffer.from('hello '));
    cap.push(Buffer.from('world'));
    expect(cap.text()).toBe('hello world');
    expect(cap.truncated).toBe(false);
    expect(cap.totalBytes).toBe(11);
  });

  it('keeps exactly the first maxBytes and counts the rest', () => {
    const cap = new OutputCap(5);
    cap.push(Buffer.from('abc'));
    cap.push(Buffer.from('defgh'));
    cap.push(Buffer.from('ijk'));
    expect(cap.text()).toBe('abcde');
    expect(cap.truncated).toBe(true);
    expect(cap.totalBytes).toBe(11);
  });

  it('output of exactly maxBytes is not truncated', () => {
    const cap = new OutputCap(3);
    cap.push(Buffer.from('abc'));
    expect(cap.truncated).toBe(false);
    cap.push(Buffer.alloc(0));
    expect(cap.truncated).toBe(false);
    expect(cap.text()).toBe('abc');
  });

  it.each([
    ['é (2 bytes)', 'é'],
    ['€ (3 bytes)', '€'],
    ['😀 (4 bytes)', '😀'],
  ])('drops a %s character cut by the cap instead of mangling it', (_name, char) => {
    const size = Buffer.byteLength(char);
    for (let cut = 1; cut < size; cut++) {
      const cap = new OutputCap(2 + cut);
      cap.push(Buffer.from(`ab${char}cd`));
      expect(cap.text()).toBe('ab');
      expect(cap.text()).not.toContain('\uFFFD');
      expect(cap.truncated).toBe(true);
    }
    const whole = new OutputCap(2 + size);
    whole.push(Buffer.from(`ab${char}cd`));
    expect(whole.text()).toBe(`ab${char}`);
  });

  it('keeps a character split across chunks intact', () => {
    const bytes = Buffer.from('x€y');
    const cap = new OutputCap(100);
    for (const byte of bytes) cap.push(Uint8Array.of(byte));
    expect(cap.text()).toBe('x€y');
  });

  it('holds only the cap in memory while 50 MB stream through it', () => {
    const cap = new OutputCap(1024);
    const chunk = Buffer.alloc(64 * 1024, 'y');
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 800; i++) cap.push(chunk);
    expect(cap.totalBytes).toBe(800 * 64 * 1024);
    expect(cap.text()).toHaveLength(1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
  });

  it('takes memory for what a command prints, not for its cap', () => {
    const before = process.memoryUsage().arrayBuffers;
    const caps = Array.from({ length: 64 }, () => new OutputCap(1024 * 1024));
    for (const cap of caps) cap.push(Buffer.from('ok\n'));
    // Reserved up front, 64 caps of 1 MiB would hold 64 MiB here.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
    expect(caps.map((cap) => cap.text())).toEqual(Array(64).fill('ok\n'));
  });

  it('keeps what it was given when the caller reuses its buffer', () => {
    const cap = new OutputCap(16);
    const buffer = Buffer.from('first');
    cap.push(buffer);
    buffer.write('XXXXX');
    cap.push(buffer);
    expect(cap.text()).toBe('firstXXXXX');
  });

  it('a zero cap keeps nothing', () => {
    const cap = new OutputCap(0);
    cap.push(Buffer.from('a'));
    expect(cap.text()).toBe('');
    expect(cap.truncated).toBe(true);
  });

  it('rejects a negative or fractional cap', () => {
    expect(() => new OutputCap(-1)).toThrow(RangeError);
    expect(() => new OutputCap(1.5)).toThrow(RangeError);
  });
});

describe('utf8SafeEnd', () => {
  it('leaves ASCII and complete sequences alone', () => {
    const bytes = Buffer.from('a€');
    expect(utf8SafeEnd(bytes, 1)).toBe(1);
    expect(utf8SafeEnd(bytes, 4)).toBe(4);
    expect(utf8SafeEnd(bytes, 0)).toBe(0);
  });

  it('backs up to the lead byte of an incomplete sequence', () => {
    const bytes = Buffer.from('a😀');
    expect(utf8SafeEnd(bytes, 2)).toBe(1);
    expect(utf8SafeEnd(bytes, 3)).toBe(1);
    expect(utf8SafeEnd(bytes, 4)).toBe(1);
    expect(utf8SafeEnd(bytes, 5)).toBe(5);
  });
});
