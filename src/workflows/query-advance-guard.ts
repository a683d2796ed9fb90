import type { ActivateInput, Next, WorkflowInterceptorsFactory, WorkflowInternalsInterceptor } from '@temporalio/workflow';
import { QUERY_AHEAD_OF_HISTORY } from '../protocol/messages.js';

/**
 * Refuses to run a workflow past its recorded history for a query.
 *
 * sdk-core 1.24 answers a legacy query on a worker that does not have the run cached by replaying
 * the query's history, which may end with events no workflow task has taken yet (an activity result
 * that arrived while a crashed worker's sticky task waited to time out). It runs those events as a
 * live activation, answers the query from the state they make, and keeps the run cached with their
 * commands unsent. An update that comes with the next real task then runs in an activation of its
 * own, after those commands, while a replay of the recorded history runs both in one activation,
 * update first: `TMPRL1100 Update machine does not handle this event`, and every later task of the
 * workflow fails. Such an activation is told apart by its clock: it is live, follows a replayed one,
 * and no workflow task started in between (same workflow time). Failing it makes core drop the run
 * and fail only the query; the next real task is then taken from history, as a replay takes it.
 */
class QueryAdvanceGuard implements WorkflowInternalsInterceptor {
  private last?: { replaying: boolean; time: string };

  activate(input: ActivateInput, next: Next<WorkflowInternalsInterceptor, 'activate'>): void {
    const { activation, batchIndex } = input;
    const jobs = activation.jobs ?? [];
    if (batchIndex === 0 && !jobs.every((job) => job.queryWorkflow) && !jobs.some((job) => job.removeFromCache)) {
      const time = `${activation.timestamp?.seconds ?? ''}.${activation.timestamp?.nanos ?? ''}`;
      const replaying = activation.isReplaying ?? false;
      if (!replaying && this.last?.replaying && this.last.time === time) {
        throw new Error(`this workflow has events no workflow task has taken yet: ${QUERY_AHEAD_OF_HISTORY}`);
      }
      this.last = { replaying, time };
    }
    next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ internals: [new QueryAdvanceGuard()] });
