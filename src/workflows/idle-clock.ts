import { condition, sleep } from '@temporalio/workflow';

/**
 * Auto-pause's clock in the session workflow. A timer restarted at every tool call put two timer
 * rows per call in the history; this one keeps a single timer running and, when it rings early
 * (there was activity since), sets the next one for the rest of the period only.
 */
export class IdleClock {
  /** When the current idle period began; unset while the session is not active. */
  private since?: number;
  private ticking = false;
  private rang = false;

  /**
   * A ring this close to the period's end counts as its end: a timer for the last milliseconds
   * would be one more history row for nothing (the server fires timers up to a second late anyway).
   */
  private readonly slackMs: number;

  constructor(private readonly idleMs: number) {
    this.slackMs = Math.min(1000, idleMs / 10);
  }

  /** Activity now: the idle period starts again, without a new timer. */
  touch(): void {
    if (this.since !== undefined) this.since = Date.now();
  }

  /**
   * Waits until `wake` holds (true) or a whole period passed without activity (false). `active`:
   * the session is active with auto-pause on; otherwise no period runs and only `wake` ends the wait.
   */
  async wait(active: boolean, wake: () => boolean): Promise<boolean> {
    if (!active) {
      this.since = undefined;
      await condition(wake);
      return true;
    }
    this.since ??= Date.now();
    if (!this.ticking) {
      this.ticking = true;
      void sleep(Math.max(1, this.since + this.idleMs - Date.now())).then(() => {
        this.ticking = false;
        this.rang = true;
      });
    }
    await condition(() => wake() || this.rang);
    // What woke the loop is handled first; a ring left unread is read at the next wait.
    if (wake()) return true;
    this.rang = false;
    return Date.now() - this.since < this.idleMs - this.slackMs;
  }
}
