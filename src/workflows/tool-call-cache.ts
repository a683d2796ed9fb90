import { serializedBytes, type ExecResult } from '../common/sandbox.js';
import type { CachedToolCall } from '../protocol/session-input.js';

/**
 * Recorded results of recent tool calls, so a repeated toolCallId returns the recorded result
 * instead of running again — across continue-as-new too, where Temporal's own update-id dedupe ends.
 */
export class ToolCallCache {
  private readonly entries = new Map<string, CachedToolCall>();

  constructor(
    private readonly maxEntries: number,
    carried: CachedToolCall[] = [],
  ) {
    for (const entry of carried) this.entries.set(entry.toolCallId, entry);
  }

  /** The recorded call; one whose output was dropped says so in its result (`outputExpired`). */
  get(toolCallId: string): CachedToolCall | undefined {
    const entry = this.entries.get(toolCallId);
    return entry?.outputDropped ? { ...entry, result: { ...entry.result, outputExpired: true } } : entry;
  }

  record(toolCallId: string, result: ExecResult): void {
    this.entries.delete(toolCallId);
    this.entries.set(toolCallId, { toolCallId, result });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /**
   * What to carry into the next run: every id (oldest first), with output kept for the newest
   * entries until `outputBudgetBytes` is spent, counted as JSON (a control character takes 6 bytes
   * there). The continue-as-new input must stay well under the 2 MB payload limit.
   */
  carry(outputBudgetBytes: number): CachedToolCall[] {
    let budget = outputBudgetBytes;
    const newestFirst = [...this.entries.values()].reverse().map((entry) => {
      const size = serializedBytes(entry.result.stdout) + serializedBytes(entry.result.stderr);
      if (!entry.outputDropped && size <= budget) {
        budget -= size;
        return entry;
      }
      return { toolCallId: entry.toolCallId, result: { ...entry.result, stdout: '', stderr: '' }, outputDropped: true };
    });
    return newestFirst.reverse();
  }

  get size(): number {
    return this.entries.size;
  }
}
