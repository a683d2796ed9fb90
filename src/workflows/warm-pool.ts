import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { HostActivities } from '../activities/host/activities.js';
import type { PlacementActivities } from '../activities/control/placement.js';
import { fleetWorkflowId, hostTaskQueue, sessionWorkflowId, WARM_PREFIX } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import {
  ClaimRequest,
  claimUpdate,
  configureWarmPoolSignal,
  evictHostSignal,
  HostRef,
  hostLostSignal,
  releaseSignal,
  SandboxRelease,
  warmClaimedSignal,
  warmPoolStatusQuery,
  warmReleasedSignal,
  type WarmClaim,
  type WarmPoolStatus,
} from '../protocol/messages.js';
import { BackgroundWork } from './background-work.js';
import { WarmPoolConfig } from '../protocol/warm-pool-config.js';
import {
  CLAIM_NOTICE_DELAY_MS,
  chooseForClaim,
  refillBackoffMs,
  refillWaitMs,
  sandboxesToTrim,
  sandboxesToWarm,
  specOf,
  type WarmSandbox,
} from './warm-pool-rules.js';

export interface WarmPoolWorkflowInput {
  fleetId: string;
  template: string;
  /** Set by the control worker (configure signal); until then the pool is empty. */
  config?: WarmPoolConfig;
  carried?: { sandboxes: WarmSandbox[]; counters: Record<string, number>; evictedHosts: string[] };
}

/**
 * One per fleet and template (id `sbx-warmpool-<fleetId>-<template>`): keeps `size` sandboxes made,
 * started and unassigned, each in a fleet slot; a session's create claims one in a single update and
 * the pool refills in the background.
 */
