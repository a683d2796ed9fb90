import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { SandboxOwners } from '../../src/activities/host/ownership.js';

describe('SandboxOwners', () => {
  let dir: string;
  let existing: Set<string>;
  let owners: SandboxOwners;
  /** Run → the first run of its chain; a run not listed starts its own chain. */
  let continued: Map<string, string>;
  /** Runs that have ended; every other run is running. */
  let closed: Set<string>;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbx-owners-'));
    existing = new Set();
    continued = new Map();
    closed = new Set();
    owners = new SandboxOwners(
      join(dir, 'owners'),
      async (id) => existing.has(id),
      async (_workflowId, runId) => ({ chain: continued.get(runId) ?? runId, running: !closed.has(runId) }),
    );
    await owners.init();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `fn` as an activity called by run `runId` of workflow `workflowId`. */
  const as = <T>(workflowId: string, fn: () => Promise<T>, runId = 'run-1') =>
    new MockActivityEnvironment({ workflowExecution: { workflowId, runId } }).run(fn);
  const refusal = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (err) {
      if (err instanceof ApplicationFailure) return err.type;
      throw err;
    }
    return 'allowed';
  };
  const template = { kind: 'template', template: 'busybox' } as const;

  it('gives a new session sandbox to its own session only', async () => {
    expect(await refusal(as('sbx-session-mallory', () => owners.authorizeCreate('alice', template)))).toBe('NotOwner');
    await as('sbx-session-alice', () => owners.authorizeCreate('alice', template));
    existing.add('alice');
    await as('sbx-session-alice', () => owners.authorizeCreate('alice', template));
    await as('sbx-session-alice', () => owners.authorize('alice'));
    expect(await refusal(as('sbx-session-mallory', () => owners.authorize('alice')))).toBe('NotOwner');
    expect(await refusal(as('sbx-warmpool-f-busybox', () => owners.authorize('alice')))).toBe('NotOwner');
    expect(await owners.ownerOf('alice')).toBe('sbx-session-alice');
  });

  it("lets only the source's owner fork it, and gives the copy to the new session", async () => {
    await as('sbx-session-alice', () => owners.authorizeCreate('alice', template));
    existing.add('alice');
    const fromAlice = { kind: 'snapshot', sandboxId: 'alice', snapshot: 'turn-000001' } as const;
    expect(await refusal(as('sbx-session-copy', () => owners.authorizeCreate('copy', fromAlice)))).toBe('NotOwner');
    expect(await refusal(as('sbx-session-mallory', () => owners.authorizeCreate('copy', fromAlice)))).toBe('NotOwner');
    await as('sbx-session-alice', () => owners.authorizeCreate('copy', fromAlice));
    expect(await owners.ownerOf('copy')).toBe('sbx-session-copy');
    // Once copied, the fork asks for its copy again without reading the source.
    existing.add('copy');
    await as('sbx-session-copy', () => owners.authorizeCreate('copy', fromAlice));
    await as('sbx-session-copy', () => owners.authorize('copy'));
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('copy')))).toBe('NotOwner');
  });

  it("moves a warm sandbox from its pool to the claiming session, at its owner's word only", async () => {
    const pool = 'sbx-warmpool-f-busybox';
    await as(pool, () => owners.authorizeCreate('warm-abc', template));
    existing.add('warm-abc');
    expect(await refusal(as('sbx-session-mallory', () => owners.transfer('warm-abc', 'mallory')))).toBe('NotOwner');
    await as(pool, () => owners.transfer('warm-abc', 'alice'));
    await as(pool, () => owners.transfer('warm-abc', 'alice'));
    await as('sbx-session-alice', () => owners.authorize('warm-abc'));
    expect(await refusal(as(pool, () => owners.authorize('warm-abc')))).toBe('NotOwner');
    expect(await refusal(as(pool, () => owners.transfer('warm-abc', 'mallory')))).toBe('NotOwner');
  });

  it("holds a claiming session's first call until its pool's hand-over lands, and gives it to no one else", async () => {
    const pool = 'sbx-warmpool-f-busybox';
    await as(pool, () => owners.authorizeCreate('warm-abc', template));
    existing.add('warm-abc');
    // The pool answers the claim before it hands the sandbox over: alice's first call may come first.
    const first = as('sbx-session-alice', () => owners.authorize('warm-abc'));
    const mallory = refusal(as('sbx-session-mallory', () => owners.authorize('warm-abc')));
    await as(pool, () => owners.transfer('warm-abc', 'alice'));
    await first;
    expect(await mallory).toBe('NotOwner');
    expect(await refusal(as('sbx-session-mallory', () => owners.authorize('warm-abc')))).toBe('NotOwner');
  });

  it("asks Temporal for the claiming run's chain at the hand-over, not at the session's first call", async () => {
    const asked: string[] = [];
    owners = new SandboxOwners(
      join(dir, 'owners'),
      async (id) => existing.has(id),
      async (_workflowId, runId) => {
        asked.push(runId);
        return { chain: runId, running: true };
      },
    );
    const pool = 'sbx-warmpool-f-busybox';
    await as(pool, () => owners.authorizeCreate('warm-abc', template), 'run-p');
    await as(pool, () => owners.transfer('warm-abc', 'alice', 'run-a'), 'run-p');
    expect(asked).toEqual(['run-p', 'run-a']);
    await as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-a');
    expect(asked).toEqual(['run-p', 'run-a']);
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-9'))).toBe('NotOwner');
  });

  it("binds a claimed sandbox to the claiming run's chain at the hand-over: the session's first call writes nothing", async () => {
    const pool = 'sbx-warmpool-f-busybox';
    const record = () => JSON.parse(readFileSync(join(dir, 'owners', 'warm-abc.json'), 'utf8')) as Record<string, unknown>;
    await as(pool, () => owners.authorizeCreate('warm-abc', template), 'run-p');
    continued.set('run-a', 'run-0');
    await as(pool, () => owners.transfer('warm-abc', 'alice', 'run-a'), 'run-p');
    const handed = record();
    expect(handed).toMatchObject({ workflowId: 'sbx-session-alice', chain: 'run-0' });
    await as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-a');
    expect(record()).toEqual(handed);
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-9'))).toBe('NotOwner');
  });

  it("binds a claimed sandbox to no chain when the claim names a run that has ended: the session's live run takes it", async () => {
    // The run id in a claim is anyone's word: a forged claim names an ended run of the session's id
    // (a create that failed, which its caller then retried under the same id).
    const pool = 'sbx-warmpool-f-busybox';
    await as(pool, () => owners.authorizeCreate('warm-abc', template), 'run-p');
    closed.add('run-old');
    await as(pool, () => owners.transfer('warm-abc', 'alice', 'run-old'), 'run-p');
    await as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-new');
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-old'))).toBe('NotOwner');
  });

  it("follows its owner across continue-as-new, and refuses a new workflow started under the owner's id", async () => {
    await as('sbx-session-alice', () => owners.authorizeCreate('alice', template));
    existing.add('alice');
    continued.set('run-2', 'run-1');
    await as('sbx-session-alice', () => owners.authorize('alice'), 'run-2');
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('alice'), 'run-9'))).toBe('NotOwner');
    expect(await refusal(as('sbx-session-alice', () => owners.authorizeCreate('alice', template), 'run-9'))).toBe('NotOwner');
  });

  it("binds a handed-over sandbox to the chain of the new owner's first call", async () => {
    await as('sbx-warmpool-f-busybox', () => owners.authorizeCreate('warm-abc', template), 'run-p');
    await as('sbx-warmpool-f-busybox', () => owners.transfer('warm-abc', 'alice'), 'run-p');
    await as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-1');
    expect(await refusal(as('sbx-session-alice', () => owners.authorize('warm-abc'), 'run-9'))).toBe('NotOwner');
  });

  it('lets the session named for a sandbox without a record adopt it, and no one else', async () => {
    existing.add('old');
    expect(await refusal(as('sbx-session-mallory', () => owners.authorize('old')))).toBe('NotOwner');
    await as('sbx-session-old', () => owners.authorize('old'));
    expect(await owners.ownerOf('old')).toBe('sbx-session-old');
    existing.add('warm-old');
    expect(await refusal(as('sbx-warmpool-f-busybox', () => owners.authorize('warm-old')))).toBe('NotOwner');
  });

  it('records at host start the owners its pools report, and drops records of sandboxes gone', async () => {
    await as('sbx-session-gone', () => owners.authorizeCreate('gone', template));
    await as('sbx-session-kept', () => owners.authorizeCreate('kept', template));
    await owners.reconcile(
      ['kept', 'warm-old'],
      new Map([
        ['warm-old', 'sbx-session-alice'],
        ['kept', 'sbx-session-mallory'],
      ]),
    );
    expect(await owners.ownerOf('gone')).toBeUndefined();
    expect(await owners.ownerOf('kept')).toBe('sbx-session-kept');
    expect(await owners.ownerOf('warm-old')).toBe('sbx-session-alice');
    expect(readdirSync(join(dir, 'owners')).sort()).toEqual(['kept.json', 'warm-old.json']);
  });
});
