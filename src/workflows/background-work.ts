import { log } from '@temporalio/workflow';

/**
 * Work a long-running workflow starts without awaiting (launches, signals to other workflows,
 * sandbox removals). Failures are logged; `idle` lets continue-as-new wait until all of it ended, and
 * `onSettled` wakes the workflow's loop when a piece ends.
 */
export class BackgroundWork {
  private running = 0;

  constructor(
    private readonly onSettled: () => void,
    private readonly logContext: Record<string, unknown> = {},
  ) {}

  get idle(): boolean {
    return this.running === 0;
  }

  run(what: string, fn: () => Promise<void>): void {
    this.running++;
    void fn()
      .catch((err) => log.warn(`${what} failed`, { ...this.logContext, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        this.running--;
        this.onSettled();
      });
  }
}
