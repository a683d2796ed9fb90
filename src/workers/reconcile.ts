import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Runtime, Storage } from '../activities/host/backends.js';
import { warmPoolStatuses } from '../client/warm-pools.js';
import { sessionWorkflowId, WARM_PREFIX, warmPoolWorkflowId } from '../common/names.js';
import type { SandboxOwners } from '../activities/host/ownership.js';
import type { HostConfig } from './host-config.js';
import { planReconcile, sandboxOwner, type OwnerClaim, type ReconcilePlan } from './reconcile-plan.js';

const POOL_QUERY_DEADLINE_MS = 10_000;

export interface Reconciler {
  /** Works out what a pass would do; changes nothing. */
  plan(): Promise<ReconcilePlan>;
  /** One pass: plans, then deletes, quarantines and releases as planned. */
  run(): Promise<ReconcilePlan>;
}

/**
 * Reconciles what a host holds against Temporal. A sandbox whose owner (session workflow, or warm
 * pool) runs is kept; one whose session workflow closed is deleted; one nobody knows, which is what a
 * host started against the wrong namespace or a reset server sees for every session, is quarantined:
 * marked, its sandbox stopped, its data kept, and deleted only once the grace period has passed.
 */
export function createReconciler(
  config: Pick<HostConfig, 'namespace' | 'quarantineGraceMs'>,
  connection: Connection,
  storage: Storage,
  runtime: Runtime,
  logger: Logger,
  owners?: SandboxOwners,
): Reconciler {
  const client = new Client({ connection, namespace: config.namespace });
  /** Owners that warm pools report for sandboxes made before the host recorded owners. */
  let reported = new Map<string, string>();
  let firstPass = true;

  const sessionClaim = async (sessionId: string): Promise<OwnerClaim> => {
    try {
      return (await client.workflow.getHandle(sessionWorkflowId(sessionId)).describe()).status.name === 'RUNNING' ? 'claimed' : 'closed';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'unknown';
      throw err;
    }
  };

  const plan = async (): Promise<ReconcilePlan> => {
    const [datasets, containers, quarantined] = await Promise.all([storage.listSandboxes(), runtime.list(), storage.quarantined()]);
    const pools = datasets.some((id) => id.startsWith(WARM_PREFIX))
      ? await connection
          .withDeadline(Date.now() + POOL_QUERY_DEADLINE_MS, () => warmPoolStatuses(client))
          .then((statuses) => statuses.flatMap((p) => p.sandboxes.map((s) => ({ ...s, pool: warmPoolWorkflowId(p.fleetId, p.template) }))))
          .catch((err: Error) => {
            logger.warn({ error: err.message }, 'could not ask the warm pools; keeping every warm sandbox');
            return undefined;
          })
      : [];
    const claims = new Map<string, OwnerClaim>();
    reported = new Map();
    for (const id of datasets) {
      const owner = sandboxOwner(id, WARM_PREFIX, pools);
      claims.set(id, owner.kind === 'session' ? await sessionClaim(owner.sessionId) : owner.kind === 'unknown' ? 'unknown' : 'claimed');
      const pool = pools?.find((s) => s.sandboxId === id)?.pool;
      if (owner.kind === 'pool' && pool) reported.set(id, pool);
      if (owner.kind === 'session' && id.startsWith(WARM_PREFIX)) reported.set(id, sessionWorkflowId(owner.sessionId));
    }
    return planReconcile({ datasets, containers, claims, quarantined, now: Date.now(), graceMs: config.quarantineGraceMs });
  };

  return {
    plan,
    async run() {
      const planned = await plan();
      for (const id of planned.removeSessions) {
        await runtime.destroy(id);
        await storage.destroySandbox(id);
      }
      for (const id of planned.quarantine) {
        await storage.setQuarantine(id, Date.now());
        await runtime.destroy(id);
      }
      for (const id of planned.release) await storage.setQuarantine(id, undefined);
      for (const id of planned.removeContainers) await runtime.destroy(id);
      // Owner records are settled at the start pass only: a later pass could race a create that has
      // recorded its owner but not yet made its dataset.
      if (owners && firstPass) {
        const removed = new Set(planned.removeSessions);
        await owners.reconcile(
          (await storage.listSandboxes()).filter((id) => !removed.has(id)),
          reported,
        );
      }
      firstPass = false;
      const changed = planned.removeSessions.length + planned.quarantine.length + planned.release.length + planned.removeContainers.length;
      const log = changed > 0 ? logger.info.bind(logger) : logger.debug.bind(logger);
      log(
        {
          kept: planned.keep,
          removedSessions: planned.removeSessions,
          quarantined: planned.quarantine,
          released: planned.release,
          held: planned.held,
          removedContainers: planned.removeContainers,
        },
        `reconciled: ${planned.keep.length} session(s) kept, ${planned.removeSessions.length} removed, ` +
          `${planned.quarantine.length} quarantined, ${planned.held.length} held in quarantine, ` +
          `${planned.release.length} released, ${planned.removeContainers.length} stray container(s) removed`,
      );
      return planned;
    },
  };
}

/** Runs a pass every `intervalMs` after the first; a failed pass is logged and the next one tried. */
export function reconcilePeriodically(reconciler: Reconciler, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();
  const tick = () => {
    inFlight = reconciler
      .run()
      .catch((err: Error) => logger.warn({ error: err.message }, 'reconcile failed; trying again at the next interval'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  if (intervalMs > 0) timer = setTimeout(tick, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
