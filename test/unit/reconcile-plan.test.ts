import { WARM_PREFIX } from '../../src/common/names.js';
import { planReconcile, sandboxOwner } from '../../src/workers/reconcile-plan.js';

describe('planReconcile', () => {
  it('keeps sessions whose workflow runs, removes the rest and stray containers', () => {
    const plan = planReconcile(['s1', 's2', 's3'], ['s1', 's3', 'ghost'], new Set(['s1']));
    expect(plan).toEqual({ keep: ['s1'], removeSessions: ['s2', 's3'], removeContainers: ['ghost'] });
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
