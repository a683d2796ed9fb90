import { planReconcile } from '../../src/workers/reconcile-plan.js';

describe('planReconcile', () => {
  it('keeps sessions whose workflow runs, removes the rest and stray containers', () => {
    const plan = planReconcile(['s1', 's2', 's3'], ['s1', 's3', 'ghost'], new Set(['s1']));
    expect(plan).toEqual({ keep: ['s1'], removeSessions: ['s2', 's3'], removeContainers: ['ghost'] });
  });
});
