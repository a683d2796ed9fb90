import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { FleetActivities } from '../activities/control/fleet-activities.js';
import { SbxErrorType, sbxFailure } from '../common/errors.js';
import { sessionWorkflowId } from '../common/names.js';
import { parseInput } from '../common/validate.js';
import { BackgroundWork } from './background-work.js';
import { FleetConfig } from '../protocol/fleet-config.js';
import {
  busySlots,
  capacity,
  chooseHost,
  freeSlots,
  heartbeatLimitMs,
  hostsLost,
  hostsToDrain,
  hostsToProvision,
  hostsToTerminate,
  type FleetHost,
} from './fleet-rules.js';
import {
  configureFleetSignal,
  DrainRequest,
  drainUpdate,
  evictHostSignal,
  fleetStatusQuery,
  HostHeartbeat,
  hostHeartbeatSignal,
  hostLostSignal,
  PlaceRequest,
  placeUpdate,
  ReleaseRequest,
  releaseSignal,
  WarmClaimed,
  warmClaimedSignal,
  type FleetHostStatus,
  type FleetStatus,
} from '../protocol/messages.js';

export interface FleetWorkflowInput {
  fleetId: string;
  /** Set by the control worker (configure signal); a fleet started by a host's heartbeat has none yet. */
  config?: FleetConfig;
  carried?: { hosts: FleetHost[]; nextHost: number; counters: Record<string, number> };
}

