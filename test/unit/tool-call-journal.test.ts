import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolCallJournal } from '../../src/activities/host/tool-call-journal.js';
import type { ExecResult } from '../../src/common/sandbox.js';

const result = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: '', truncated: false, status: 'exited', durationMs: 1 });

describe('ToolCallJournal', () => {
  let dir: string;
  let journal: ToolCallJournal;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sbx-journal-'));
    journal = new ToolCallJournal(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('runs a tool call once and answers a retry with the recorded result', async () => {
    let runs = 0;
    const command = async () => result(`run ${++runs}`);
    expect(await journal.once('s1', 'call-1', command)).toMatchObject({ stdout: 'run 1' });
    expect(await journal.once('s1', 'call-1', command)).toMatchObject({ stdout: 'run 1' });
    expect(await new ToolCallJournal(dir).once('s1', 'call-1', command)).toMatchObject({ stdout: 'run 1' });
    expect(await journal.once('s2', 'call-1', command)).toMatchObject({ stdout: 'run 2' });
    expect(runs).toBe(2);
  });

  it('never runs again a call whose worker died while it ran: OutcomeUnknown', async () => {
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const hanging = journal.once('s1', 'long', () => {
      started();
      return new Promise<ExecResult>((resolve) => (release = () => resolve(result('late'))));
    });
    await running;
    // A second worker (the restarted host) sees the call started and not finished.
    let ran = false;
    await expect(
      new ToolCallJournal(dir).once('s1', 'long', async () => {
        ran = true;
        return result('twice');
      }),
    ).rejects.toMatchObject({ type: 'OutcomeUnknown' });
    expect(ran).toBe(false);
    release();
    await hanging;
  });

  it('lets a call that was refused before it ran be made again', async () => {
    await expect(journal.once('s1', 'refused', () => Promise.reject(new Error('sandbox not running')))).rejects.toThrow('not running');
    expect(await journal.once('s1', 'refused', async () => result('ran'))).toMatchObject({ stdout: 'ran' });
  });

  it('keeps a large result small, marked truncated, and forgets a destroyed sandbox', async () => {
    const big = await journal.once('s1', 'big', async () => result('x'.repeat(2_000_000)));
    expect(big.stdout).toHaveLength(2_000_000);
    const again = await journal.once('s1', 'big', async () => result('never'));
    expect(again.truncated).toBe(true);
    expect(again.stdout.length).toBeLessThan(100_000);
    await writeFile(join(dir, 's1', 'stray'), '');
    await journal.forget('s1');
    expect(await readdir(dir)).toEqual([]);
  });

  it('cuts a large recorded output on whole characters', async () => {
    // An odd start puts a cut at any even character count inside a surrogate pair.
    const large = result(`a${'😀'.repeat(200_000)}`);
    await journal.once('s1', 'emoji', async () => large);
    const recorded = await new ToolCallJournal(dir).once('s1', 'emoji', async () => result('ran again'));
    expect(recorded.truncated).toBe(true);
    expect(recorded.stdout.length).toBeGreaterThan(1000);
    // A lone surrogate would not survive UTF-8 (Temporal's payloads) unchanged.
    expect(Buffer.from(recorded.stdout).toString()).toBe(recorded.stdout);
  });

  it('keeps about the newest 1000 calls of a sandbox, counting them every 100 calls', async () => {
    for (let call = 0; call < 1250; call++) await journal.once('s1', `call-${call}`, async () => result(String(call)));
    const kept = (await readdir(join(dir, 's1'))).length;
    expect(kept).toBeGreaterThanOrEqual(1000);
    expect(kept).toBeLessThan(1100);
    // The newest answer from the record; the oldest were pruned and run again.
    expect(await journal.once('s1', 'call-1249', async () => result('again'))).toMatchObject({ stdout: '1249' });
    expect(await journal.once('s1', 'call-0', async () => result('again'))).toMatchObject({ stdout: 'again' });
  });

  it('joins a resent call still running instead of running it again', async () => {
    let runs = 0;
    let release!: () => void;
    const command = () => {
      runs++;
      return new Promise<ExecResult>((resolve) => (release = () => resolve(result('once'))));
    };
    const first = journal.once('s1', 'joined', command);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const resent = journal.once('s1', 'joined', command);
    release();
    expect(await first).toMatchObject({ stdout: 'once' });
    expect(await resent).toMatchObject({ stdout: 'once' });
    expect(runs).toBe(1);
  });

  it('lets a caller whose run closed stop waiting while the command runs on; a cancelled one stops it', async () => {
    let stopped: unknown;
    let release!: () => void;
    const command = (signal: AbortSignal) =>
      new Promise<ExecResult>((resolve) => {
        release = () => resolve(result('finished'));
        signal.addEventListener('abort', () => {
          stopped = signal.reason;
          resolve(result('killed'));
        });
      });
    const closed = new AbortController();
    const orphan = journal.once('s1', 'long', command, { signal: closed.signal, orphaned: () => true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    closed.abort(new Error('NOT_FOUND'));
    await expect(orphan).rejects.toThrow('NOT_FOUND');
    expect(stopped).toBeUndefined();

    const cancel = new AbortController();
    const resent = journal.once('s1', 'long', command, { signal: cancel.signal, orphaned: () => false });
    cancel.abort(new Error('CANCELLED'));
    expect(await resent).toMatchObject({ stdout: 'killed' });
    expect(String(stopped)).toContain('CANCELLED');
    release();
  });
});
