import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { sessionWorkflowId, WARM_PREFIX } from '../../common/names.js';
import type { SandboxOrigin } from '../../common/sandbox.js';

export interface OwnerRecord {
  workflowId: string;
  /**
   * The first run of the owner's chain of runs (stable across continue-as-new). Unset until the
   * owner's first call when another workflow recorded it (a warm pool's hand-over, a fork's copy).
   */
  chain?: string;
  /** The run that wrote the record; for audit only. */
  runId?: string;
  at: string;
}

type Owner = Omit<OwnerRecord, 'at'>;

/**
 * What Temporal says of run `runId` of `workflowId`: the first run of its chain (undefined when it
 * cannot say) and whether the run is still running.
 */
export type AskRun = (workflowId: string, runId: string) => Promise<{ chain?: string; running: boolean }>;

const MAX_CACHED_CHAINS = 10_000;
/** How long a session's first call on a claimed warm sandbox waits for its pool's hand-over. */
const HAND_OVER_WAIT_MS = 10_000;
const WARM_POOL_OWNER = 'sbx-warmpool-';

/**
 * Which workflow owns each sandbox on this host, and the checks every per-sandbox host activity makes
 * against the calling workflow (as Temporal reports it to the activity, which no caller can forge).
 * An owner is a workflow id and its chain of runs: a workflow started under the same id after the
 * owner was terminated is a new chain, and is refused like any other.
 *
 * Records are files `<dir>/<sandboxId>.json`, outside every sandbox's dataset: the sandbox cannot
 * reach them, and snapshots, rollbacks and fork copies never carry them. A record outlives its
 * sandbox's destroy, so a retried destroy by its owner still passes; the host prunes records of
 * absent sandboxes when it starts.
 *
 * Who owns what:
 * - A new session sandbox (`<sessionId>`) belongs to `sbx-session-<sessionId>`, whoever makes it:
 *   its session (from a template), or the owner of the source snapshot when forking (the fork copy).
 * - A new warm sandbox (`warm-…`) belongs to the workflow that makes it (its warm pool), which hands
 *   it to the claiming session with `transfer`. The pool answers the claim first, so the session's
 *   first call may arrive before the hand-over: it waits for it (`handedTo`), and is refused if the
 *   sandbox goes to anyone else.
 * - A sandbox with no record was made before owners were recorded: the session named for it
 *   (`sbx-session-<sandboxId>`) adopts it at its first call; a warm one is assigned at host start from
 *   its pool's answer (see `reconcile`), and until then refused to everyone.
 */
export class SandboxOwners {
  private readonly chains = new Map<string, Promise<string | undefined>>();
  /** Calls waiting for a warm sandbox's hand-over, woken when its record changes. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly dir: string,
    private readonly sandboxExists: (sandboxId: string) => Promise<boolean>,
    private readonly askRun: AskRun,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async ownerOf(sandboxId: string): Promise<string | undefined> {
    const record = await this.read(sandboxId);
    return record === null ? '' : record?.workflowId;
  }

  /** Refuses (NotOwner) unless the calling workflow owns `sandboxId`. */
  async authorize(sandboxId: string): Promise<void> {
    const caller = await this.caller();
    // Without a record only the session named for the sandbox may take it.
    const mayAdopt = caller.workflowId === sessionWorkflowId(sandboxId);
    if (await this.holds(sandboxId, caller, mayAdopt)) return;
    const claimed = sandboxId.startsWith(WARM_PREFIX) && (await this.handedTo(sandboxId, caller.workflowId));
    if (!claimed || !(await this.holds(sandboxId, caller, false))) throw notOwner(sandboxId, caller.workflowId);
  }

