import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { SbxError, SbxErrorType } from '../../src/client/errors.js';
import type { SandboxClient } from '../../src/client/sandbox-client.js';
import type { Session } from '../../src/client/session.js';
import type { ExecResult } from '../../src/common/sandbox.js';
import type { ChaosReport } from './report.js';
import type { Rng } from './rng.js';

const LOG = '/workspace/chaos.log';
const FILES = ['/workspace/a.txt', '/workspace/b.txt', '/workspace/c.txt', '/workspace/d.txt'];
/** Turn snapshots a chaos session keeps: small, so pruning runs too. */
const MAX_SNAPSHOTS = 6;
/**
 * An operation that gets no definite answer for this long counts its session as lost. The time runs
 * while every process is up: back-to-back faults on a busy machine delay an answer, they do not lose it.
 */
const GIVE_UP_MS = 5 * 60_000;

/** Nothing ran: the host did not pick the call up (Busy, or HostLost for a session it keeps). */
function nothingRan(err: SbxError): boolean {
  return err.type === SbxErrorType.Busy || (err.type === SbxErrorType.HostLost && /nothing ran, and session .* is kept/.test(err.message));
}

type Files = Map<string, string>;
interface Snap {
  name: string;
  turn?: number;
  files: Files;
}
/** What an exec answered: its stdout, or that its outcome is unknown (then the log says whether it ran). */
type Recorded = { stdout: string } | { unknown: true };

/** What the session should hold: its files, its snapshots in order, its turn and whether it is paused. */
class Model {
  files: Files = new Map();
  snaps: Snap[] = [];
  turn = 0;
  paused?: 'freeze' | 'hibernate';
  execs = new Map<string, Recorded>();

  addTurn(turn: number): void {
    this.snaps.push({ name: `turn-${String(turn).padStart(6, '0')}`, turn, files: new Map(this.files) });
    this.turn = turn;
    // As the workflow prunes: the oldest turn snapshots beyond the maximum; named ones stay.
    const turns = this.snaps.filter((s) => s.turn !== undefined);
    const prune = new Set(turns.slice(0, Math.max(0, turns.length - MAX_SNAPSHOTS)).map((s) => s.name));
    this.snaps = this.snaps.filter((s) => !prune.has(s.name));
  }

  rollback(name: string): void {
    const index = this.snaps.findIndex((s) => s.name === name);
    this.files = new Map(this.snaps[index]!.files);
    this.snaps = this.snaps.slice(0, index + 1);
    this.turn = this.snaps.reduce((turn, s) => Math.max(turn, s.turn ?? 0), 0);
    this.paused = undefined;
  }

  logLines(): number {
    return (this.files.get(LOG) ?? '').split('\n').filter(Boolean).length;
  }
}

/** Stops this session's program: the run records why, and the agent goes on with a new session. */
class Diverged extends Error {}
class Lost extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An answer the session workflow gave (accepted or refused), as opposed to a transport failure or time-out. */
function definite(err: unknown): err is SbxError {
  if (!(err instanceof SbxError)) return false;
  const cause = err.cause;
  return cause instanceof WorkflowUpdateFailedError || cause instanceof ApplicationFailure;
}

const kinds = {
  exec: 30,
  resend: 8,
  writeFiles: 12,
  readFile: 10,
  listDir: 5,
  turnComplete: 12,
  rollback: 6,
  fork: 3,
  pauseFreeze: 3,
  pauseHibernate: 3,
  snapshot: 4,
  destroy: 2,
};
const pausedKinds = { resume: 10, turnComplete: 2, snapshot: 1, rollback: 2, fork: 1, destroy: 1 };
type Kind = keyof typeof kinds | keyof typeof pausedKinds;

/**
 * One seeded agent program against one session at a time, through the public SandboxClient. Each
 * step's answer is checked against the model; an answer lost to a fault is resolved the way an
 * agent would (resend the same toolCallId, read the log, ask `info`) and must still agree.
 */
export class Agent {
  private gen = 0;
  private sessionId = '';
  private session!: Session;
  private model = new Model();
  private step = 0;
  private forks = 0;

