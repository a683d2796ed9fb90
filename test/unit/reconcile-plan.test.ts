import { WARM_PREFIX } from '../../src/common/names.js';
import { planReconcile, sandboxOwner } from '../../src/workers/reconcile-plan.js';

describe('planReconcile', () => {
  const HOUR = 3600_000;
  const base = { containers: [] as string[], quarantined: new Map<string, number>(), now: 10 * HOUR, graceMs: 24 * HOUR };

  it('keeps sessions whose workflow runs, removes closed ones and stray containers', () => {
    const claims = new Map([
      ['s1', 'claimed'],
      ['s2', 'closed'],
      ['s3', 'closed'],
    ] as const);
    const plan = planReconcile({ ...base, datasets: ['s1', 's2', 's3'], containers: ['s1', 's3', 'ghost'], claims });
    expect(plan).toEqual({
      keep: ['s1'],
      release: [],
      quarantine: [],
      held: [],
      removeSessions: ['s2', 's3'],
      removeContainers: ['ghost'],
    });
  });

  it('never deletes a session nobody knows at first sight: it is quarantined', () => {
    // What a host sees for every session when it starts against the wrong namespace or a reset server.
    const claims = new Map([
      ['a', 'unknown'],
      ['b', 'unknown'],
    ] as const);
    const plan = planReconcile({ ...base, datasets: ['a', 'b'], containers: ['a', 'b'], claims });
    expect(plan.quarantine).toEqual(['a', 'b']);
    expect(plan.removeSessions).toEqual([]);
    expect(plan.removeContainers).toEqual([]);
  });

  it('holds a quarantined session through the grace period and deletes it after', () => {
    const claims = new Map([['a', 'unknown']] as const);
    const quarantined = new Map([['a', 9 * HOUR]]);
    const within = planReconcile({ ...base, datasets: ['a'], claims, quarantined, now: 9 * HOUR + 24 * HOUR - 1 });
    expect(within).toMatchObject({ quarantine: [], removeSessions: [], held: [{ sandboxId: 'a', deleteAfter: 33 * HOUR }] });
    const after = planReconcile({ ...base, datasets: ['a'], claims, quarantined, now: 33 * HOUR });
    expect(after).toMatchObject({ removeSessions: ['a'], held: [] });
  });

  it('releases a quarantined session whose workflow is found again', () => {
    const plan = planReconcile({
      ...base,
      datasets: ['a'],
      claims: new Map([['a', 'claimed']] as const),
      quarantined: new Map([['a', 0]]),
    });
    expect(plan).toMatchObject({ keep: ['a'], release: ['a'], removeSessions: [] });
  });

  it('leaves a dataset it has no answer for alone', () => {
    expect(planReconcile({ ...base, datasets: ['a'], claims: new Map() })).toMatchObject({
      keep: ['a'],
      removeSessions: [],
      quarantine: [],
    });
  });
});

describe('sandboxOwner', () => {
  const pools = [
    { sandboxId: 'warm-ready', state: 'ready' },
    { sandboxId: 'warm-warming', state: 'warming' },
    { sandboxId: 'warm-claimed', state: 'claimed', sessionId: 'sess-7' },
  ];

  it('maps a session id to its own session, whatever the pools say', () => {
    expect(sandboxOwner('session-1', WARM_PREFIX, pools)).toEqual({ kind: 'session', sessionId: 'session-1' });
    expect(sandboxOwner('session-1', WARM_PREFIX, undefined)).toEqual({ kind: 'session', sessionId: 'session-1' });
    expect(sandboxOwner('warmup', WARM_PREFIX, pools)).toEqual({ kind: 'session', sessionId: 'warmup' });
  });

  it('keeps warm sandboxes when the pools could not be asked', () => {
    expect(sandboxOwner('warm-ready', WARM_PREFIX, undefined)).toEqual({ kind: 'keep' });
    expect(sandboxOwner('warm-anything', WARM_PREFIX, undefined)).toEqual({ kind: 'keep' });
  });

  it('reports a warm sandbox no pool knows as unknown', () => {
    expect(sandboxOwner('warm-ghost', WARM_PREFIX, pools)).toEqual({ kind: 'unknown' });
    expect(sandboxOwner('warm-ghost', WARM_PREFIX, [])).toEqual({ kind: 'unknown' });
  });

  it('gives ready and warming sandboxes to their pool', () => {
    expect(sandboxOwner('warm-ready', WARM_PREFIX, pools)).toEqual({ kind: 'pool' });
    expect(sandboxOwner('warm-warming', WARM_PREFIX, pools)).toEqual({ kind: 'pool' });
  });

  it('gives a claimed sandbox to the session that claimed it', () => {
    expect(sandboxOwner('warm-claimed', WARM_PREFIX, pools)).toEqual({ kind: 'session', sessionId: 'sess-7' });
  });
});
