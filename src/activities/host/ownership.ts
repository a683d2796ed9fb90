import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { SbxErrorType, sbxFailure } from '../../common/errors.js';
import { sessionWorkflowId, WARM_PREFIX } from '../../common/names.js';
import type { SandboxOrigin } from '../../common/sandbox.js';

export interface OwnerRecord {
  workflowId: string;
  /** The run that recorded it; for audit only, since continue-as-new changes the run. */
  runId?: string;
  at: string;
}

/**
 * Which workflow owns each sandbox on this host, and the checks every per-sandbox host activity makes
 * against the calling workflow (as Temporal reports it to the activity, which no caller can forge).
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
 *   it to the claiming session with `transfer`.
 * - A sandbox with no record was made before owners were recorded: the session named for it
 *   (`sbx-session-<sandboxId>`) adopts it at its first call; a warm one is assigned at host start from
 *   its pool's answer (see `adopt`), and until then refused to everyone.
 */
export class SandboxOwners {
  constructor(
    private readonly dir: string,
    private readonly sandboxExists: (sandboxId: string) => Promise<boolean>,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async ownerOf(sandboxId: string): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(sandboxId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    // Records are written whole (rename or link); an unreadable one belongs to nobody.
    try {
      return (JSON.parse(text) as OwnerRecord).workflowId ?? '';
    } catch {
      return '';
    }
  }

  /** Refuses (NotOwner) unless the calling workflow owns `sandboxId`. */
  async authorize(sandboxId: string): Promise<void> {
    const caller = callingWorkflow();
    const owner = await this.ownerOf(sandboxId);
    if (owner === caller.workflowId) return;
    if (owner === undefined && caller.workflowId === sessionWorkflowId(sandboxId) && (await this.recordIfNone(sandboxId, caller))) return;
    throw notOwner(sandboxId, caller.workflowId);
  }

  /**
   * A create records the new sandbox's owner before anything is made. A copy of another sandbox's
   * snapshot needs that source's owner: only the session that owns the data may fork it.
   */
  async authorizeCreate(sandboxId: string, origin: SandboxOrigin): Promise<void> {
    const caller = callingWorkflow();
    const owner = sandboxId.startsWith(WARM_PREFIX) ? caller.workflowId : sessionWorkflowId(sandboxId);
    if (origin.kind === 'snapshot') {
      // A forked session asks for its copy again once it is made: that reads nothing of the source.
      const copied = caller.workflowId === owner && (await this.ownerOf(sandboxId)) === owner && (await this.sandboxExists(sandboxId));
      if (!copied) await this.authorize(origin.sandboxId);
    } else if (caller.workflowId !== owner) {
      throw notOwner(sandboxId, caller.workflowId);
    }
    const recorded = await this.ownerOf(sandboxId);
    if (recorded === owner) return;
    if (recorded === undefined && (await this.recordIfNone(sandboxId, { workflowId: owner, runId: caller.runId }))) return;
    throw notOwner(sandboxId, caller.workflowId);
  }

  /** The owner hands its sandbox to a session (a warm pool's claim); repeating it is a no-op. */
  async transfer(sandboxId: string, toSessionId: string): Promise<void> {
    const to = sessionWorkflowId(toSessionId);
    if ((await this.ownerOf(sandboxId)) === to) return;
    await this.authorize(sandboxId);
    const tmp = await this.writeTemp({ workflowId: to, runId: callingWorkflow().runId, at: new Date().toISOString() });
    await rename(tmp, this.path(sandboxId));
  }

  /**
   * Host start, before any activity runs: records owners the host learnt from Temporal for sandboxes
   * that have none (warm sandboxes made before owners were recorded), and drops the records of
   * sandboxes that are gone.
   */
  async reconcile(sandboxIds: readonly string[], owners: ReadonlyMap<string, string>): Promise<void> {
    for (const [sandboxId, workflowId] of owners) {
      if ((await this.ownerOf(sandboxId)) === undefined) await this.recordIfNone(sandboxId, { workflowId });
    }
    const present = new Set(sandboxIds);
    for (const file of await readdir(this.dir)) {
      const sandboxId = file.endsWith('.json') ? file.slice(0, -'.json'.length) : undefined;
      if (file.startsWith('.tmp-') || (sandboxId !== undefined && !present.has(sandboxId))) await rm(join(this.dir, file), { force: true });
    }
  }

  /** Writes a record unless one exists; true when the record (new or found) names `owner`. */
  private async recordIfNone(sandboxId: string, owner: { workflowId: string; runId?: string }): Promise<boolean> {
    const tmp = await this.writeTemp({ ...owner, at: new Date().toISOString() });
    try {
      await link(tmp, this.path(sandboxId));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return (await this.ownerOf(sandboxId)) === owner.workflowId;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async writeTemp(record: OwnerRecord): Promise<string> {
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
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