  constructor(
    private readonly name: string,
    private readonly rng: Rng,
    private readonly client: SandboxClient,
    private readonly hostId: string,
    private readonly report: ChaosReport,
  ) {}

  async run(steps: number): Promise<void> {
    await this.newSession();
    for (this.step = 1; this.step <= steps; this.step++) {
      const kind: Kind = this.model.paused ? this.rng.weighted(pausedKinds) : this.rng.weighted(kinds);
      try {
        await this.act(kind);
        this.report.stepsDone++;
      } catch (err) {
        if (err instanceof Diverged) this.report.divergences.push({ sessionId: this.sessionId, step: this.step, symptom: err.message });
        else
          this.report.lost.push({ sessionId: this.sessionId, step: this.step, symptom: err instanceof Lost ? err.message : String(err) });
        this.log(`!! ${err instanceof Diverged ? 'DIVERGED' : 'LOST'}: ${(err as Error).message}`);
        await this.destroy(this.session).catch(() => undefined);
        await this.newSession();
      }
    }
    await this.destroy(this.session).catch((err) => {
      this.report.lost.push({ sessionId: this.sessionId, step: this.step, symptom: `final destroy: ${String(err)}` });
    });
  }

  private log(line: string): void {
    this.report.log(`${this.sessionId} #${this.step} ${line}`);
  }

  private async newSession(): Promise<void> {
    this.sessionId = `${this.name}-g${this.gen++}`;
    this.model = new Model();
    // A create that fails still leaves a session to destroy: this one, not the last.
    this.session = this.client.session(this.sessionId);
    this.log('create');
    const { session } = await this.retry('create', () =>
      this.client.createSession({
        sessionId: this.sessionId,
        template: 'busybox',
        hostId: this.hostId,
        idleTimeoutMs: 0,
        maxSnapshots: MAX_SNAPSHOTS,
      }),
    );
    this.session = session;
    this.report.sessionsMade++;
  }

  /**
   * Calls `fn` until the workflow answers: a refusal or failure it sends is thrown; a transport
   * failure or time-out is an unknown outcome, resolved by `recover` (which may answer for it) or by
   * calling again. Busy, or HostLost for a session the host keeps, means nothing ran: wait and call again.
   */
  private async retry<T>(what: string, fn: () => Promise<T>, recover?: () => Promise<T | undefined>): Promise<T> {
    const started = Date.now();
    let uncertain = false;
    for (;;) {
      try {
        if (uncertain && recover) {
          const answered = await recover();
          if (answered !== undefined) return answered;
        }
        return await fn();
      } catch (err) {
        if (err instanceof Diverged || err instanceof Lost) throw err;
        if (definite(err) && !nothingRan(err)) {
          if (err.type === SbxErrorType.HostLost && /may or may not have completed/.test(err.message) && what !== 'exec') {
            // The host died mid-step; its retries ran out before it came back: try the step again.
          } else throw err;
        }
        if (this.givenUp(started)) throw new Lost(`${what}: no answer for ${GIVE_UP_MS / 1000} s with every process up: ${String(err)}`);
        if (!definite(err)) {
          uncertain = true;
          this.report.uncertain++;
        }
        await sleep(1000);
      }
    }
  }

  /** Whether a call made at `started` has waited GIVE_UP_MS since the last fault ended. */
  private givenUp(started: number): boolean {
    return Date.now() - Math.max(started, this.report.quietSince()) > GIVE_UP_MS;
  }

  private diverge(message: string): never {
    throw new Diverged(message);
  }

  private async act(kind: Kind): Promise<void> {
    switch (kind) {
      case 'exec':
        return this.exec();
      case 'resend':
        return this.resend();
      case 'writeFiles':
        return this.writeFiles();
      case 'readFile':
        return this.readFile(this.rng.pick([LOG, ...FILES]));
      case 'listDir':
        return this.listDir();
      case 'turnComplete':
        return this.turnComplete();
      case 'rollback':
        return this.rollback();
      case 'fork':
        return this.fork();
      case 'pauseFreeze':
        return this.pause('freeze');
      case 'pauseHibernate':
        return this.pause('hibernate');
      case 'resume':
        return this.resume();
      case 'snapshot':
        return this.snapshot();
      case 'destroy':
        await this.destroy(this.session);
        return this.newSession();
    }
  }

