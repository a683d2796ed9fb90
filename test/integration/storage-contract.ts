import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { SbxErrorType } from '../../src/common/errors.js';
import type { Storage } from '../../src/activities/host/backends.js';
import { poolStatus } from '../../src/activities/host/zfs-parse.js';
import { makeBusyboxRootfs } from '../../src/activities/host/busybox-template.js';

export interface StorageUnderTest {
  storage: Storage;
  /** A directory the suite may use for template sources. */
  scratch: string;
  cleanup(): Promise<void>;
}

const failureType = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (err: { type?: string }) => err.type ?? String(err),
  );

/**
 * What every Storage must do, run against each backend on real disks: the session lifecycle an agent
 * goes through (template, session, turns, rollback, fork, destroy), idempotency of every step, and the
 * typed failures a caller acts on. Tests run in order and build on each other.
 */
export function describeStorageContract(name: string, makeStorage: () => Promise<StorageUnderTest>): void {
  describe(`Storage contract: ${name}`, () => {
    let under: StorageUnderTest;
    let storage: Storage;
    const template = 'busybox';
    const rootfsOf = async (id: string) => join(await storage.sandboxPath(id), 'rootfs');
    // The storage is under test, not the file API: files are read and written on the host directly.
    const hostPath = async (id: string, path: string) => join(await rootfsOf(id), path.startsWith('/') ? path : join('workspace', path));
    const read = async (id: string, path: string) => readFile(await hostPath(id, path), 'utf8');
    const write = async (id: string, path: string, content: string) => {
      const file = await hostPath(id, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    };

    beforeAll(async () => {
      under = await makeStorage();
      storage = under.storage;
    });

    afterAll(async () => {
      await under?.cleanup();
    });

    it('imports a template from a directory, and again from a tarball as a new version', async () => {
      const source = join(under.scratch, 'template-src');
      await makeBusyboxRootfs(source);
      await writeFile(join(source, 'etc', 'sbx-template'), 'v1\n');
      expect(await storage.templateExists(template)).toBe(false);
      await storage.importTemplate(template, { dir: source });
      expect(await storage.templateExists(template)).toBe(true);

      await storage.createSandbox('before-v2', { kind: 'template', template });
      await writeFile(join(source, 'etc', 'sbx-template'), 'v2\n');
      const tarball = join(under.scratch, 'template-v2.tar');
      await execa('tar', ['-c', '-f', tarball, '-C', source, '.']);
      await storage.importTemplate(template, { tar: tarball });

      await storage.createSandbox('after-v2', { kind: 'template', template });
      expect(await read('before-v2', '/etc/sbx-template')).toBe('v1\n');
      expect(await read('after-v2', '/etc/sbx-template')).toBe('v2\n');
      expect((await stat(await hostPath('after-v2', '/bin/busybox'))).size).toBeGreaterThan(100_000);
      await storage.destroySandbox('before-v2');
      await storage.destroySandbox('after-v2');
    });

    it('leaves nothing behind when an import fails, and keeps the last good version', async () => {
      const missing = join(under.scratch, 'no-such.tar');
      expect(await failureType(storage.importTemplate('broken', { tar: missing }))).toBe(SbxErrorType.InvalidArgument);
      expect(await storage.templateExists('broken')).toBe(false);
      expect(await failureType(storage.createSandbox('from-broken', { kind: 'template', template: 'broken' }))).toBe(
        SbxErrorType.TemplateNotFound,
      );

      await expect(storage.importTemplate(template, { tar: missing })).rejects.toMatchObject({ message: expect.stringMatching(/undone/) });
      await storage.createSandbox('after-failed', { kind: 'template', template });
      expect(await read('after-failed', '/etc/sbx-template')).toBe('v2\n');
      await storage.destroySandbox('after-failed');
    });

    it('creates a session idempotently and refuses the same id from another origin', async () => {
      await storage.createSandbox('alpha', { kind: 'template', template });
      await write('alpha', 'notes.txt', 'first turn\n');
      await storage.createSandbox('alpha', { kind: 'template', template });
      expect(await read('alpha', '/workspace/notes.txt')).toBe('first turn\n');
      expect(await storage.sandboxExists('alpha')).toBe(true);
      expect(await storage.listSandboxes()).toContain('alpha');

      expect(await failureType(storage.createSandbox('alpha', { kind: 'template', template: 'other' }))).toBe(SbxErrorType.AlreadyExists);
      expect(await failureType(storage.createSandbox('nowhere', { kind: 'template', template: 'no-such-template' }))).toBe(
        SbxErrorType.TemplateNotFound,
      );
      expect(await storage.sandboxExists('nowhere')).toBe(false);
    });

    it('snapshots turns idempotently, lists them oldest first and rolls back', async () => {
      const first = await storage.snapshot('alpha', 'turn-000001');
      expect(await storage.snapshot('alpha', 'turn-000001')).toEqual(first);
      await write('alpha', 'notes.txt', 'second turn\n');
      await write('alpha', 'extra.txt', 'only in turn 2\n');
      await storage.snapshot('alpha', 'turn-000002');
      await write('alpha', 'notes.txt', 'uncommitted\n');

      const listed = await storage.listSnapshots('alpha');
      expect(listed.map((s) => s.name)).toEqual(['turn-000001', 'turn-000002']);
      expect(listed[0]!.createTxg).toBeLessThan(listed[1]!.createTxg);
      expect(listed[1]!.referencedBytes).toBeGreaterThan(0);
      expect(await storage.usedBytes('alpha')).toBeGreaterThan(0);

      await storage.rollback('alpha', 'turn-000001');
      expect(await read('alpha', 'notes.txt')).toBe('first turn\n');
      await expect(read('alpha', 'extra.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await storage.listSnapshots('alpha')).map((s) => s.name)).toEqual(['turn-000001']);
      await storage.rollback('alpha', 'turn-000001');

      expect(await failureType(storage.rollback('alpha', 'turn-000002'))).toBe(SbxErrorType.SnapshotNotFound);
      await storage.snapshot('alpha', 'scratch');
      await storage.destroySnapshot('alpha', 'scratch');
      await storage.destroySnapshot('alpha', 'scratch');
      expect((await storage.listSnapshots('alpha')).map((s) => s.name)).toEqual(['turn-000001']);
    });

    it('forks an independent session from a snapshot, which outlives its source', async () => {
      await write('alpha', 'notes.txt', 'after the fork point\n');
      const origin = { kind: 'snapshot', sandboxId: 'alpha', snapshot: 'turn-000001' } as const;
      await storage.createSandbox('beta', origin);
      await storage.createSandbox('beta', origin);
      expect(await read('beta', 'notes.txt')).toBe('first turn\n');
      expect(await storage.listSnapshots('beta')).toEqual([]);

      await write('beta', 'notes.txt', 'written in the fork\n');
      expect(await read('alpha', 'notes.txt')).toBe('after the fork point\n');
      await storage.rollback('alpha', 'turn-000001');
      expect(await read('beta', 'notes.txt')).toBe('written in the fork\n');

      expect(await failureType(storage.createSandbox('beta', { kind: 'template', template }))).toBe(SbxErrorType.AlreadyExists);
      expect(await failureType(storage.createSandbox('gamma', { kind: 'snapshot', sandboxId: 'alpha', snapshot: 'turn-000009' }))).toBe(
        SbxErrorType.SnapshotNotFound,
      );

      await storage.destroySandbox('alpha');
      expect(await storage.sandboxExists('alpha')).toBe(false);
      expect(await read('beta', 'notes.txt')).toBe('written in the fork\n');
      await storage.snapshot('beta', 'turn-000001');
      expect((await storage.listSnapshots('beta')).map((s) => s.name)).toEqual(['turn-000001']);
    });

    it(name === 'zfs' ? 'enforces a quota: a write beyond it fails with NoSpace' : 'records a quota without enforcing it', async () => {
      const MiB = 1024 * 1024;
      await storage.createSandbox('quota', { kind: 'template', template }, 64 * MiB);
      await storage.setQuota('quota', (await storage.usedBytes('quota')) + 16 * MiB);
      const writeAll = async () => {
        for (let i = 0; i < 7; i++) await writeFile(await hostPath('quota', `blob-${i}`), randomBytes(3 * MiB));
      };
      // libuv has no name for EDQUOT (errno 122) and reports it as errno -122.
      if (name === 'zfs')
        expect([-122, -28]).toContain(
          await writeAll().then(
            () => 0,
            (err: NodeJS.ErrnoException) => err.errno,
          ),
        );
      else await writeAll();
      expect(await failureType(storage.setQuota('quota', -1))).toBe(SbxErrorType.InvalidArgument);
      await storage.destroySandbox('quota');
    });

    it('marks a session quarantined, lists it with its time, and clears the mark', async () => {
      await storage.createSandbox('held', { kind: 'template', template });
      expect(await storage.quarantined()).toEqual(new Map());
      await storage.setQuarantine('held', 1_700_000_000_000);
      expect(await storage.quarantined()).toEqual(new Map([['held', 1_700_000_000_000]]));
      expect(await storage.sandboxExists('held')).toBe(true);
      await storage.setQuarantine('held', undefined);
      expect(await storage.quarantined()).toEqual(new Map());
      await storage.destroySandbox('held');
    });

    it('destroys a session twice without complaint', async () => {
      await storage.destroySandbox('beta');
      await storage.destroySandbox('beta');
      expect(await storage.sandboxExists('beta')).toBe(false);
      expect(await storage.listSandboxes()).not.toContain('beta');
      expect(await failureType(storage.sandboxPath('beta'))).toBe(SbxErrorType.SessionNotFound);
      expect(await failureType(storage.listSnapshots('beta'))).toBe(SbxErrorType.SessionNotFound);
    });

    it('refuses bad names with InvalidArgument before anything is made', async () => {
      const before = await storage.listSandboxes();
      const bad = ['../escape', 'a/b', 'a@b', 'has space', 'x'.repeat(200), 'Upper', '', '-lead'];
      for (const id of bad) {
        expect(await failureType(storage.createSandbox(id, { kind: 'template', template }))).toBe(SbxErrorType.InvalidArgument);
        expect(await failureType(storage.importTemplate(id, { dir: under.scratch }))).toBe(SbxErrorType.InvalidArgument);
      }
      await storage.createSandbox('names', { kind: 'template', template });
      for (const snapshot of ['turn@1', '../x', 'a b', 'x'.repeat(200)]) {
        expect(await failureType(storage.snapshot('names', snapshot))).toBe(SbxErrorType.InvalidArgument);
        expect(await failureType(storage.rollback('names', snapshot))).toBe(SbxErrorType.InvalidArgument);
      }
      expect(await failureType(storage.createSandbox('fork-bad', { kind: 'snapshot', sandboxId: 'names', snapshot: 'a@b' }))).toBe(
        SbxErrorType.InvalidArgument,
      );
      expect(await storage.listSnapshots('names')).toEqual([]);
      await storage.destroySandbox('names');
      expect(await storage.listSandboxes()).toEqual(before);
      expect(await storage.templateExists('escape')).toBe(false);
    });

    it('reports the health of the disk it lives on', async () => {
      const health = await storage.health();
      expect(health.state).toBe('ONLINE');
      expect(health.status).toBe(poolStatus(health.state, health.capacity));
      expect(health.sizeBytes).toBeGreaterThan(health.freeBytes);
      expect(health.capacity).toBeGreaterThanOrEqual(0);
      expect(health.capacity).toBeLessThanOrEqual(1);
    });
  });
}

// Random, so compression (if a pool has it on) cannot make the quota test pass trivially.
