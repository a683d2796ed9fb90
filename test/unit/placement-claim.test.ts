import { MockActivityEnvironment } from '@temporalio/testing';
import { createPlacementActivities } from '../../src/activities/control/placement.js';
import { Resources } from '../../src/common/sandbox.js';

/** The session workflow's first placement step, a local activity that runs inside its first task. */
describe('the warm claim of a control worker without a fleet', () => {
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'sbx-session-s1', runId: 'r1' } });
  const ask = { sessionId: 's1', template: 'busybox', resources: Resources.parse({}) };

  it('answers with the default host, so a cold create needs no placement activity after it', async () => {
    const acts = createPlacementActivities({ defaultHostId: 'h1' });
    expect(await env.run(acts.claimWarmSandbox, ask)).toEqual({ hostId: 'h1' });
  });

  it('leaves a create that names its host, or a worker with no default host, to the placement activity', async () => {
    expect(await env.run(createPlacementActivities({ defaultHostId: 'h1' }).claimWarmSandbox, { ...ask, hostId: 'h2' })).toBeNull();
    expect(await env.run(createPlacementActivities({}).claimWarmSandbox, ask)).toBeNull();
  });
});
