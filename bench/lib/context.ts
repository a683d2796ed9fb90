import { fmt, type Recorder, type Summary } from './stats.js';
import type { Options } from './options.js';
import type { RawSandboxes } from './raw.js';
import type { BenchStack, Cleanup } from './stack.js';

/** What every phase reads and appends to. */
export interface Context {
  opts: Options;
  tag: string;
  tmp: string;
  stack: BenchStack;
  raw: RawSandboxes;
  rec: Recorder;
  rows: Row[];
  notes: string[];
  /** Sessions made and not yet destroyed (cleanup destroys what a failed phase left). */
  live: Set<string>;
  breakdown: Recorder;
  cleanup: Cleanup;
  /** Set on Ctrl-C: phases stop starting new work. */
  interrupted: () => boolean;
}

export interface Target {
  text: string;
  status: 'met' | 'missed' | 'n/a';
  detail: string;
}

/** A target met when `value` is at most `limit`: "met (<shown>)", or "missed by <excess> <unit>". */
export function atMost(text: string, value: number, limit: number, options: { unit?: string; shown?: string } = {}): Target {
  const unit = options.unit ?? 'ms';
  return value <= limit
    ? { text, status: 'met', detail: `met (${options.shown ?? `${fmt(value)} ${unit}`})` }
    : { text, status: 'missed', detail: `missed by ${fmt(value - limit)} ${unit}` };
}

export interface Row {
  section: string;
  metric: string;
  orch?: Summary;
  raw?: Summary;
  /** Temporal's own cost of the operation's shape (the floor phase); overhead over floor = p50 − raw p50 − floor p50. */
  floor?: Summary;
  /** A single number (throughput, RSS) instead of a latency distribution. */
  value?: { amount: number; unit: string };
  note?: string;
  target?: Target;
}