  /**
   * A create records the new sandbox's owner before anything is made. A copy of another sandbox's
   * snapshot needs that source's owner: only the session that owns the data may fork it.
   */
  async authorizeCreate(sandboxId: string, origin: SandboxOrigin): Promise<void> {
    const caller = await this.caller();
    const ownerId = sandboxId.startsWith(WARM_PREFIX) ? caller.workflowId : sessionWorkflowId(sandboxId);
    const owner: Owner = ownerId === caller.workflowId ? caller : { workflowId: ownerId, runId: caller.runId };
    if (origin.kind === 'snapshot') {
      // A forked session asks for its copy again once it is made: that reads nothing of the source.
      const copied = owner === caller && (await this.sandboxExists(sandboxId)) && (await this.holds(sandboxId, caller, false));
      if (!copied) await this.authorize(origin.sandboxId);
    } else if (owner !== caller) {
      throw notOwner(sandboxId, caller.workflowId);
    }
    if (!(await this.holds(sandboxId, owner, true))) throw notOwner(sandboxId, caller.workflowId);
  }

  /**
   * The owner hands its sandbox to a session (a warm pool's claim); repeating it is a no-op. With the
   * claiming run, the record is bound to its chain now, off the session's path: its first call finds
   * the record complete and writes nothing. Without it, or when Temporal cannot say, or when that run
   * has ended, the chain is bound at the session's first call.
   */
  async transfer(sandboxId: string, toSessionId: string, toRunId?: string): Promise<void> {
    const to = sessionWorkflowId(toSessionId);
    if ((await this.ownerOf(sandboxId)) === to) return;
    await this.authorize(sandboxId);
    const chain = toRunId ? await this.runningChainOf(to, toRunId) : undefined;
    await this.replace(sandboxId, { workflowId: to, chain, runId: (await this.caller()).runId });
    for (const wake of this.waiters.get(sandboxId) ?? []) wake();
  }

  /**
   * Host start, before any activity runs: records owners the host learnt from Temporal for sandboxes
   * that have none (warm sandboxes made before owners were recorded), and drops the records of
   * sandboxes that are gone.
   */
  async reconcile(sandboxIds: readonly string[], owners: ReadonlyMap<string, string>): Promise<void> {
    for (const [sandboxId, workflowId] of owners) {
      if ((await this.read(sandboxId)) === undefined) await this.holds(sandboxId, { workflowId }, true);
    }
    const present = new Set(sandboxIds);
    for (const file of await readdir(this.dir)) {
      const sandboxId = file.endsWith('.json') ? file.slice(0, -'.json'.length) : undefined;
      if (file.startsWith('.tmp-') || (sandboxId !== undefined && !present.has(sandboxId))) await rm(join(this.dir, file), { force: true });
    }
  }

  /**
   * True when `sandboxId` is recorded for `owner` (same workflow id and chain), binding a record
   * without a chain to the owner's. With `create`, a sandbox without a record is recorded for `owner`.
   */
  private async holds(sandboxId: string, owner: Owner, create: boolean): Promise<boolean> {
    const record = await this.read(sandboxId);
    if (record === undefined) {
      if (!create) return false;
      if (await this.recordIfNone(sandboxId, owner)) return true;
      return this.holds(sandboxId, owner, false);
    }
    if (record === null || record.workflowId !== owner.workflowId) return false;
    if (record.chain !== undefined && owner.chain !== undefined) return record.chain === owner.chain;
    if (record.chain === undefined && owner.chain !== undefined)
      await this.replace(sandboxId, { ...record, chain: owner.chain, runId: owner.runId });
    return true;
  }

  /**
   * True once a warm pool's sandbox is handed to `workflowId`; false at once when it belongs to
   * anyone but a pool, or when no hand-over comes in time. Only the pool's `transfer` changes it.
   */
  private async handedTo(sandboxId: string, workflowId: string): Promise<boolean> {
    const deadline = Date.now() + HAND_OVER_WAIT_MS;
    for (;;) {
      let wake = () => {};
      // Listening before reading: a hand-over in between is not missed.
      const changed = new Promise<void>((resolve) => (wake = resolve));
      const waiting = this.waiters.get(sandboxId) ?? new Set();
      this.waiters.set(sandboxId, waiting.add(wake));
      const timer = setTimeout(wake, Math.min(1000, Math.max(0, deadline - Date.now())));
      try {
        const owner = await this.ownerOf(sandboxId);
        if (owner === workflowId) return true;
        if (!owner?.startsWith(WARM_POOL_OWNER) || Date.now() >= deadline) return false;
        await changed;
        // The first call of a tool or lifecycle activity: a long wait must not look like a lost worker.
        Context.current().heartbeat();
      } finally {
        clearTimeout(timer);
        waiting.delete(wake);
        if (waiting.size === 0) this.waiters.delete(sandboxId);
      }
    }
  }

