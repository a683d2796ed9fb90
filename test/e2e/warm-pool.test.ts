import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import { sessionStartOptions } from '../../src/client/sandbox-client.js';
import { fleetWorkflowId, sessionWorkflowId, warmPoolWorkflowId } from '../../src/common/names.js';
import {
  claimUpdate,
  configureWarmPoolSignal,
  CreateSessionRequest,
  createUpdate,
  drainUpdate,
  fleetStatusQuery,
  warmPoolStatusQuery,
  type FleetStatus,
  type WarmPoolStatus,
} from '../../src/protocol/messages.js';
import { freePort } from '../../src/dev/net.js';
import { startHostWorker, type RunningHost } from '../../src/workers/host.js';
import { startMetrics, type MetricsServer } from '../../src/workers/metrics.js';
import { recordHistory, recordWorkflowHistory } from '../harness/histories.js';
import { startSbx, testLogger, type SbxTestStack } from '../harness/sbx.js';
import { sessionClosed } from '../harness/session-closed.js';
import { testStack, uniqueNames } from '../harness/stack.js';

/**
 * A warm pool on a one-host fleet, with a real host worker (zfs-fuse + runsc) and the fleet and
 * pool workflows on the run's dev server.
 */
describe('warm pool', () => {
  const stack = testStack();
  const names = uniqueNames(import.meta.url);
  const fleetId = `w${names.id.slice(-10)}`;
  const poolId = warmPoolWorkflowId(fleetId, 'busybox');
  let connection: Connection;
  let temporal: Client;
  let sbx: SbxTestStack;
  /** The host worker now serving: the first, or the one restarted in its place. */
  let host: RunningHost;
  let metrics: MetricsServer;
  let metricsPort: number;

  const poolStatus = () => temporal.workflow.getHandle(poolId).query(warmPoolStatusQuery);
  const fleetStatus = () => temporal.workflow.getHandle(fleetWorkflowId(fleetId)).query(fleetStatusQuery);
  async function until<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (check(value)) return value;
      if (performance.now() > deadline) throw new Error(`never reached: ${what}\n${JSON.stringify(value, null, 1)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const configurePool = (size: number) =>
    temporal.workflow.signalWithStart('WarmPoolWorkflow', {
      workflowId: poolId,
      taskQueue: names.taskQueue,
      args: [{ fleetId, template: 'busybox' }],
      signal: configureWarmPoolSignal,
      signalArgs: [{ fleetId, template: 'busybox', size }],
    });
  const ready = (p: WarmPoolStatus) => p.sandboxes.filter((s) => s.state === 'ready');
  const hostOf = (f: FleetStatus) => f.hosts.find((h) => h.hostId === sbx.hostId)!;
  /** The workflow the host lets act on a sandbox (its owner record). */
  const ownerOnHost = (sandboxId: string) =>
    (JSON.parse(readFileSync(join(sbx.hostConfig.dataRoot, 'owners', `${sandboxId}.json`), 'utf8')) as { workflowId: string }).workflowId;

  beforeAll(async () => {
    connection = await Connection.connect({ address: stack.temporalAddress });
    temporal = new Client({ connection, namespace: stack.namespace });
    // The fleet runs on this file's control queue before the host's first heartbeat would start it elsewhere.
    await temporal.workflow.start('FleetWorkflow', {
      workflowId: fleetWorkflowId(fleetId),
      taskQueue: names.taskQueue,
      args: [{ fleetId }],
    });
    metricsPort = await freePort();
    metrics = await startMetrics(metricsPort, temporal, { fleetId, warmTemplates: ['busybox'] }, testLogger);
    sbx = await startSbx(
      import.meta.url,
      { fleetId, heartbeatMs: 1000, maxSessions: 8 },
      { fleetId, warmTemplates: ['busybox'], controlTaskQueue: names.taskQueue, onPlaced: metrics.observePlacement },
    );
    host = sbx.host;
  });

  afterAll(async () => {
    for (const id of [poolId, fleetWorkflowId(fleetId)]) {
      await temporal.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
    await host?.shutdown();
    await sbx?.stop();
    await metrics?.close();
    await connection?.close();
  });

  it('hands out a sandbox made before the request, refills, and keeps cold creates for other shapes', async () => {
    await configurePool(2);
    const filled = await until('2 warm sandboxes ready', poolStatus, (p) => p.ready === 2);
    const warmIds = ready(filled).map((s) => s.sandboxId);
    for (const id of warmIds) expect(await sbx.host.storage.sandboxExists(id)).toBe(true);
    for (const id of warmIds) expect(ownerOnHost(id)).toBe(poolId);
    expect(hostOf(await fleetStatus()).warm.sort()).toEqual([...warmIds].sort());

    const asked = Date.now();
    const { session, info } = await sbx.client.createSession({ sessionId: `${fleetId}-a`, template: 'busybox' });
    expect(info.state).toBe('active');
    expect(warmIds).toContain(info.sandboxId);
    expect(info.warmClaim?.pool).toBe(poolId);
    expect(Date.parse(info.warmClaim!.readyAt)).toBeLessThan(asked);
    // The claimed sandbox is a full session: tools, turns, rollback and fork.
    await session.writeFiles([{ path: '/workspace/note.txt', content: 'turn 1' }]);
    // The pool hands the sandbox over on its host just after the claim answers, and the host holds
    // the session's first call until it has: from then on only the session may use it.
    expect(ownerOnHost(info.sandboxId)).toBe(sessionWorkflowId(`${fleetId}-a`));
    expect((await session.turnComplete()).turn).toBe(1);
    await session.exec({ toolCallId: 'change', command: 'echo turn 2 > /workspace/note.txt' });
    await session.rollback({ turn: 1 });
    expect((await session.exec({ toolCallId: 'read', command: 'cat /workspace/note.txt' })).stdout).toBe('turn 1');
    const fork = await session.fork({ turn: 1, newSessionId: `${fleetId}-fork` });
    expect((await fork.exec({ toolCallId: 'read', command: 'cat /workspace/note.txt' })).stdout).toBe('turn 1');

    // The pool refills in the background; the claimed slot and the fork's are sessions' now.
    const refilled = await until('pool refilled', poolStatus, (p) => p.ready === 2);
    expect(ready(refilled).map((s) => s.sandboxId)).not.toContain(info.sandboxId);
    const host = hostOf(await until('fleet learnt of the claim', fleetStatus, (f) => !hostOf(f).warm.includes(info.sandboxId)));
    expect(host.sessions).toEqual(expect.arrayContaining([info.sandboxId, `${fleetId}-fork`]));

    // A session made with other resources than the pool's is created cold, under its own id.
    const cold = await sbx.client.createSession({ sessionId: `${fleetId}-cold`, template: 'busybox', resources: { memoryMb: 256 } });
    expect(cold.info.warmClaim).toBeUndefined();
    expect(cold.info.sandboxId).toBe(`${fleetId}-cold`);
    expect((await poolStatus()).ready).toBe(2);

    // Prometheus sees the pool, the host and how each placement went.
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(scraped).toContain('sbx_warm_pool_sandboxes{template="busybox",state="ready"} 2');
    expect(scraped).toContain('sbx_warm_pool_size{template="busybox"} 2');
    expect(scraped).toContain('sbx_fleet_hosts{state="ready"} 1');
    expect(scraped).toContain('sbx_placement_seconds_count{kind="warm"} 1');
    expect(scraped).toMatch(/sbx_placement_seconds_count\{kind="fleet"\} [1-9]/);
    expect(scraped).toContain('sbx_placement_seconds_count{kind="pinned"} 1');

    // Destroying the claimed session removes its sandbox and frees its slot and pool entry.
    await session.destroy();
    await sessionClosed(sbx.client, session.id);
    expect(await sbx.host.storage.sandboxExists(info.sandboxId)).toBe(false);
    await until('pool forgot the claimed sandbox', poolStatus, (p) => !p.sandboxes.some((s) => s.sandboxId === info.sandboxId));
    await until('slot released', fleetStatus, (f) => !hostOf(f).sessions.includes(info.sandboxId));
    await fork.destroy();
    await cold.session.destroy();
    await recordHistory(`${fleetId}-a`, 'session-warm-claim');
  });

  it("keeps the pool's sandboxes across a host restart and quarantines warm sandboxes no pool knows", async () => {
    const before = ready(await until('pool full', poolStatus, (p) => p.ready === 2)).map((s) => s.sandboxId);
    await sbx.host.shutdown();
    await sbx.host.storage.createSandbox('warm-stray', { kind: 'template', template: 'busybox' });
    host = await startHostWorker(sbx.hostConfig, testLogger);
    expect(host.report.keep).toEqual(expect.arrayContaining(before));
    expect(host.report.quarantine).toContain('warm-stray');
    expect(host.report.removeSessions).not.toContain('warm-stray');
    expect([...(await host.storage.quarantined()).keys()]).toEqual(['warm-stray']);
    await host.storage.destroySandbox('warm-stray');
    // The restarted host's warm sandboxes still serve claims.
    const { session, info } = await sbx.client.createSession({ sessionId: `${fleetId}-after`, template: 'busybox' });
    expect(before).toContain(info.sandboxId);
    expect((await session.exec({ toolCallId: 'hi', command: 'echo hi' })).stdout).toBe('hi\n');
    await session.destroy();

    // Size 0 empties the pool: its sandboxes are destroyed and their fleet slots freed.
    await configurePool(0);
    const empty = await until('pool empty', poolStatus, (p) => p.sandboxes.length === 0);
    expect(empty.counters.claims).toBe(2);
    for (const id of before) expect(await host.storage.sandboxExists(id)).toBe(false);
    await until('no warm slots left', fleetStatus, (f) => hostOf(f).warm.length === 0 && hostOf(f).sessions.length === 0);
  });

  it('moves warm sandboxes off a draining host, so they never keep it alive, and fills again when it is back', async () => {
    await configurePool(2);
    const full = await until('pool refilled', poolStatus, (p) => p.ready === 2);
    const warmIds = ready(full).map((s) => s.sandboxId);
    await temporal.workflow.getHandle(fleetWorkflowId(fleetId)).executeUpdate(drainUpdate, { args: [{ hostId: sbx.hostId }] });
    // The host held only warm sandboxes: the pool removes them and the emptied host leaves the fleet.
    await until('warm sandboxes evicted', poolStatus, (p) => p.ready === 0 && !p.sandboxes.some((s) => warmIds.includes(s.sandboxId)));
    for (const id of warmIds) expect(await host.storage.sandboxExists(id)).toBe(false);
    // No provisioner manages this host, so after its termination its heartbeats register it afresh.
    await until('drained host terminated', fleetStatus, (f) => (f.counters['terminations.drained'] ?? 0) === 1);
    await recordWorkflowHistory(poolId, 'warm-pool');
    // The fleet places the pool's refills on the host it registered again, and they stay there: only
    // the two evicted sandboxes were ever removed.
    const back = await until('pool full again on the returned host', poolStatus, (p) => p.ready === 2);
    expect(back.sandboxes.map((s) => s.hostId)).toEqual([sbx.hostId, sbx.hostId]);
    expect((back.counters.removed ?? 0) - (full.counters.removed ?? 0)).toBe(2);
  });

  it("gives a claimed sandbox to the session's running run, not to an ended run a forged claim names", async () => {
    await configurePool(2);
    await until('a warm sandbox ready', poolStatus, (p) => p.ready >= 1);
    const sessionId = `${fleetId}-forged`;
    const request = CreateSessionRequest.parse({ sessionId, template: 'busybox' });
    // An ended run under the session's id: a start the workflow refuses at once (its request names another session).
    const refused = await temporal.workflow.start('SessionWorkflow', {
      workflowId: sessionWorkflowId(sessionId),
      taskQueue: names.taskQueue,
      args: [{ request: { ...request, sessionId: `${fleetId}-other` } }],
    });
    await expect(refused.result()).rejects.toThrow();
    // The claim as anyone allowed to update the pool can send it, naming that ended run.
    const forged = await temporal.workflow
      .getHandle(poolId)
      .executeUpdate(claimUpdate, { args: [{ sessionId, resources: request.resources, runId: refused.firstExecutionRunId }] });
    expect(forged).not.toBeNull();
    await until(
      'hand-over landed',
      async () => ownerOnHost(forged!.sandboxId),
      (owner) => owner === sessionWorkflowId(sessionId),
    );
    // The session's caller starts it under the same id, as the Temporal API lets a caller in any language do.
    const started = await temporal.workflow.start('SessionWorkflow', {
      ...sessionStartOptions(request, names.taskQueue),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    const info = await started.executeUpdate(createUpdate, { args: [request] });
    expect(info.sandboxId).toBe(forged!.sandboxId);
    const session = sbx.client.session(sessionId);
    const ran = await session.exec({ toolCallId: 'first', command: 'echo mine' });
    expect({ exitCode: ran.exitCode, stdout: ran.stdout }).toEqual({ exitCode: 0, stdout: 'mine\n' });
    await session.destroy();
  });
});
