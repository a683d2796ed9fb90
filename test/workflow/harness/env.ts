import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { FleetActivities } from '../../../src/activities/control/fleet-activities.js';
import type { HostActivities } from '../../../src/activities/host/activities.js';
import type { PlacementActivities } from '../../../src/activities/control/placement.js';
import { hostTaskQueue, hostToolsTaskQueue, sessionWorkflowId } from '../../../src/common/names.js';
import { temporalCliPath } from '../../../src/dev/paths.js';
import { createUpdate, infoQuery, type CreateSessionInput, type SessionInfo } from '../../../src/protocol/messages.js';
import { installQuietRuntime } from './server.js';
import { workflowTestServer } from './server-info.js';
import { Recorder, stubFleetActivities, stubHostActivities, stubPlacementActivities } from './stubs.js';

interface RunningWorker {
  worker: Worker;
  done: Promise<void>;
}

async function run(worker: Worker): Promise<RunningWorker> {
  return { worker, done: worker.run() };
}

/**
 * One test file's world: a control worker (sbx's workflows, stub placement and fleet activities) on a
 * queue of its own, stub hosts started per test, and a recorder of every activity call.
 */
export class WorkflowTestEnv {
  readonly recorder = new Recorder();
  /** Behaviour of the control activities for the current test; reset by `reset()`. */
  placement: Partial<PlacementActivities> = {};
  fleet: Partial<FleetActivities> = {};
  private readonly hosts = new Map<string, RunningWorker[]>();
  private readonly started = new Set<string>();
  private control?: RunningWorker;
  private nativeConnection?: NativeConnection;
  private seq = 0;

  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
    readonly taskQueue: string,
    readonly prefix: string,
    private readonly address: string,
    private readonly namespace: string,
  ) {}

  /** `server` defaults to the project's shared dev server. */
  static async start(testFileUrl: string, server?: { address: string; namespace: string }): Promise<WorkflowTestEnv> {
    installQuietRuntime();
    const shared = workflowTestServer();
    const { address, namespace } = server ?? shared;
    const file = basename(new URL(testFileUrl).pathname)
      .replace(/\.test\.ts$/, '')
      .replace(/[^a-z0-9]+/g, '-');
    const prefix = `${file.slice(0, 20)}-${Date.now().toString(36)}`;
    const connection = await Connection.connect({ address });
    const env = new WorkflowTestEnv(new Client({ connection, namespace }), connection, `sbx-wf-test-${prefix}`, prefix, address, namespace);
    env.nativeConnection = await NativeConnection.connect({ address });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace,
      taskQueue: env.taskQueue,
      workflowBundle: { codePath: shared.bundlePath },
      activities: {
        ...stubPlacementActivities(env.recorder, `${prefix}-default`, () => env.placement),
        ...stubFleetActivities(env.recorder, () => env.fleet),
      },
      maxHeartbeatThrottleInterval: '100ms',
      shutdownGraceTime: '1s',
    });
    env.control = await run(worker);
    return env;
  }

  /** A name unique to this file and run (session, host and fleet ids). */
  id(what: string): string {
    return `${what}-${this.prefix}-${++this.seq}`.slice(0, 63);
  }

  /**
   * A stub host serving its lifecycle queue and, unless `tools` is false, its tool-call queue.
   * `overrides` is read at each call, so a test may change the host's behaviour as it goes.
   */
  async startHost(hostId: string, overrides: () => Partial<HostActivities> = () => ({}), options: { tools?: boolean } = {}): Promise<void> {
    const activities = stubHostActivities(this.recorder, overrides);
    const queues = [hostTaskQueue(hostId), ...(options.tools === false ? [] : [hostToolsTaskQueue(hostId)])];
    const workers = await Promise.all(
      queues.map((taskQueue) =>
        Worker.create({
          connection: this.nativeConnection!,
          namespace: this.namespace,
          taskQueue,
          activities,
          // Cancellation reaches an activity with its heartbeat's answer: do not hold heartbeats back.
          maxHeartbeatThrottleInterval: '100ms',
          shutdownGraceTime: '1s',
        }).then(run),
      ),
    );
    this.hosts.set(hostId, workers);
  }

  /** The host goes away: nothing picks up its tasks any more. */
  async stopHost(hostId: string): Promise<void> {
    const workers = this.hosts.get(hostId) ?? [];
    this.hosts.delete(hostId);
    for (const { worker } of workers) worker.shutdown();
    await Promise.all(workers.map((w) => w.done));
  }

  /** Starts a workflow by its type name on the control queue; `cleanUp` terminates it if still running. */
  async startWorkflow(type: string, workflowId: string, args: unknown[]): Promise<WorkflowHandle> {
    this.started.add(workflowId);
    return this.client.workflow.start(type, { workflowId, taskQueue: this.taskQueue, args });
  }

  /** Starts a session workflow as sbx's client does and returns its handle; the create is not awaited. */
  async startSession(request: CreateSessionInput & { sessionId: string }): Promise<WorkflowHandle> {
    return this.startWorkflow('SessionWorkflow', sessionWorkflowId(request.sessionId), [{ request }]);
  }

  /** Starts a session and waits for its create to answer. */
  async createSession(request: CreateSessionInput & { sessionId: string }): Promise<{ handle: WorkflowHandle; info: SessionInfo }> {
    const handle = await this.startSession(request);
    const info = await handle.executeUpdate(createUpdate, { args: [request] });
    return { handle, info };
  }

  handle(sessionId: string): WorkflowHandle {
    this.started.add(sessionWorkflowId(sessionId));
    return this.client.workflow.getHandle(sessionWorkflowId(sessionId));
  }

  info(handle: WorkflowHandle): Promise<SessionInfo> {
    return handle.query(infoQuery);
  }

  /** Between tests: control activities back to their defaults, workflows left running ended. */
  async cleanUp(): Promise<void> {
    this.placement = {};
    this.fleet = {};
    for (const workflowId of this.started) {
      await this.client.workflow
        .getHandle(workflowId)
        .terminate('test ended')
        .catch(() => undefined);
    }
    this.started.clear();
    for (const hostId of [...this.hosts.keys()]) await this.stopHost(hostId);
  }

  async teardown(): Promise<void> {
    await this.cleanUp();
    if (this.control) {
      this.control.worker.shutdown();
      await this.control.done;
    }
    await this.nativeConnection?.close();
    await this.connection.close();
  }

  /**
   * With SBX_RECORD_HISTORIES=1, saves a workflow's history (as `temporal workflow show -o json`
   * prints it) into test/replay/histories for the replay test; otherwise does nothing.
   */
  async recordHistory(workflowId: string, name: string): Promise<void> {
    if (process.env.SBX_RECORD_HISTORIES !== '1') return;
    const { stdout } = await execa(temporalCliPath(), [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--address',
      this.address,
      '--namespace',
      this.namespace,
      '--output',
      'json',
    ]);
    writeFileSync(fileURLToPath(new URL(`../../replay/histories/${name}.json`, import.meta.url)), stdout);
  }
}

/**
 * Polls `probe` until `ok` holds: a wait for an outcome, not a timed assertion (the cap only keeps a
 * broken workflow from hanging the run).
 */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, capMs = 20_000): Promise<T> {
  const until = Date.now() + capMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The sbx error type a failed update or workflow carries, as a client sees it. */
export async function failureType(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError ? err.cause : err;
    if (cause instanceof ApplicationFailure && cause.type) return cause.type;
    throw err;
  }
  throw new Error('expected a failure, but it succeeded');
}
