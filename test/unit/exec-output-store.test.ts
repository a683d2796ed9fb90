import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecOutputStore, SPILL_AFTER_BYTES } from '../../src/activities/host/exec-output-store.js';
import type { ExecResult } from '../../src/common/sandbox.js';

const result: ExecResult = { exitCode: 0, stdout: 'head', stderr: '', truncated: true, status: 'exited', durationMs: 1 };

describe('ExecOutputStore', () => {
  let dir: string;
  let store: ExecOutputStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sbx-outputs-'));
    store = new ExecOutputStore(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps nothing for a small output', async () => {
    const capture = store.capture('s1', 'small');
    capture.push('stdout', Buffer.from('hello\n'));
    expect(await capture.finish(result)).toEqual(result);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps a large output in full and pages it back on whole characters', async () => {
    const text = `a${'é😀x'.repeat(300_000)}`;
    const bytes = Buffer.from(text);
    const capture = store.capture('s1', 'big');
    for (let i = 0; i < bytes.length; i += 4093) capture.push('stdout', bytes.subarray(i, i + 4093));
    capture.push('stderr', Buffer.from('warn\n'));
    const kept = await capture.finish(result);
    expect(kept.fullOutput).toEqual({ ref: 'big', stdoutBytes: bytes.length, stderrBytes: 5, complete: true });

    let read = '';
    for (let offset: number | undefined = 0; offset !== undefined;) {
      const page = await store.read('s1', 'big', 'stdout', offset, 100_001);
      expect(page.encoding).toBe('utf8');
      expect(page.totalBytes).toBe(bytes.length);
      read += page.data;
      offset = page.nextOffset;
    }
    expect(read).toBe(text);
    expect((await store.read('s1', 'big', 'stderr', 0, 1000)).data).toBe('warn\n');
  });

  it('answers a reference it no longer keeps with OutputExpired', async () => {
    const capture = store.capture('s1', 'gone');
    capture.push('stdout', Buffer.alloc(SPILL_AFTER_BYTES + 1, 'z'));
    expect((await capture.finish(result)).fullOutput?.ref).toBe('gone');
    await store.forget('s1');
    await expect(store.read('s1', 'gone', 'stdout', 0, 10)).rejects.toMatchObject({ type: 'OutputExpired' });
    await expect(store.read('s1', 'never', 'stdout', 0, 10)).rejects.toMatchObject({ type: 'OutputExpired' });
  });

  it('gives binary output back as base64', async () => {
    const bytes = Buffer.from(Array.from({ length: SPILL_AFTER_BYTES + 10 }, (_, i) => (i * 7) % 256));
    const capture = store.capture('s1', 'bin');
    capture.push('stdout', bytes);
    await capture.finish(result);
    const page = await store.read('s1', 'bin', 'stdout', 0, bytes.length);
    expect(page.encoding).toBe('base64');
    expect(Buffer.from(page.data, 'base64').equals(bytes)).toBe(true);
  });
});
