import { condition } from '@temporalio/workflow';
import { sessionPatched } from './session/patches.js';

/**
 * Serialises a session's operations inside its workflow: tool calls share the lock, lifecycle
 * operations (rollback, snapshot, pause, destroy, …) hold it alone. A waiting lifecycle operation
 * bars new tool calls, so a rollback waits only for the tools already in flight.
 *
 * Waiters whose conditions come true together are all woken before any of them runs, so each
 * checks again once it runs: without that, two turnCompletes both took the lock and both took
 * turn 2, and two rollbacks ran on one sandbox at once.
 */
export class LifecycleLock {
  private shared = 0;
  private exclusive = false;
  private exclusiveWaiting = 0;

  async runShared<T>(fn: () => Promise<T>): Promise<T> {
    const free = () => !this.exclusive && this.exclusiveWaiting === 0;
    do await condition(free);
    while (!free() && sessionPatched('lifecycle-lock-recheck'));
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
    }
  }

  async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    const free = () => !this.exclusive && this.shared === 0;
    this.exclusiveWaiting++;
    do await condition(free);
    while (!free() && sessionPatched('lifecycle-lock-recheck'));
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
