import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { fleetWorkflowId } from '../common/names.js';
import { fleetStatusQuery } from '../workflows/messages.js';

export interface MetricsServer {
  close(): Promise<void>;
}

/**
 * Prometheus metrics on `/metrics`, read from the fleet workflow's status at scrape time: the
 * workflow is the one source of truth, so any control worker reports the same numbers.
 */
export async function startMetrics(port: number, client: Client, fleetId: string | undefined, logger: Logger): Promise<MetricsServer> {
  const registry = new Registry();
  const hosts = new Gauge({ name: 'sbx_fleet_hosts', help: 'Hosts by state', labelNames: ['state'], registers: [registry] });
  const sessions = new Gauge({ name: 'sbx_fleet_sessions', help: 'Sessions placed on the fleet', registers: [registry] });
  const warm = new Gauge({ name: 'sbx_fleet_free_slots', help: 'Free slots on ready hosts plus expected slots of booting ones', registers: [registry] });
  const waiting = new Gauge({ name: 'sbx_fleet_waiting_placements', help: 'Creates waiting for capacity', registers: [registry] });
  const events = new Gauge({ name: 'sbx_fleet_events_total', help: 'Provisions, terminations and placements by outcome', labelNames: ['event'], registers: [registry] });

  const collect = async () => {
    if (!fleetId) return;
    const status = await client.workflow.getHandle(fleetWorkflowId(fleetId)).query(fleetStatusQuery);
    hosts.reset();
    for (const state of ['provisioning', 'ready', 'draining', 'terminating', 'lost']) {
      hosts.set({ state }, status.hosts.filter((h) => h.state === state).length);
    }
    sessions.set(status.hosts.reduce((n, h) => n + h.sessions.length, 0));
    warm.set(status.capacity);
    waiting.set(status.waitingPlacements);
    for (const [event, value] of Object.entries(status.counters)) events.set({ event }, value);
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
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
