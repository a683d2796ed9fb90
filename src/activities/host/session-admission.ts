import { SbxErrorType, sbxFailure } from '../../common/errors.js';

/**
 * Holds a host to its maximum of sessions when creates run at the same time. A create takes its slot
 * before it makes anything and keeps it until its sandbox exists, so two creates never both take the
 * last one (a count read from storage and checked before each create lets both through).
 *
 * The sessions are listed from storage once (a listing reads every session: on ZFS a `zfs get` over
 * all of them, per create) and then followed here: a create adds its sandbox, a removal drops it. A
 * failed create or removal may have left anything behind, so storage is listed again at the next
 * create. Removals made elsewhere (reconcile) leave the count high, never low: a create that finds
 * the host full lists storage again before it is refused.
 */
export class SessionAdmission {
  private listed: Promise<Set<string>> | undefined;
  /** Creates holding a slot whose sandbox may not exist yet. */
  private readonly pending = new Set<string>();
  /** Sandboxes killed for removal: their session is destroyed, so their slot is free before their filesystem goes. */
  private readonly leaving = new Set<string>();

  constructor(
    private readonly hostId: string,
    private readonly maxSessions: number,
    private readonly list: () => Promise<string[]>,
  ) {}

  /**
   * Runs `create` in a slot of its own; a sandbox the host already holds (a retry) takes none.
   * `create` learns which: true when the sandbox is new to this host.
   */
  async admit<T>(sandboxId: string, create: (isNew: boolean) => Promise<T>): Promise<T> {
    const reserved = await this.reserve(sandboxId);
    try {
      const made = await create(reserved);
      (await this.sessions()).add(sandboxId);
      return made;
    } catch (err) {
      this.listed = undefined;
      throw err;
    } finally {
      if (reserved) this.pending.delete(sandboxId);
    }
  }

  /** `sandboxId` was killed for removal: its slot is free now, though its removal is still to come. */
  leave(sandboxId: string): void {
    this.leaving.add(sandboxId);
  }

  /** Runs a removal of `sandboxId`, whose slot is free once it succeeded. */
  async remove(sandboxId: string, removal: () => Promise<void>): Promise<void> {
    try {
      await removal();
    } catch (err) {
      this.listed = undefined;
      throw err;
    }
    this.leaving.delete(sandboxId);
    const listed = await this.listed?.catch(() => undefined);
    listed?.delete(sandboxId);
  }

  private async reserve(sandboxId: string): Promise<boolean> {
    for (const fresh of [false, true]) {
      const listed = await this.sessions(fresh);
      // Nothing awaits between this check and the reservation: no other create runs in between.
      if (listed.has(sandboxId) || this.pending.has(sandboxId)) return false;
      const held = [...listed].filter((id) => !this.leaving.has(id)).length + [...this.pending].filter((id) => !listed.has(id)).length;
      if (held < this.maxSessions) {
        this.pending.add(sandboxId);
        return true;
      }
    }
    throw sbxFailure(SbxErrorType.MaxSessionsReached, `host ${this.hostId} already holds its maximum of ${this.maxSessions} sessions`);
  }

  private sessions(fresh = false): Promise<Set<string>> {
    if (fresh || !this.listed) {
      const listing = this.list().then((ids) => new Set(ids));
      listing.catch(() => {
        if (this.listed === listing) this.listed = undefined;
      });
      this.listed = listing;
    }
    return this.listed;
  }
}