/** One per fleet (id `sbx-fleet-<fleetId>`): the hosts table, placement, scaling and host loss. */
export async function FleetWorkflow(input: FleetWorkflowInput): Promise<void> {
  let config: FleetConfig = input.config ?? FleetConfig.parse({ fleetId: input.fleetId });
  let autoscale = input.config !== undefined;
  const hosts: FleetHost[] = input.carried?.hosts ?? [];
  const counters: Record<string, number> = input.carried?.counters ?? {};
  let nextHost = input.carried?.nextHost ?? 1;
  let waiting = 0;
  let waitingSessions = 0;
  let dirty = true;
  let lastReconcile: number | undefined;
  let watchingSince = 0;
  const pendingPlacements = new Map<string, Promise<{ hostId: string }>>();
  const now = () => new Date().getTime();
  const count = (name: string) => {
    counters[name] = (counters[name] ?? 0) + 1;
  };
  const find = (hostId: string) => hosts.find((h) => h.hostId === hostId);

  const background = new BackgroundWork(() => {
    dirty = true;
  });

  const acts = proxyActivities<FleetActivities>({
    startToCloseTimeout: config.provisionTimeoutMs,
    // A control worker that dies mid-launch is noticed in seconds; the launch is retried elsewhere.
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
  });

  const toStatus = (h: FleetHost): FleetHostStatus => ({
    hostId: h.hostId,
    state: h.state,
    instanceId: h.instanceId,
    maxSessions: h.maxSessions,
    sessions: [...h.sessions],
    untracked: h.untracked,
    warm: Object.keys(h.warm ?? {}),
    healthy: h.healthy,
    lastHeartbeat: h.lastHeartbeat,
  });

  setHandler(configureFleetSignal, (raw) => {
    const parsed = FleetConfig.safeParse({ ...raw, fleetId: input.fleetId });
    if (!parsed.success) return log.warn('ignoring an invalid fleet configuration', { error: parsed.error.message });
    config = parsed.data;
    autoscale = true;
    dirty = true;
  });

  setHandler(fleetStatusQuery, (): FleetStatus => ({
    fleetId: config.fleetId,
    autoscale,
    hosts: hosts.map(toStatus),
    capacity: capacity(hosts),
    warmSlots: config.warmSlots,
    waitingPlacements: waiting,
    counters,
  }));

  setHandler(hostHeartbeatSignal, (raw) => {
    const parsed = HostHeartbeat.safeParse(raw);
    if (!parsed.success) return log.warn('ignoring a malformed heartbeat', { error: parsed.error.message });
    const beat = parsed.data;
    let host = find(beat.hostId);
    if (!host || host.state === 'lost' || host.state === 'terminating') {
      if (host) hosts.splice(hosts.indexOf(host), 1);
      host = {
        hostId: beat.hostId,
        state: 'ready',
        maxSessions: beat.maxSessions,
        sessions: [],
        healthy: beat.healthy,
        templates: [],
        since: now(),
        idleSince: now(),
      };
      hosts.push(host);
      count('hostsRegistered');
    }
    if (host.state === 'provisioning') {
      host.state = 'ready';
      host.since = now();
      host.idleSince = now();
      count('provisionsSucceeded');
    }
    host.lastHeartbeat = now();
    host.healthy = beat.healthy;
    host.maxSessions = beat.maxSessions;
    // What the host really holds (its reconcile keeps sandboxes whose workflows run) counts, not only what was placed here.
    if (patched('fleet-counts-host-held-sandboxes')) host.untracked = Math.max(0, beat.sessions - host.sessions.length);
    host.templates = beat.templates;
    host.instanceId ??= beat.instanceId;
    dirty = true;
  });

  setHandler(releaseSignal, (raw) => {
    const parsed = ReleaseRequest.safeParse(raw);
    if (!parsed.success) return;
    const host = find(parsed.data.hostId);
    if (!host) return;
    const key = parsed.data.sessionId;
    host.sessions = host.sessions.filter((id) => id !== key);
    delete host.warm?.[key];
    delete host.claimed?.[key];
    if (busySlots(host) === 0) host.idleSince ??= now();
    dirty = true;
  });

  setHandler(warmClaimedSignal, (raw) => {
    const parsed = WarmClaimed.safeParse(raw);
    if (!parsed.success) return log.warn('ignoring a malformed warmClaimed signal', { error: parsed.error.message });
    const { sandboxId, hostId, sessionId } = parsed.data;
    const host = find(hostId);
    if (!host?.warm?.[sandboxId]) return;
    delete host.warm[sandboxId];
    (host.claimed ??= {})[sandboxId] = sessionId;
    host.idleSince = undefined;
    dirty = true;
    // The pool handed the sandbox out before it heard of the drain: the host is no longer idle, and
    // draining it would take the session's host away at the drain timeout.
    if (host.state === 'draining' && host.idleDrain && patched('claim-ends-idle-drain')) endIdleDrain(host);
  });

  setHandler(
    placeUpdate,
    async (raw) => {
      const request = PlaceRequest.parse(raw);
      const placed = hosts.find((h) => h.sessions.includes(request.sessionId));
      if (placed) return { hostId: placed.hostId };
      // A retried place (its first attempt's worker died) joins the one still waiting.
      const pending = pendingPlacements.get(request.sessionId);
      if (pending) return pending;
      const placement = place(request);
      pendingPlacements.set(request.sessionId, placement);
      try {
        return await placement;
      } finally {
        pendingPlacements.delete(request.sessionId);
      }
    },
    { validator: (raw) => void parseInput(PlaceRequest, raw, 'place request') },
  );

  // Hoisted: setHandler runs a place update buffered in the first activation at once, before here.
  function take(host: FleetHost, request: PlaceRequest): void {
    host.sessions.push(request.sessionId);
    if (request.warmPool) (host.warm ??= {})[request.sessionId] = request.warmPool;
    else host.idleSince = undefined;
  }

  async function place(request: PlaceRequest): Promise<{ hostId: string }> {
    if (request.hostId) return placePinned(request, request.hostId);
    const forSession = !request.warmPool;
    waiting++;
    if (forSession) waitingSessions++;
    dirty = true;
    // The slot is reserved inside the condition: placements woken together must not share the last
    // slot. A warm sandbox waits while any session does.
    let chosen: FleetHost | undefined;
    const reserve = () => {
      if (!forSession && waitingSessions > 0) return false;
      chosen = chooseHost(hosts, request.template);
      if (!chosen) return false;
      take(chosen, request);
      return true;
    };
    const found = await condition(reserve, config.placeTimeoutMs);
    waiting--;
    if (forSession) waitingSessions--;
    dirty = true;
    if (!found) {
      count('placementsFailed');
      throw sbxFailure(SbxErrorType.NoCapacity, `no host had a free slot for ${request.sessionId} within ${config.placeTimeoutMs} ms`);
    }
    count('placements');
    return { hostId: chosen!.hostId };
  }

  /** A slot on one given host, now or never: waiting would not free it sooner. */
  function placePinned(request: PlaceRequest, hostId: string): { hostId: string } {
    const host = find(hostId);
    if (!host || freeSlots(host) === 0) {
      count('placementsFailed');
      const why = host ? `it is ${host.state}${host.state === 'ready' ? ' and full' : ''}` : 'the fleet does not know it';
      throw sbxFailure(SbxErrorType.NoCapacity, `no slot for ${request.sessionId} on host ${hostId}: ${why}`);
    }
    take(host, request);
    count('placements');
    dirty = true;
    return { hostId };
  }

  /** Draining: the host takes no new sandbox, and its warm sandboxes' pools move them elsewhere. */
  function startDrain(host: FleetHost, idle: boolean): void {
    host.state = 'draining';
    host.since = now();
    dirty = true;
    if (idle) host.idleDrain = true;
    for (const pool of new Set(Object.values(host.warm ?? {}))) {
      background.run(`evict warm sandboxes of ${pool} from ${host.hostId}`, () =>
        getExternalWorkflowHandle(pool).signal(evictHostSignal, { hostId: host.hostId }),
      );
    }
  }

  /** The host is ready again; a pool told to leave it takes the fleet's next placement there as its return. */
  function endIdleDrain(host: FleetHost): void {
    log.info('a warm sandbox on a host draining for idleness was claimed; keeping the host', { hostId: host.hostId });
    host.state = 'ready';
    host.since = now();
    host.idleDrain = undefined;
    count('drainsEnded');
  }

  setHandler(
    drainUpdate,
    (raw) => {
      const host = find(DrainRequest.parse(raw).hostId)!;
      startDrain(host, false);
      return toStatus(host);
    },
    {
      validator: (raw) => {
        const { hostId } = parseInput(DrainRequest, raw, 'drain request');
        const host = find(hostId);
        if (!host) throw sbxFailure(SbxErrorType.NotFound, `fleet ${config.fleetId} has no host ${hostId}`);
        if (host.state !== 'ready')
          throw sbxFailure(SbxErrorType.InvalidState, `host ${hostId} is ${host.state}; only a ready host can be drained`);
      },
    },
  );

  const terminate = (host: FleetHost, outcome: string) => {
    const lost = host.state === 'lost';
    if (!lost) host.state = 'terminating';
    background.run(`terminate ${host.hostId}`, async () => {
      if (host.instanceId) await acts.terminateHost({ instanceId: host.instanceId });
      count(`terminations.${outcome}`);
      hosts.splice(hosts.indexOf(host), 1);
    });
  };

  function reconcile(): void {
    const t = now();
    // A gap longer than the miss limit means the fleet itself was away (control workers or the
    // server down): hosts restarting with it must not be declared lost for silence it caused.
    if (lastReconcile !== undefined && t - lastReconcile > heartbeatLimitMs(config)) {
      log.warn('the fleet was not running for a while; giving hosts a fresh miss limit', { awayMs: t - lastReconcile });
      watchingSince = t;
    }
    lastReconcile = t;
    for (const hostId of hostsLost(hosts, config, t, watchingSince)) {
      const host = find(hostId)!;
      log.warn('host stopped heartbeating; marking it lost', { hostId, sessions: host.sessions.length });
      host.state = 'lost';
      count('hostsLost');
      // Each slot's owner is told: a session, or the pool of an unclaimed warm sandbox (once per pool).
      const owners = new Set(host.sessions.map((key) => host.warm?.[key] ?? sessionWorkflowId(host.claimed?.[key] ?? key)));
      for (const owner of owners) {
        background.run(`tell ${owner} its host is lost`, () => getExternalWorkflowHandle(owner).signal(hostLostSignal, { hostId }));
      }
      terminate(host, 'lost');
    }
    for (const hostId of hostsToTerminate(hosts, config, t)) {
      const host = find(hostId)!;
      terminate(host, host.state === 'provisioning' ? 'provisionTimeout' : host.sessions.length === 0 ? 'drained' : 'drainTimeout');
    }
    if (!autoscale) return;
    for (const hostId of hostsToDrain(hosts, config, t)) {
      startDrain(find(hostId)!, true);
      count('drains');
    }
    const launches = hostsToProvision(hosts, config, waiting);
    for (let i = 0; i < launches; i++) {
      const host: FleetHost = {
        hostId: `${config.fleetId}-h${nextHost++}`.slice(0, 63),
        state: 'provisioning',
        maxSessions: config.maxSessionsPerHost,
        sessions: [],
        healthy: false,
        templates: [],
        since: t,
      };
      hosts.push(host);
      count('provisionsStarted');
      background.run(`launch ${host.hostId}`, async () => {
        try {
          const instance = await acts.launchHost({ fleetId: config.fleetId, hostId: host.hostId });
          host.instanceId = instance.instanceId;
        } catch (err) {
          count('provisionsFailed');
          if (hosts.includes(host) && host.state === 'provisioning') hosts.splice(hosts.indexOf(host), 1);
          throw err;
        }
      });
    }
  }

  for (;;) {
    dirty = false;
    reconcile();
    await condition(() => dirty || workflowInfo().continueAsNewSuggested, config.reconcileIntervalMs);
    if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && background.idle);
      await continueAsNew<typeof FleetWorkflow>({
        fleetId: input.fleetId,
        config: autoscale ? config : undefined,
        carried: { hosts, nextHost, counters },
      });
    }
  }
}
