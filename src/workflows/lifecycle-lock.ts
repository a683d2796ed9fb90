import { condition } from '@temporalio/workflow';

/**
 * Serialises a session's operations inside its workflow: tool calls share the lock, lifecycle
 * operations (rollback, snapshot, pause, destroy, …) hold it alone. A waiting lifecycle operation
 * bars new tool calls, so a rollback waits only for the tools already in flight.
 */
export class LifecycleLock {
  private shared = 0;
  private exclusive = false;
  private exclusiveWaiting = 0;

  async runShared<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !this.exclusive && this.exclusiveWaiting === 0);
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
    }
  }

  async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.exclusiveWaiting++;
    await condition(() => !this.exclusive && this.shared === 0);
    this.exclusiveWaiting--;
    this.exclusive = true;
    try {
      return await fn();
    } finally {
      this.exclusive = false;
    }
  }

  get idle(): boolean {
    return !this.exclusive && this.shared === 0 && this.exclusiveWaiting === 0;
  }
}
