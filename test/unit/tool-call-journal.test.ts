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
});
