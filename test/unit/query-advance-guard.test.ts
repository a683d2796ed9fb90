import Long from 'long';
import type { coresdk } from '@temporalio/proto';
import type { WorkflowInternalsInterceptor } from '@temporalio/workflow';
import { interceptors } from '../../src/workflows/query-advance-guard.js';
import { QUERY_AHEAD_OF_HISTORY } from '../../src/protocol/messages.js';

type Job = coresdk.workflow_activation.IWorkflowActivationJob;

/** Feeds activations to a fresh guard; each returns whether it reached the workflow. */
function guard() {
  const guard = interceptors().internals![0] as Required<WorkflowInternalsInterceptor>;
  return (replaying: boolean, seconds: number, jobs: Job[] = [{ resolveActivity: { seq: 1 } }], batchIndex = 0) => {
    let ran = false;
    guard.activate(
      { activation: { isReplaying: replaying, timestamp: { seconds: Long.fromNumber(seconds), nanos: 0 }, jobs }, batchIndex },
      () => {
        ran = true;
      },
    );
    return ran;
  };
}

describe('the query guard', () => {
  it('refuses a live activation that follows a replayed one at the same workflow time', () => {
    const activate = guard();
    expect(activate(true, 10)).toBe(true);
    expect(() => activate(false, 10)).toThrow(QUERY_AHEAD_OF_HISTORY);
  });

  it('lets through the first live activation of a new workflow task, and live ones after it', () => {
    const activate = guard();
    expect(activate(true, 10)).toBe(true);
    expect(activate(false, 12)).toBe(true);
    // A local activity's result or an immediate cancellation: another activation of the same task.
    expect(activate(false, 12)).toBe(true);
    expect(activate(false, 15)).toBe(true);
  });

  it('ignores query-only and eviction activations, and later batches of one activation', () => {
    const activate = guard();
    expect(activate(true, 10)).toBe(true);
    expect(activate(false, 10, [{ queryWorkflow: { queryId: 'legacy_query', queryType: 'info' } }])).toBe(true);
    expect(activate(false, 10, [{ removeFromCache: {} }])).toBe(true);
    expect(activate(true, 10, [{ resolveActivity: { seq: 2 } }], 1)).toBe(true);
    expect(activate(false, 11)).toBe(true);
  });
});