  private async caller(): Promise<Owner> {
    const { workflowId, runId } = callingWorkflow();
    if (!runId) return { workflowId };
    return { workflowId, runId, chain: await this.chainOf(workflowId, runId) };
  }

  /** The chain `runId` of `workflowId` belongs to, asked of Temporal once per run. */
  private chainOf(workflowId: string, runId: string): Promise<string | undefined> {
    let chain = this.chains.get(runId);
    if (!chain) {
      chain = this.askRun(workflowId, runId).then((run) => run.chain);
      this.remember(runId, chain);
    }
    return chain;
  }

  /**
   * The chain of a run a claim names, asked of Temporal now (a cached answer may predate the run's
   * end). The run id is the claimant's word: only a run of `workflowId` that still runs binds a
   * chain (Temporal finds no run `runId` under another workflow's id). An ended one, which a forged
   * claim could name to shut the session's next run out of its sandbox, binds none.
   */
  private async runningChainOf(workflowId: string, runId: string): Promise<string | undefined> {
    const run = await this.askRun(workflowId, runId).catch(() => undefined);
    if (!run?.running || run.chain === undefined) return undefined;
    this.remember(runId, Promise.resolve(run.chain));
    return run.chain;
  }

  private remember(runId: string, chain: Promise<string | undefined>): void {
    if (this.chains.size >= MAX_CACHED_CHAINS) this.chains.clear();
    this.chains.set(runId, chain);
    chain.catch(() => this.chains.delete(runId));
  }

  /**
   * The record; undefined when there is none, null when it cannot be read (it belongs to nobody). Read
   * synchronously, as readHostFile is (on every host call's path), but a failure other than a missing
   * file is an error here, not an absent record.
   */
  private async read(sandboxId: string): Promise<OwnerRecord | undefined | null> {
    let text: string;
    try {
      text = readFileSync(this.path(sandboxId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const record = JSON.parse(text) as OwnerRecord;
      return typeof record.workflowId === 'string' ? record : null;
    } catch {
      return null;
    }
  }

  /** Writes a record unless one exists; false when another got there first. */
  private async recordIfNone(sandboxId: string, owner: Owner): Promise<boolean> {
    const tmp = await this.writeTemp(owner);
    try {
      await link(tmp, this.path(sandboxId));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return false;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async replace(sandboxId: string, owner: Owner): Promise<void> {
    await rename(await this.writeTemp(owner), this.path(sandboxId));
  }

  private async writeTemp(owner: Owner): Promise<string> {
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const record: OwnerRecord = { workflowId: owner.workflowId, chain: owner.chain, runId: owner.runId, at: new Date().toISOString() };
    await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    return tmp;
  }

  private path(sandboxId: string): string {
    return join(this.dir, `${sandboxId}.json`);
  }
}

function callingWorkflow(): { workflowId: string; runId?: string } {
  const execution = Context.current().info.workflowExecution;
  // Only workflows own sandboxes: an activity started on its own has no owner to match.
  return { workflowId: execution?.workflowId ?? '', runId: execution?.runId };
}

function notOwner(sandboxId: string, workflowId: string) {
  return sbxFailure(
    SbxErrorType.NotOwner,
    `sandbox ${sandboxId} belongs to another workflow; ${workflowId || 'a caller outside any workflow'} may not act on it`,
  );
}