export async function WarmPoolWorkflow(input: WarmPoolWorkflowInput): Promise<void> {
  const { fleetId, template } = input;
  let config: WarmPoolConfig = input.config ?? WarmPoolConfig.parse({ fleetId, template });
  const sandboxes: WarmSandbox[] = input.carried?.sandboxes ?? [];
  const counters: Record<string, number> = input.carried?.counters ?? {};
  // Draining or lost hosts: nothing there is handed out, and ready sandboxes there are removed.
  const evicted = new Set<string>(input.carried?.evictedHosts ?? []);
  const lost = new Set<string>();
  /** When this run learnt that a host was evicted or lost (workflow time); carried evictions are older than the run. */
  const leftAt = new Map<string, number>();
  const poolId = workflowInfo().workflowId;
  // A claimed sandbox's replacement waits a moment (REFILL_DELAY_MS): a new timer, so runs from before keep refilling at once.
  const refillWaits = patched('warm-refill-waits-after-claim');
  let dirty = true;
  let failures = 0;
  let retryAt = 0;
  const now = () => new Date().getTime();
  const count = (name: string) => {
    counters[name] = (counters[name] ?? 0) + 1;
  };

  const placement = proxyActivities<PlacementActivities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '20 seconds' });
  const hostActs = (hostId: string) =>
    proxyActivities<HostActivities>({
      taskQueue: hostTaskQueue(hostId),
      scheduleToStartTimeout: config.hostTimeoutMs,
      startToCloseTimeout: '5 minutes',
      // Host activities heartbeat every few seconds: a silent one lost its worker and is retried this soon.
      heartbeatTimeout: '15 seconds',
      retry: { initialInterval: '500 ms', maximumInterval: '5 seconds', maximumAttempts: 3 },
    });
  const fleet = () => getExternalWorkflowHandle(fleetWorkflowId(fleetId));

  const background = new BackgroundWork(
    () => {
      dirty = true;
    },
    { pool: poolId },
  );
  const forget = (sandbox: WarmSandbox) => {
    const at = sandboxes.indexOf(sandbox);
    if (at >= 0) sandboxes.splice(at, 1);
    dirty = true;
  };

  /** Destroys a sandbox the pool still owns and gives its fleet slot back. */
  async function remove(sandbox: WarmSandbox): Promise<void> {
    sandbox.state = 'removing';
    const { sandboxId, hostId } = sandbox;
    try {
      if (hostId && !lost.has(hostId)) await hostActs(hostId).destroySandbox({ sandboxId });
      if (hostId) await fleet().signal(releaseSignal, { sessionId: sandboxId, hostId });
      count('removed');
    } finally {
      forget(sandbox);
    }
  }

  async function warmOne(): Promise<void> {
    const { resources, quotaBytes } = config;
    const sandbox: WarmSandbox = {
      sandboxId: `${WARM_PREFIX}${uuid4().replace(/-/g, '').slice(0, 20)}`,
      state: 'warming',
      spec: specOf(resources, quotaBytes),
    };
    sandboxes.push(sandbox);
    const { sandboxId } = sandbox;
    try {
      const asked = now();
      const { hostId } = await placement.placeWarmSandbox({ sandboxId, template, warmPool: poolId });
      // The fleet places only on ready hosts: asked after the pool learnt the host left, it is back
      // (a lost host heartbeats again, a drain ended). Asked before, the answer may predate the drain.
      if ((evicted.has(hostId) || lost.has(hostId)) && (leftAt.get(hostId) ?? 0) <= asked && patched('warm-host-back-when-placed')) {
        evicted.delete(hostId);
        lost.delete(hostId);
      }
      sandbox.hostId = hostId;
      const acts = hostActs(hostId);
      await acts.createSandbox({ sandboxId, origin: { kind: 'template', template }, quotaBytes });
      await acts.startSandbox({ sandboxId, resources });
      failures = 0;
      count('warmed');
      if (evicted.has(hostId) || lost.has(hostId)) return await remove(sandbox);
      sandbox.state = 'ready';
      sandbox.readyAt = now();
      dirty = true;
    } catch (err) {
      failures++;
      retryAt = now() + refillBackoffMs(failures);
      count('warmFailures');
      log.warn('could not make a warm sandbox', { pool: poolId, sandboxId, error: err instanceof Error ? err.message : String(err) });
      await remove(sandbox);
    }
  }

  const toClaim = (sandbox: WarmSandbox): WarmClaim => ({
    sandboxId: sandbox.sandboxId,
    hostId: sandbox.hostId!,
    readyAt: new Date(sandbox.readyAt!).toISOString(),
  });

  /** Claims whose host is still recording the session as the sandbox's owner; false when it failed. */
  const handovers = new Map<string, Promise<boolean>>();

  /**
   * The host records the claiming session as the sandbox's owner: from then on only that session may
   * use it, and no other workflow can take it by naming it. A sandbox whose host cannot record it is
   * removed.
   */
  async function handOver(sandbox: WarmSandbox, sessionId: string, runId?: string): Promise<boolean> {
    try {
      await hostActs(sandbox.hostId!).transferSandbox({ sandboxId: sandbox.sandboxId, sessionId, runId });
      return true;
    } catch (err) {
      count('handoverFailures');
      log.warn('could not hand a claimed sandbox to its session', { pool: poolId, sandboxId: sandbox.sandboxId, error: String(err) });
      sandbox.sessionId = undefined;
      background.run(`remove ${sandbox.sandboxId}`, () => remove(sandbox));
      return false;
    }
  }

  setHandler(
    claimUpdate,
    async (raw) => {
      const request = ClaimRequest.parse(raw);
      const mine = sandboxes.find((s) => s.sessionId === request.sessionId);
      if (mine) return (await (handovers.get(mine.sandboxId) ?? true)) ? toClaim(mine) : null;
      const chosen = chooseForClaim(sandboxes, specOf(request.resources, request.quotaBytes), new Set([...evicted, ...lost]));
      if (!chosen) {
        count('claimsMissed');
        return null;
      }
      chosen.state = 'claimed';
      chosen.sessionId = request.sessionId;
      chosen.claimedAt = now();
      count('claims');
      dirty = true;
      const tellFleet = () =>
        fleet().signal(warmClaimedSignal, { sandboxId: chosen.sandboxId, hostId: chosen.hostId!, sessionId: request.sessionId });
      if (patched('warm-claim-answers-before-hand-over')) {
        // The hand-over is off the create's path: the host holds the session's first call until it
        // lands. Should it fail, the sandbox is removed and the session told it is gone.
        const handing = handOver(chosen, request.sessionId, request.runId);
        handovers.set(chosen.sandboxId, handing);
        background.run(`hand ${chosen.sandboxId} to ${request.sessionId}`, async () => {
          const handed = await handing;
          handovers.delete(chosen.sandboxId);
          if (handed) {
            if (patched('warm-claim-notice-waits')) await sleep(CLAIM_NOTICE_DELAY_MS);
            return tellFleet();
          }
          await getExternalWorkflowHandle(sessionWorkflowId(request.sessionId)).signal(hostLostSignal, { hostId: chosen.hostId! });
        });
        return toClaim(chosen);
      }
      if (patched('warm-claim-hands-over-owner')) {
        const handing = handOver(chosen, request.sessionId);
        handovers.set(chosen.sandboxId, handing);
        const handed = await handing;
        handovers.delete(chosen.sandboxId);
        if (!handed) return null;
      }
      // The slot now belongs to the session: it keeps its host busy and is told if the host is lost.
      background.run(`tell the fleet ${chosen.sandboxId} was claimed`, tellFleet);
      return toClaim(chosen);
    },
    { validator: (raw) => void parseInput(ClaimRequest, raw, 'claim request') },
  );

  setHandler(warmReleasedSignal, (raw) => {
    const parsed = SandboxRelease.safeParse(raw);
    const sandbox = parsed.success ? sandboxes.find((s) => s.sandboxId === parsed.data.sandboxId && s.state === 'claimed') : undefined;
    if (sandbox) forget(sandbox);
  });

  setHandler(hostLostSignal, (raw) => {
    const parsed = HostRef.safeParse(raw);
    if (!parsed.success) return;
    const { hostId } = parsed.data;
    lost.add(hostId);
    leftAt.set(hostId, now());
    for (const sandbox of sandboxes.filter((s) => s.hostId === hostId)) {
      if (sandbox.state === 'claimed') {
        // The fleet may have learnt of the claim too late to tell the session itself.
        background.run(`tell ${sandbox.sessionId} its host is lost`, () =>
          getExternalWorkflowHandle(sessionWorkflowId(sandbox.sessionId!)).signal(hostLostSignal, { hostId }),
        );
      } else if (sandbox.state === 'ready') {
        count('lost');
        forget(sandbox);
      }
    }
  });

  setHandler(evictHostSignal, (raw) => {
    const parsed = HostRef.safeParse(raw);
    if (!parsed.success) return;
    evicted.add(parsed.data.hostId);
    leftAt.set(parsed.data.hostId, now());
    for (const sandbox of sandboxes.filter((s) => s.hostId === parsed.data.hostId && s.state === 'ready')) {
      background.run(`evict ${sandbox.sandboxId}`, () => remove(sandbox));
    }
  });

  setHandler(configureWarmPoolSignal, (raw) => {
    const parsed = WarmPoolConfig.safeParse({ ...raw, fleetId, template });
    if (!parsed.success) return log.warn('ignoring an invalid warm-pool configuration', { pool: poolId, error: parsed.error.message });
    config = parsed.data;
    failures = 0;
    retryAt = 0;
    dirty = true;
  });

  setHandler(warmPoolStatusQuery, (): WarmPoolStatus => {
    const inState = (state: string) => sandboxes.filter((s) => s.state === state).length;
    return {
      fleetId,
      template,
      size: config.size,
      ready: inState('ready'),
      warming: inState('warming'),
      claimed: inState('claimed'),
      sandboxes: sandboxes.map((s) => ({
        sandboxId: s.sandboxId,
        state: s.state,
        hostId: s.hostId,
        sessionId: s.sessionId,
        readyAt: s.readyAt === undefined ? undefined : new Date(s.readyAt).toISOString(),
      })),
      counters,
    };
  });

  for (;;) {
    dirty = false;
    for (const sandboxId of sandboxesToTrim(sandboxes, config)) {
      const sandbox = sandboxes.find((s) => s.sandboxId === sandboxId)!;
      background.run(`trim ${sandboxId}`, () => remove(sandbox));
    }
    const backoff = retryAt - now();
    const at = refillWaits ? now() : undefined;
    if (backoff <= 0) {
      for (let i = sandboxesToWarm(sandboxes, config, at); i > 0; i--) background.run('warm a sandbox', warmOne);
    }
    const wait = backoff > 0 ? backoff : at === undefined ? 0 : refillWaitMs(sandboxes, config, at);
    const wake = () => dirty || workflowInfo().continueAsNewSuggested;
    if (wait > 0) await condition(wake, wait);
    else await condition(wake);
    if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && background.idle);
      const hosts = new Set(sandboxes.map((s) => s.hostId));
      await continueAsNew<typeof WarmPoolWorkflow>({
        fleetId,
        template,
        config,
        carried: { sandboxes, counters, evictedHosts: [...evicted].filter((h) => hosts.has(h)) },
      });
    }
  }
}
