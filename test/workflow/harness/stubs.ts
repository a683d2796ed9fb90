import { Context } from '@temporalio/activity';
import type { HostActivities } from '../../../src/activities/host/activities.js';
import * as inputs from '../../../src/activities/host/inputs.js';
import type { FleetActivities } from '../../../src/activities/control/fleet-activities.js';
import type { PlacementActivities } from '../../../src/activities/control/placement.js';
import { SbxErrorType, sbxFailure } from '../../../src/common/errors.js';
import { parseInput } from '../../../src/common/validate.js';

/**
 * Stub activities for workflow tests, built from the interfaces the real workers register: a stub
 * that no longer matches its interface fails to compile. Every call is recorded (start, then end or
 * failure) so tests can assert what reached a host and in what order.
 */

type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

export interface Call {
  activity: string;
  /** The host's id for host activities (from the task queue), 'control' for control ones. */
  where: string;
  phase: 'start' | 'end' | 'fail';
  input: unknown;
}

export class Recorder {
  readonly calls: Call[] = [];

  /** Calls that started, in order, optionally only those naming `sandboxId`. */
  started(sandboxId?: string): string[] {
    return this.calls
      .filter((c) => c.phase === 'start' && (sandboxId === undefined || sandboxOf(c.input) === sandboxId))
      .map((c) => c.activity);
  }

  /** The recorded phases of `sandboxId`'s calls, as 'activity:phase'. */
  timeline(sandboxId: string): string[] {
    return this.calls.filter((c) => sandboxOf(c.input) === sandboxId).map((c) => `${c.activity}:${c.phase}`);
  }

  /** The input of the first call of `activity` naming `sandboxId`. */
  inputOf(activity: string, sandboxId: string): unknown {
    return this.calls.find((c) => c.phase === 'start' && c.activity === activity && sandboxOf(c.input) === sandboxId)?.input;
  }

  count(activity: string, sandboxId?: string): number {
    return this.started(sandboxId).filter((a) => a === activity).length;
  }
}

function sandboxOf(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const record = input as Record<string, unknown>;
  return (record.sandboxId ?? record.sessionId ?? record.instanceId ?? record.hostId) as string | undefined;
}

/** Wraps each activity so its calls are recorded; `overrides` (read at each call) replace defaults. */
function recorded<T extends Activities>(recorder: Recorder, where: () => string, defaults: T, overrides: () => Partial<T>): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const name of Object.keys(defaults)) {
    wrapped[name] = async (...args: never[]) => {
      const call = { activity: name, where: where(), input: args[0] };
      recorder.calls.push({ ...call, phase: 'start' });
      const fn = (overrides()[name] ?? defaults[name]) as (...a: never[]) => Promise<unknown>;
      try {
        const result = await fn(...args);
        recorder.calls.push({ ...call, phase: 'end' });
        return result;
      } catch (err) {
        recorder.calls.push({ ...call, phase: 'fail' });
        throw err;
      }
    };
  }
  return wrapped as T;
}

/** A latch a test opens to let a stubbed activity finish. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Waits for the gate while heartbeating, as real host activities do, so a cancellation (a destroy
 * stopping tool calls) reaches the activity; a cancelled wait throws the cancellation.
 */
export async function heldBy(g: Gate): Promise<void> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    await Promise.race([g.promise, ctx.cancelled]);
  } finally {
    clearInterval(beat);
  }
}

export const hostOfQueue = (taskQueue: string) => taskQueue.replace(/^sbx-host-/, '').replace(/\.tools$/, '');

/** A host whose sandboxes always work: every answer is what a healthy host would give. */
export function stubHostActivities(recorder: Recorder, overrides: () => Partial<HostActivities> = () => ({})): HostActivities {
  const hostId = () => hostOfQueue(Context.current().info.taskQueue);
  let execs = 0;
  const defaults: HostActivities = {
    async createSandbox(raw) {
      parseInput(inputs.CreateSandboxInput, raw, 'createSandbox input');
      return { hostId: hostId() };
    },
    async startSandbox(raw) {
      parseInput(inputs.StartSandboxInput, raw, 'startSandbox input');
    },
    async stopSandbox() {},
    async destroySandbox() {},
    async execCommand(raw) {
      const { request } = parseInput(inputs.ExecInput, raw, 'exec request');
      // Each run answers differently: a repeated toolCallId answered from the record is told apart from a re-run.
      execs++;
      return { exitCode: 0, stdout: `${request.toolCallId} run ${execs}`, stderr: '', truncated: false, status: 'exited', durationMs: 1 };
    },
    async writeFiles() {},
    async readOutput(raw) {
      return { stream: raw.request.stream ?? 'stdout', data: '', encoding: 'utf8', offset: 0, totalBytes: 0 };
    },
    async readFile() {
      return { content: '', encoding: 'utf8', size: 0, offset: 0, truncated: false };
    },
    async listDir() {
      return { entries: [] };
    },
    async statPath() {
      return { type: 'file', size: 0, mode: 0o644, mtimeMs: 0 };
    },
    async deletePath() {},
    async snapshotSandbox(raw) {
      const { name } = parseInput(inputs.SnapshotInput, raw, 'snapshot request');
      return { name, createTxg: 1, usedBytes: 0, referencedBytes: 0 };
    },
    async rollbackSandbox() {},
    async destroySnapshots() {},
    async pauseSandbox() {},
    async resumeSandbox() {},
    async launchProcess(raw) {
      return { processId: raw.request.processId, status: 'running', pid: 1, outputTail: '' };
    },
    async processStatus(raw) {
      return { processId: raw.processId, status: 'running', pid: 1, outputTail: '' };
    },
    async killProcess(raw) {
      return { processId: raw.processId, status: 'exited', pid: 1, exitCode: 137, outputTail: '' };
    },
    async sandboxUsedBytes() {
      return 0;
    },
    async transferSandbox() {},
    async hostHealth() {
      return { status: 'healthy', state: 'ONLINE', capacity: 0, sizeBytes: 1, freeBytes: 1, hostId: hostId(), sessions: 0 };
    },
  };
  return recorded(recorder, hostId, defaults, overrides);
}

/**
 * Placement as a control worker without a fleet does it: the host the request names, else `defaultHostId`.
 * Warm claims find nothing unless overridden.
 */
export function stubPlacementActivities(
  recorder: Recorder,
  defaultHostId: string,
  overrides: () => Partial<PlacementActivities> = () => ({}),
): PlacementActivities {
  const defaults: PlacementActivities = {
    async placeSession(raw) {
      return { hostId: raw.hostId ?? defaultHostId };
    },
    async claimWarmSandbox() {
      return null;
    },
    async reserveSlot(raw) {
      return { hostId: raw.hostId };
    },
    async placeWarmSandbox() {
      return { hostId: defaultHostId };
    },
  };
  return recorded(recorder, () => 'control', defaults, overrides);
}

/** A provisioner that launches instantly (the host then heartbeats only when a test says so). */
export function stubFleetActivities(recorder: Recorder, overrides: () => Partial<FleetActivities> = () => ({})): FleetActivities {
  const defaults: FleetActivities = {
    async launchHost(raw) {
      return { instanceId: `i-${raw.hostId}`, hostId: raw.hostId, state: 'running' };
    },
    async terminateHost() {},
  };
  return recorded(recorder, () => 'control', defaults, overrides);
}

/** The failure a host activity raises for `type`, as the real ones do (non-retryable unless Busy). */
export const hostRefuses = (type: SbxErrorType, message: string) => async (): Promise<never> => {
  throw sbxFailure(type, message);
};