  private async exec(): Promise<void> {
    const token = `${this.sessionId}.${this.step}`;
    const toolCallId = `t-${token}`;
    const lines = this.model.logLines();
    this.log(`exec ${toolCallId}`);
    const answer = await this.execAnswer(toolCallId, token);
    if ('unknown' in answer) {
      // Whether it ran is in the log: once or not at all.
      const seen = await this.tokenCount(token);
      this.report.outcomeUnknown++;
      this.log(`exec ${toolCallId}: outcome unknown; the log has it ${seen} time(s)`);
      if (seen > 1) this.runTwice(token, seen);
      if (seen >= 1) this.model.files.set(LOG, `${this.model.files.get(LOG) ?? ''}${token}\n`);
      this.model.execs.set(toolCallId, { unknown: true });
      return;
    }
    this.model.files.set(LOG, `${this.model.files.get(LOG) ?? ''}${token}\n`);
    this.model.execs.set(toolCallId, { stdout: answer.stdout });
    this.report.execSucceeded(this.hostId);
    if (answer.exitCode !== 0 || answer.stdout !== `${lines + 1}\n`) {
      const seen = await this.tokenCount(token);
      if (seen > 1) this.runTwice(token, seen);
      this.diverge(
        `exec ${toolCallId}: expected exit 0 and '${lines + 1}', got exit ${answer.exitCode} '${answer.stdout.trim()}' ${answer.stderr.trim()}`,
      );
    }
  }

  private runTwice(token: string, seen: number): void {
    this.report.runTwice++;
    this.diverge(`tool call ${token} ran ${seen} times`);
  }

  /** An exec's answer: a lost answer is asked for again with the same toolCallId, which never runs it twice. */
  private async execAnswer(toolCallId: string, token: string): Promise<ExecResult | { unknown: true }> {
    const command = `echo ${token} >> ${LOG} && grep -c . ${LOG}`;
    const started = Date.now();
    for (;;) {
      try {
        return await this.retry('exec', () => this.session.exec({ toolCallId, command }));
      } catch (err) {
        if (err instanceof SbxError && err.type === SbxErrorType.OutcomeUnknown) return { unknown: true };
        if (err instanceof SbxError && err.type === SbxErrorType.HostLost && /may or may not/.test(err.message) && !this.givenUp(started)) {
          this.log(`exec ${toolCallId}: ${err.type}; resending it`);
          this.report.resent++;
          await sleep(1000);
          continue;
        }
        throw err;
      }
    }
  }

  private async tokenCount(token: string): Promise<number> {
    const content = await this.readActual(LOG);
    return (content ?? '').split('\n').filter((line) => line === token).length;
  }

  private async resend(): Promise<void> {
    const ids = [...this.model.execs.keys()];
    if (ids.length === 0) return this.exec();
    const toolCallId = this.rng.pick(ids);
    const recorded = this.model.execs.get(toolCallId)!;
    const token = toolCallId.slice(2);
    this.log(`resend ${toolCallId}`);
    this.report.resent++;
    const answer = await this.execAnswer(toolCallId, token);
    if ('unknown' in answer) {
      if (!('unknown' in recorded))
        this.diverge(`resent ${toolCallId} answered OutcomeUnknown; it had answered '${recorded.stdout.trim()}'`);
    } else if ('unknown' in recorded) {
      this.diverge(`resent ${toolCallId} answered '${answer.stdout.trim()}'; it had answered OutcomeUnknown`);
    } else if (answer.stdout !== recorded.stdout) {
      this.diverge(`resent ${toolCallId} answered '${answer.stdout.trim()}', not its recorded '${recorded.stdout.trim()}'`);
    }
    // Running it again would append its token: the log must be what the model says.
    await this.readFile(LOG);
  }

