import { SandboxClient } from '../../src/client/sandbox-client.js';
import { Agent } from './agent.js';
import { Cluster, type ChaosCluster } from './cluster.js';
import { ChaosReport, type Fault, type FaultKind } from './report.js';
import { Rng } from './rng.js';

export interface ChaosOptions {
  seed: number;
  sessions: number;
  steps: number;
  /** Scratch directory and ZFS dataset, both the run's own. */
  dir: string;
  zfsRoot: string;
  /** Pause between a fault's recovery and the next fault, in ms. */
  faultGapMs?: [number, number];
  progress?: (line: string) => void;
  /** Appends each step here as it happens. */
  stepsFile?: string;
  /** A cluster already started (the production topology); by default the run starts and stops its own. */
  cluster?: ChaosCluster;
}

const FAULTS: Record<FaultKind, number> = { 'host-kill': 4, 'control-kill': 3, 'server-term': 1.5, 'server-kill': 1.5 };
/** A fault with no successful exec after it this long stops waiting (the report says so). */
const RECOVERY_WAIT_MS = 120_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `sessions` seeded agent programs of `steps` steps each while a driver, seeded the same, kills
 * host and control workers and stops the Temporal server; then checks what the run left behind.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const report = new ChaosReport(options.stepsFile);
  const rng = new Rng(options.seed);
  const progress = options.progress ?? (() => undefined);
  const cluster =
    options.cluster ??
    new Cluster({ dir: options.dir, zfsRoot: options.zfsRoot, hostIds: ['chaos-h0', 'chaos-h1'], suggestContinueAsNew: 150 });
  if (!options.cluster) await cluster.start();
  const hosts = cluster.hostIds;
  const client = await SandboxClient.connect({ address: cluster.address });
  try {
    const agents = Array.from(
      { length: options.sessions },
      (_, i) => new Agent(`c${i}`, rng.fork(i), client, hosts[i % hosts.length]!, report),
    );
    let done = false;
    const programs = Promise.allSettled(agents.map((agent) => agent.run(options.steps))).finally(() => {
      done = true;
    });
    // A fault the driver could not undo ends the faults, not the run: the report says what failed.
    const driver = driveFaults(
      cluster,
      rng.fork(1_000_000),
      report,
      options.faultGapMs ?? [8_000, 20_000],
      () => done,
      progress,
      (options.sessions * options.steps) / 4,
    ).catch((err: unknown) => {
      report.crashedProcesses.push(`fault driver stopped: ${String(err)}`);
    });
    for (const result of await programs) {
      if (result.status === 'rejected') report.lost.push({ sessionId: '?', step: -1, symptom: `agent stopped: ${String(result.reason)}` });
    }
    await driver;
    report.crashedProcesses.push(...(await cluster.restartDead()));
    progress(`programs done after ${report.stepsDone} steps; checking what is left`);

    // Sessions settle first: a destroyed session answers before its dataset is removed, and a host
    // stopped in between may lose that removal's task until its heartbeat timeout retries it.
    await checkWorkflows(client, report);
    // A host removes what closed sessions left (a destroy it missed while down) when it starts.
    for (const hostId of hosts) {
      await cluster.killHost(hostId, 'SIGTERM');
      await cluster.startHost(hostId);
    }
    report.orphanDatasets = await cluster.datasets();
    report.orphanContainers = await cluster.containers();
  } finally {
    await client.close();
    if (!options.cluster) await cluster.stop();
  }
  return report;
}

async function driveFaults(
  cluster: ChaosCluster,
  rng: Rng,
  report: ChaosReport,
  [minGap, maxGap]: [number, number],
  done: () => boolean,
  progress: (line: string) => void,
  firstFaultBySteps: number,
): Promise<void> {
  // Between faults the driver is the workers' supervisor (compose's restart policy): a worker that
  // died on its own is started again within seconds, and counted.
  const wait = async (ms: number, until: () => boolean) => {
    for (let end = Date.now() + ms, checked = Date.now(); Date.now() < end && !until() && !done();) {
      await sleep(200);
      if (Date.now() - checked < 2_000) continue;
      report.crashedProcesses.push(...(await cluster.restartDead()));
      checked = Date.now();
    }
  };
  while (!done()) {
    // The first fault comes no later than a quarter of the way through: a fast machine can finish a short run inside one gap.
    await wait(rng.int(minGap, maxGap), () => report.faults.length === 0 && report.stepsDone >= firstFaultBySteps);
    if (done()) return;
    report.crashedProcesses.push(...(await cluster.restartDead()));
    const kind = rng.weighted(FAULTS);
    const hostId = kind === 'host-kill' ? rng.pick(cluster.hostIds) : undefined;
    const downMs = rng.int(0, 3000);
    const fault: Fault = { kind, hostId, at: Date.now() };
    report.faults.push(fault);
    report.log(`FAULT ${kind}${hostId ? ` ${hostId}` : ''}, down ${downMs} ms`);
    if (kind === 'host-kill') await cluster.killHost(hostId!);
    else if (kind === 'control-kill') await cluster.killControl();
    else await cluster.stopServer(kind === 'server-term' ? 'SIGTERM' : 'SIGKILL');
    await sleep(downMs);
    if (kind === 'host-kill') await cluster.startHost(hostId!);
    else if (kind === 'control-kill') await cluster.startControl();
    else await cluster.startServer();
    fault.upAt = Date.now();
    report.log(`UP after ${kind} (${fault.upAt - fault.at} ms)`);
    progress(`fault ${report.faults.length}: ${kind}${hostId ? ` ${hostId}` : ''}; ${report.stepsDone} steps so far`);
    await wait(RECOVERY_WAIT_MS, () => fault.recoveredAt !== undefined);
  }
}

/** Every session workflow ended, and none is stuck on a workflow task that keeps failing. */
async function checkWorkflows(client: SandboxClient, report: ChaosReport): Promise<void> {
  for await (const wf of client.temporal.workflow.list({ query: `WorkflowType = 'SessionWorkflow'` })) {
    if (wf.status.name === 'CONTINUED_AS_NEW') report.continuedAsNew++;
    if (['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'].includes(wf.status.name)) {
      report.lost.push({ sessionId: wf.workflowId, step: -1, symptom: `workflow ended ${wf.status.name}` });
    }
    if (wf.status.name !== 'RUNNING') continue;
    const handle = client.temporal.workflow.getHandle(wf.workflowId, wf.runId);
    // A destroyed session answers before its dataset is removed; its workflow closes after.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 120_000)));
    const closed = await Promise.race([handle.result().then(() => true), gaveUp])
      .catch(() => false)
      .finally(() => clearTimeout(timer));
    if (closed) continue;
    const described = await handle.describe();
    const attempt = described.raw.pendingWorkflowTask?.attempt ?? 1;
    const history = await handle.fetchHistory();
    const failed = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).length;
    if (attempt > 1 || failed > 0)
      report.stuckWorkflows.push(`${wf.workflowId} (workflow task attempt ${attempt}, ${failed} failed tasks)`);
    else report.leftRunning.push(`${wf.workflowId} still running`);
  }
}
