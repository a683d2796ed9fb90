import { appendFileSync } from 'node:fs';

/** What a chaos run counts, and the recovery time after each fault. */
export type FaultKind = 'host-kill' | 'control-kill' | 'server-term' | 'server-kill';

export interface Fault {
  kind: FaultKind;
  /** The host a host fault hit. */
  hostId?: string;
  at: number;
  /** When the process was running again. */
  upAt?: number;
  /** The first successful exec after it (on the host it hit, for a host fault). */
  recoveredAt?: number;
}

export interface Divergence {
  sessionId: string;
  step: number;
  symptom: string;
}

export class ChaosReport {
  readonly started = Date.now();
  readonly faults: Fault[] = [];
  readonly divergences: Divergence[] = [];
  readonly lost: Divergence[] = [];
  readonly steps: string[] = [];
  runTwice = 0;
  resent = 0;
  outcomeUnknown = 0;
  uncertain = 0;
  stepsDone = 0;
  sessionsMade = 0;
  continuedAsNew = 0;
  orphanDatasets: string[] = [];
  orphanContainers: string[] = [];
  stuckWorkflows: string[] = [];
  leftRunning: string[] = [];
  crashedProcesses: string[] = [];

  /** Where each step is appended as it happens (to follow a long run), when set. */
  constructor(private readonly stepsFile?: string) {}

  log(line: string): void {
    const entry = `${((Date.now() - this.started) / 1000).toFixed(1).padStart(7)}s ${line}`;
    this.steps.push(entry);
    if (this.stepsFile) appendFileSync(this.stepsFile, `${entry}\n`);
  }

  /** Since when every faulted process has been running again (now, while one is down). */
  quietSince(): number {
    let since = this.started;
    for (const fault of this.faults) since = Math.max(since, fault.upAt ?? Date.now());
    return since;
  }

  /** An exec succeeded on `hostId`: the faults it was the first success after are recovered. */
  execSucceeded(hostId: string, at = Date.now()): void {
    for (const fault of this.faults) {
      if (fault.recoveredAt !== undefined || fault.upAt === undefined || at < fault.upAt) continue;
      if (fault.hostId && fault.hostId !== hostId) continue;
      fault.recoveredAt = at;
    }
  }

  /** From the fault to the first successful exec after it, or (`fromUp`) from the restarted process being ready. */
  recoveries(kind?: FaultKind, fromUp = false): number[] {
    return this.faults
      .filter((f) => (kind === undefined || f.kind === kind) && f.recoveredAt !== undefined)
      .map((f) => f.recoveredAt! - (fromUp ? f.upAt! : f.at))
      .sort((a, b) => a - b);
  }

  get unrecovered(): number {
    return this.faults.filter((f) => f.recoveredAt === undefined).length;
  }

  get passed(): boolean {
    return (
      this.lost.length === 0 &&
      this.divergences.length === 0 &&
      this.runTwice === 0 &&
      this.orphanDatasets.length === 0 &&
      this.orphanContainers.length === 0 &&
      this.stuckWorkflows.length === 0 &&
      this.leftRunning.length === 0 &&
      this.crashedProcesses.length === 0
    );
  }

  summary(seed: number): string {
    const ms = (values: number[]) =>
      values.length === 0
        ? 'n/a'
        : `p50 ${(values[Math.floor((values.length - 1) / 2)]! / 1000).toFixed(1)} s, max ${(values[values.length - 1]! / 1000).toFixed(1)} s`;
    const count = (kind: FaultKind) => this.faults.filter((f) => f.kind === kind).length;
    // On the count's own line too: a CI log cut short keeps the top of the summary.
    const named = (names: string[]) => (names.length ? ` (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''})` : '');
    const lines = [
      `chaos seed ${seed}: ${this.passed ? 'PASSED' : 'FAILED'} in ${((Date.now() - this.started) / 1000).toFixed(0)} s`,
      `  steps run                  ${this.stepsDone} (${this.sessionsMade} sessions made, incl. forks and re-creates)`,
      `  faults injected            ${this.faults.length} (host kill -9 ${count('host-kill')}, control kill -9 ${count('control-kill')}, server SIGTERM ${count('server-term')}, server SIGKILL ${count('server-kill')})`,
      `  recovery (fault to next successful exec) ${ms(this.recoveries())}${this.unrecovered ? ` (${this.unrecovered} with no exec after)` : ''}`,
      ...(['host-kill', 'control-kill', 'server-term', 'server-kill'] as const).map(
        (kind) => `    ${kind.padEnd(24)} ${ms(this.recoveries(kind))}; after the process was back ${ms(this.recoveries(kind, true))}`,
      ),
      `  resent tool calls          ${this.resent} (outcome unknown ${this.outcomeUnknown}; uncertain answers retried ${this.uncertain})`,
      `  sessions lost              ${this.lost.length}`,
      `  model divergences          ${this.divergences.length}`,
      `  tool calls run twice       ${this.runTwice}`,
      `  orphan datasets            ${this.orphanDatasets.length}${named(this.orphanDatasets)}`,
      `  orphan containers          ${this.orphanContainers.length}${named(this.orphanContainers)}`,
      `  workflows stuck on a failing task ${this.stuckWorkflows.length}`,
      `  sessions left running      ${this.leftRunning.length}`,
      `  workers that died unasked  ${this.crashedProcesses.length}`,
    ];
    for (const d of this.lost) lines.push(`  LOST ${d.sessionId} at step ${d.step}: ${d.symptom}`);
    for (const d of this.divergences) lines.push(`  DIVERGED ${d.sessionId} at step ${d.step}: ${d.symptom}`);
    for (const name of [
      ...this.orphanDatasets,
      ...this.orphanContainers,
      ...this.stuckWorkflows,
      ...this.leftRunning,
      ...this.crashedProcesses,
    ]) {
      lines.push(`  LEFT ${name}`);
    }
    return lines.join('\n');
  }
}