  private async writeFiles(): Promise<void> {
    const count = this.rng.int(1, 2);
    const files = Array.from({ length: count }, () => ({
      path: this.rng.pick(FILES),
      content: `${this.sessionId} step ${this.step} ${this.rng.int(0, 1e9)}\n`,
    }));
    this.log(`writeFiles ${files.map((f) => f.path).join(' ')}`);
    await this.retry('writeFiles', () => this.session.writeFiles(files));
    for (const file of files) this.model.files.set(file.path, file.content);
  }

  /** The file's content, or undefined when it does not exist. */
  private async readActual(path: string): Promise<string | undefined> {
    try {
      return (await this.retry('readFile', () => this.session.readFile(path))).content;
    } catch (err) {
      if (err instanceof SbxError && err.type === SbxErrorType.NotFound) return undefined;
      throw err;
    }
  }

  private async readFile(path: string): Promise<void> {
    this.log(`readFile ${path}`);
    const actual = await this.readActual(path);
    const expected = this.model.files.get(path);
    if (actual !== expected) {
      const tokens = (actual ?? '').split('\n').filter(Boolean);
      const twice = tokens.length - new Set(tokens).size;
      if (path === LOG && twice > 0) this.report.runTwice += twice;
      this.diverge(`readFile ${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  }

  private async listDir(): Promise<void> {
    this.log('listDir /workspace');
    const listed = await this.retry('listDir', () => this.session.listDir('/workspace'));
    const actual = listed.entries
      .map((e) => `/workspace/${e.name}`)
      .filter((p) => p === LOG || FILES.includes(p))
      .sort();
    const expected = [...this.model.files.keys()].sort();
    if (actual.join() !== expected.join()) this.diverge(`listDir: expected ${expected.join(' ')}, got ${actual.join(' ')}`);
  }

  private async info() {
    return this.retry('info', () => this.session.info());
  }

  private async turnComplete(): Promise<void> {
    const expected = this.model.turn + 1;
    this.log(`turnComplete (expect ${expected})`);
    let recovered = false;
    // A turn whose answer was lost shows in info; one more on an unchanged filesystem is the same snapshot.
    const result = await this.retry(
      'turnComplete',
      () => this.session.turnComplete(),
      async () => {
        recovered = true;
        await sleep(2000);
        const info = await this.info();
        return info.turn >= expected ? { turn: info.turn, snapshotId: '', usedBytes: 0 } : undefined;
      },
    );
    if (result.turn !== expected && !(recovered && result.turn > expected))
      this.diverge(`turnComplete: expected turn ${expected}, got ${result.turn}`);
    for (let turn = expected; turn <= result.turn; turn++) this.model.addTurn(turn);
    await this.checkSnapshots();
  }

  private async checkSnapshots(): Promise<void> {
    const info = await this.info();
    const actual = info.snapshots.map((s) => s.name).join(' ');
    const expected = this.model.snaps.map((s) => s.name).join(' ');
    if (actual !== expected || info.turn !== this.model.turn) {
      this.diverge(`snapshots: expected turn ${this.model.turn} [${expected}], got turn ${info.turn} [${actual}]`);
    }
    const state = this.model.paused ? 'paused' : 'active';
    if (info.state !== state) {
      if (info.state === 'failed') throw new Lost(`session failed: ${info.failureReason}`);
      this.diverge(`state: expected ${state}, got ${info.state}`);
    }
  }

  private async snapshot(): Promise<void> {
    const name = `s${this.step}`;
    this.log(`snapshot ${name}`);
    await this.retry('snapshot', () => this.session.snapshot(name));
    this.model.snaps.push({ name, files: new Map(this.model.files) });
    await this.checkSnapshots();
  }

  private async rollback(): Promise<void> {
    if (this.model.snaps.length === 0) return this.turnComplete();
    const target = this.rng.pick(this.model.snaps);
    this.log(`rollback ${target.name}`);
    const request = target.turn !== undefined ? { turn: target.turn } : { snapshot: target.name };
    // A rollback is idempotent: one whose answer was lost is simply made again.
    const result = await this.retry('rollback', () => this.session.rollback(request));
    this.model.rollback(target.name);
    if (result.snapshotId !== target.name || result.turn !== this.model.turn) {
      this.diverge(`rollback ${target.name}: answered ${result.snapshotId} turn ${result.turn}, expected turn ${this.model.turn}`);
    }
    await this.checkSnapshots();
    await this.checkFiles(this.session, this.model.files, 'after rollback');
  }

  /** Every managed file of `session` is as `files` says (present with that content, or absent). */
  private async checkFiles(session: Session, files: Files, when: string): Promise<void> {
    const listed = await this.retry('listDir', () => session.listDir('/workspace'));
    const present = listed.entries
      .map((e) => `/workspace/${e.name}`)
      .filter((p) => p === LOG || FILES.includes(p))
      .sort();
    const expected = [...files.keys()].sort();
    if (present.join() !== expected.join())
      this.diverge(`${session.id} ${when}: expected files ${expected.join(' ')}, got ${present.join(' ')}`);
    for (const path of expected) {
      const content = (await this.retry('readFile', () => session.readFile(path))).content;
      if (content !== files.get(path))
        this.diverge(`${session.id} ${when}: ${path} is ${JSON.stringify(content)}, expected ${JSON.stringify(files.get(path))}`);
    }
  }

  private async fork(): Promise<void> {
    if (this.model.snaps.length === 0) return this.turnComplete();
    const source = this.rng.pick(this.model.snaps);
    const newSessionId = `${this.sessionId}-f${this.forks++}`;
    this.log(`fork ${source.name} -> ${newSessionId}`);
    const request = source.turn !== undefined ? { newSessionId, turn: source.turn } : { newSessionId, snapshot: source.name };
    const forked = await this.retry(
      'fork',
      () =>
        this.session.fork(request).catch(async (err) => {
          // The first fork made it after all: its answer was lost.
          if (err instanceof SbxError && err.type === SbxErrorType.SessionExists) return this.client.session(newSessionId);
          throw err;
        }),
      async () => {
        const info = await this.client
          .session(newSessionId)
          .info()
          .catch(() => undefined);
        if (!info) return undefined;
        const forked = this.client.session(newSessionId);
        await this.retry('fork wait', () => forked.waitFor((i) => i.state !== 'creating'));
        return forked;
      },
    );
    this.report.sessionsMade++;
    const info = await this.retry('fork info', () => forked.info());
    if (info.state !== 'active') {
      // A failed fork is still a session: the agent removes it, as a person would.
      await this.destroy(forked).catch(() => undefined);
      throw new Lost(`fork ${newSessionId} is ${info.state} (${info.failureReason ?? ''})`);
    }
    await this.checkFiles(forked, source.files, `forked from ${source.name}`);
    await this.destroy(forked);
    // The source is untouched.
    await this.checkSnapshots();
  }

  private async pause(mode: 'freeze' | 'hibernate'): Promise<void> {
    this.log(`pause ${mode}`);
    await this.retry(`pause ${mode}`, async () => {
      await this.session.pause(mode, { wait: false });
      const info = await this.session.waitFor((i) => i.state !== 'active', 'paused', 60_000);
      if (info.state === 'failed') throw new Lost(`pause ${mode}: session failed (${info.failureReason})`);
    });
    this.model.paused = mode;
    const info = await this.info();
    if (info.pauseMode !== mode) this.diverge(`pause ${mode}: info says ${info.state} ${info.pauseMode}`);
  }

  private async resume(): Promise<void> {
    this.log('resume');
    await this.retry('resume', async () => {
      await this.session.resume({ wait: false });
      const info = await this.session.waitFor((i) => i.state !== 'paused', 'active', 60_000);
      if (info.state === 'failed') throw new Lost(`resume: session failed (${info.failureReason})`);
    });
    this.model.paused = undefined;
    await this.checkSnapshots();
  }

  private async destroy(session: Session): Promise<void> {
    this.log(`destroy ${session.id}`);
    const info = await this.retry('destroy', () =>
      session.destroy().catch(async (err) => {
        // Destroyed already: an earlier destroy's answer was lost.
        if (err instanceof SbxError && err.type === SbxErrorType.SessionDestroyed) return { state: 'destroyed' as const };
        throw err;
      }),
    );
    if (info.state !== 'destroyed') throw new Lost(`destroy ${session.id} ended ${info.state}`);
  }
}
