/** Percentiles over a list of samples (linear interpolation between closest ranks). */
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (sorted.length === 1) return sorted[0]!;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function summarize(samples: number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    min: sorted[0]!,
    max: sorted.at(-1)!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/** Collects named series of samples; warmup samples are recorded under `discard` and dropped. */
export class Recorder {
  readonly series = new Map<string, number[]>();

  add(name: string, ms: number, discard = false): void {
    if (discard) return;
    let list = this.series.get(name);
    if (!list) this.series.set(name, (list = []));
    list.push(ms);
  }

  /** Times `fn` and records its duration under `name`. */
  async time<T>(name: string, fn: () => Promise<T>, discard = false): Promise<T> {
    const start = performance.now();
    const result = await fn();
    this.add(name, performance.now() - start, discard);
    return result;
  }

  get(name: string): Summary | undefined {
    return summarize(this.series.get(name) ?? []);
  }
}

export function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  return value.toFixed(digits);
}
