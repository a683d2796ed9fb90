import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { PlacementKind } from '../activities/control/placement.js';
import { fleetWorkflowId, warmPoolWorkflowId } from '../common/names.js';
import { fleetStatusQuery, warmPoolStatusQuery } from '../protocol/messages.js';

export interface MetricsServer {
  /** Records one placement made by this worker's placement activities. */
  observePlacement(kind: PlacementKind, seconds: number): void;
  close(): Promise<void>;
}

/**
 * Prometheus metrics on `/metrics`. Fleet and warm-pool numbers are read from their workflows at
 * scrape time: the workflows are the one source of truth, so any control worker reports the same.
 * Placement latency is what this worker's own placements took.
 */
export async function startMetrics(
  port: number,
  client: Client,
  fleet: { fleetId: string; warmTemplates: string[] } | undefined,
  logger: Logger,
): Promise<MetricsServer> {
  const registry = new Registry();
  const placements = new Histogram({
    name: 'sbx_placement_seconds',
    help: 'Time to find a session its host: warm claim, fleet slot (may wait for a boot), pinned fork slot, explicit or default host',
    labelNames: ['kind'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const pool = new Gauge({
    name: 'sbx_warm_pool_sandboxes',
    help: 'Warm-pool sandboxes by template and state',
    labelNames: ['template', 'state'],
    registers: [registry],
  });
  const poolTarget = new Gauge({
    name: 'sbx_warm_pool_size',
    help: 'Warm-pool target size by template',
    labelNames: ['template'],
    registers: [registry],
  });
  const hosts = new Gauge({ name: 'sbx_fleet_hosts', help: 'Hosts by state', labelNames: ['state'], registers: [registry] });
  const sessions = new Gauge({ name: 'sbx_fleet_sessions', help: 'Sessions placed on the fleet', registers: [registry] });
  const warm = new Gauge({
    name: 'sbx_fleet_free_slots',
    help: 'Free slots on ready hosts plus expected slots of booting ones',
    registers: [registry],
  });
  const waiting = new Gauge({ name: 'sbx_fleet_waiting_placements', help: 'Creates waiting for capacity', registers: [registry] });
  const events = new Gauge({
    name: 'sbx_fleet_events_total',
    help: 'Provisions, terminations and placements by outcome',
    labelNames: ['event'],
    registers: [registry],
  });

  const collect = async () => {
    if (!fleet) return;
    const status = await client.workflow.getHandle(fleetWorkflowId(fleet.fleetId)).query(fleetStatusQuery);
    hosts.reset();
    for (const state of ['provisioning', 'ready', 'draining', 'terminating', 'lost']) {
      hosts.set({ state }, status.hosts.filter((h) => h.state === state).length);
    }
    sessions.set(status.hosts.reduce((n, h) => n + h.sessions.length, 0));
    warm.set(status.capacity);
    waiting.set(status.waitingPlacements);
    for (const [event, value] of Object.entries(status.counters)) events.set({ event }, value);
    for (const template of fleet.warmTemplates) {
      const warmPool = await client.workflow.getHandle(warmPoolWorkflowId(fleet.fleetId, template)).query(warmPoolStatusQuery);
      poolTarget.set({ template }, warmPool.size);
      for (const state of ['ready', 'warming', 'claimed'] as const) pool.set({ template, state }, warmPool[state]);
    }
  };

  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    collect()
      .then(() => registry.metrics())
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch((err: Error) => res.writeHead(503).end(`fleet status unavailable: ${err.message}\n`));
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  logger.info({ port }, 'metrics on /metrics');
  return {
    observePlacement: (kind, seconds) => placements.observe({ kind }, seconds),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
