import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ZFS_CLI, destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { ZfsStorage } from '../../src/activities/host/zfs-storage.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { zfs } from '../harness/zfs.js';
import { describeStorageContract } from './storage-contract.js';

const stack = testStack();
const id = uniqueNames(import.meta.url).id;
const root = `${stack.zfsRoot}/${id}`;

describeStorageContract('zfs', async () => {
  const storage = new ZfsStorage({ root });
  await storage.init();
  await storage.init();
  const scratch = join(stack.scratch, `${id}-src`);
  await mkdir(scratch, { recursive: true });
  return { storage, scratch, cleanup: () => destroyRecursive(root) };
});

describe('ZfsStorage on real zfs-fuse', () => {
  const storage = new ZfsStorage({ root: `${root}-own` });

  beforeAll(async () => {
    await storage.init();
    const source = join(stack.scratch, `${id}-own-src`);
    await mkdir(join(source, 'workspace'), { recursive: true });
    await storage.importTemplate('tiny', { dir: source });
    await storage.importTemplate('tiny', { dir: source });
  });

  afterAll(async () => {
    await destroyRecursive(`${root}-own`);
  });

  it('keeps each import as a version snapshot and clones the newest', async () => {
    const versions = await zfs('list', '-H', '-o', 'name', '-t', 'snapshot', '-r', `${root}-own/templates/tiny`);
    expect(versions.split('\n')).toEqual([`${root}-own/templates/tiny@v1`, `${root}-own/templates/tiny@v2`]);
    await storage.createSandbox('s1', { kind: 'template', template: 'tiny' }, 32 * 1024 * 1024);
    expect(await zfs('get', '-H', '-o', 'value', 'origin', `${root}-own/sessions/s1`)).toBe(`${root}-own/templates/tiny@v2`);
    expect(await zfs('get', '-Hp', '-o', 'value', 'quota', `${root}-own/sessions/s1`)).toBe(String(32 * 1024 * 1024));
  });

  const file = async (sessionId: string, name: string) =>
    readFile(join(await storage.sandboxPath(sessionId), 'rootfs', name), 'utf8').catch(() => 'absent');
  const put = async (sessionId: string, name: string, text: string) =>
    writeFile(join(await storage.sandboxPath(sessionId), 'rootfs', name), text);
  const dataset = (sessionId: string) => `${root}-own/sessions/${sessionId}`;
  const datasets = async () =>
    (await zfs('list', '-H', '-o', 'name', '-t', 'all', '-r', `${root}-own/sessions`))
      .split('\n')
      .slice(1)
      .map((n) => n.slice(`${root}-own/sessions/`.length));
  const snapshotNames = async (sessionId: string) => (await storage.listSnapshots(sessionId)).map((snap) => snap.name);

  it('reports a new snapshot with the sizes zfs gives it, made now or by an earlier attempt', async () => {
    await storage.createSandbox('sized', { kind: 'template', template: 'tiny' });
    await put('sized', 'blob', 'x'.repeat(300 * 1024));
    const made = await storage.snapshot('sized', 'turn-000001');
    const props = await zfs('get', '-Hp', '-o', 'property,value', 'used,referenced', `${dataset('sized')}@turn-000001`);
    const { used, referenced } = Object.fromEntries(props.split('\n').map((line) => line.split('\t'))) as Record<string, string>;
    expect(made).toEqual({ name: 'turn-000001', usedBytes: Number(used), referencedBytes: Number(referenced) });
    expect(made.referencedBytes).toBeGreaterThan(300 * 1024);
    expect(await storage.snapshot('sized', 'turn-000001')).toEqual(made);
  });

  it('keeps a turn that only read files out of its snapshots: reads change nothing on disk (atime=off)', async () => {
    await storage.createSandbox('reader', { kind: 'template', template: 'tiny' });
    for (let i = 0; i < 50; i++) await put('reader', `f${i}`, `file ${i}`);
    await storage.snapshot('reader', 'turn-000001');
    // The agent's next turn only reads: the snapshot before it must hold no blocks of its own after the next.
    for (let i = 0; i < 50; i++) expect(await file('reader', `f${i}`)).toBe(`file ${i}`);
    await storage.snapshot('reader', 'turn-000002');
    expect(await zfs('get', '-Hp', '-o', 'value', 'used', `${dataset('reader')}@turn-000001`)).toBe('0');
    expect(await zfs('get', '-H', '-o', 'value', 'atime', dataset('reader'))).toBe('off');
    await storage.destroySandbox('reader');
  });

  it('makes a fork a clone of the snapshot, with no snapshots of its own', async () => {
    await storage.snapshot('s1', 'turn-000001');
    await storage.createSandbox('s2', { kind: 'snapshot', sandboxId: 's1', snapshot: 'turn-000001' });
    await storage.createSandbox('s2', { kind: 'snapshot', sandboxId: 's1', snapshot: 'turn-000001' });
    expect(await zfs('get', '-H', '-o', 'value', 'origin', dataset('s2'))).toBe(`${dataset('s1')}@turn-000001`);
    expect(await snapshotNames('s2')).toEqual([]);
  });

  it('refuses to roll a source back past a snapshot a live fork was made from, naming the fork', async () => {
    await storage.createSandbox('rb', { kind: 'template', template: 'tiny' });
    await put('rb', 'f', 'one');
    await storage.snapshot('rb', 'turn-000001');
    await put('rb', 'f', 'two');
    await storage.snapshot('rb', 'turn-000002');
    await storage.createSandbox('rb-fork', { kind: 'snapshot', sandboxId: 'rb', snapshot: 'turn-000002' });
    await put('rb', 'f', 'three');
    await storage.snapshot('rb', 'turn-000003');

    const refused = await storage.rollback('rb', 'turn-000001').catch((err) => err);
    expect(refused).toMatchObject({ type: 'InvalidState', message: expect.stringContaining('rb-fork (from turn-000002)') });
    expect([await file('rb', 'f'), await file('rb-fork', 'f')]).toEqual(['three', 'two']);
    expect(await snapshotNames('rb')).toEqual(['turn-000001', 'turn-000002', 'turn-000003']);
    // Back to the fork point itself is a plain rollback; past it once the fork is gone.
    await storage.rollback('rb', 'turn-000002');
    expect(await file('rb', 'f')).toBe('two');
    await storage.destroySandbox('rb-fork');
    await storage.rollback('rb', 'turn-000001');
    expect(await file('rb', 'f')).toBe('one');
    await storage.destroySandbox('rb');
  });

  it('retires a destroyed source while forks live, and removes it with the last of them (fork of a fork too)', async () => {
    await storage.createSandbox('gen0', { kind: 'template', template: 'tiny' });
    await put('gen0', 'f', 'zero');
    await storage.snapshot('gen0', 'turn-000001');
    await storage.createSandbox('gen1', { kind: 'snapshot', sandboxId: 'gen0', snapshot: 'turn-000001' });
    await put('gen1', 'f', 'one');
    await storage.snapshot('gen1', 'turn-000001');
    await storage.createSandbox('gen2', { kind: 'snapshot', sandboxId: 'gen1', snapshot: 'turn-000001' });

    await storage.destroySandbox('gen0');
    await storage.destroySandbox('gen0');
    await storage.destroySandbox('gen1');
    for (const gone of ['gen0', 'gen1']) {
      expect(await storage.sandboxExists(gone)).toBe(false);
      expect(await storage.listSandboxes()).not.toContain(gone);
    }
    expect(await storage.createSandbox('gen0', { kind: 'template', template: 'tiny' }).catch((err) => err)).toMatchObject({
      type: 'AlreadyExists',
    });

    // The fork of the fork works as any session: files, snapshots, rollback.
    expect(await file('gen2', 'f')).toBe('one');
    await put('gen2', 'f', 'two');
    await storage.snapshot('gen2', 'turn-000001');
    await put('gen2', 'f', 'scratch');
    await storage.rollback('gen2', 'turn-000001');
    expect(await file('gen2', 'f')).toBe('two');

    await storage.destroySandbox('gen2');
    expect((await datasets()).filter((n) => n.startsWith('gen'))).toEqual([]);
  });

  it('redoes a fork whose create did not finish (a dataset without its origin mark)', async () => {
    await storage.snapshot('s2', 'turn-000001');
    await zfs('create', `${root}-own/sessions/half`);
    expect(await storage.sandboxExists('half')).toBe(false);
    expect(await storage.listSandboxes()).toContain('half');
    await storage.createSandbox('half', { kind: 'snapshot', sandboxId: 's2', snapshot: 'turn-000001' });
    expect(await storage.sandboxExists('half')).toBe(true);
    expect(await storage.listSnapshots('half')).toEqual([]);
    const path = await storage.sandboxPath('half');
    const listing = await execa('ls', [join(path, 'rootfs')]);
    expect(listing.stdout.split('\n')).toContain('workspace');
  });

  it('makes session datasets setuid=off, devices=off, exec=on, and their mounts honour it', async () => {
    await storage.createSandbox('priv', { kind: 'template', template: 'tiny' });
    await storage.snapshot('priv', 'turn-000001');
    await storage.createSandbox('priv-fork', { kind: 'snapshot', sandboxId: 'priv', snapshot: 'turn-000001' });
    await storage.rollback('priv', 'turn-000001');
    for (const id of ['priv', 'priv-fork']) {
      const dataset = `${root}-own/sessions/${id}`;
      expect(await zfs('get', '-H', '-o', 'value', 'setuid,devices,exec', dataset)).toBe('off\noff\non');
      // A setuid-root program written into the session (as a sandbox's root could) runs as its caller on the host.
      const dir = join(await storage.sandboxPath(id), 'rootfs');
      await execa('cp', ['/usr/bin/id', join(dir, 'id')]);
      await execa('chmod', ['4755', join(dir, 'id')]);
      // nobody must reach it: traverse-only on each directory from the run's scratch down.
      for (let d = dir; d.startsWith(stack.scratch); d = dirname(d)) await chmod(d, 0o711);
      const asNobody = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(dir, 'id'), '-u']);
      expect(asNobody.stdout).toBe('65534');
      // A device node made there opens nothing.
      await execa('mknod', [join(dir, 'null'), 'c', '1', '3']);
      expect((await execa('sh', ['-c', `echo x > ${join(dir, 'null')}`], { reject: false })).exitCode).not.toBe(0);
    }
    await storage.destroySandbox('priv-fork');
    await storage.destroySandbox('priv');
  });

  it('refuses a fork whose quota cannot hold what it copies, before copying anything', async () => {
    await storage.createSandbox('big', { kind: 'template', template: 'tiny' });
    await execa('dd', ['if=/dev/urandom', `of=${join(await storage.sandboxPath('big'), 'rootfs', 'blob')}`, 'bs=1M', 'count=20']);
    await storage.snapshot('big', 'turn-000001');
    const refused = await storage
      .createSandbox('small', { kind: 'snapshot', sandboxId: 'big', snapshot: 'turn-000001' }, 16 * 1024 * 1024)
      .catch((err) => err);
    expect(refused).toMatchObject({ type: 'InvalidArgument', message: expect.stringMatching(/too small for a fork.*give at least \d+/) });
    expect(await storage.listSandboxes()).not.toContain('small');
    await storage.destroySandbox('big');
  });

  it('keeps its reserve in a dataset sessions cannot write', async () => {
    const reserved = new ZfsStorage({ root: `${root}-reserve`, reserveBytes: 16 * 1024 * 1024 });
    try {
      await reserved.init();
      await reserved.init();
      expect(await zfs('get', '-Hp', '-o', 'value', 'reservation,mountpoint', `${root}-reserve/reserve`)).toBe(`${16 * 1024 * 1024}\nnone`);
      expect((await reserved.health()).status).toBe('healthy');
    } finally {
      await destroyRecursive(`${root}-reserve`);
    }
  });

  it('fails with Busy when the zfs lock stays taken past its wait, and keeps the lock file root-only', async () => {
    const lockPath = join(stack.scratch, `${id}-zfs.lock`);
    const locked = new ZfsStorage({ root: `${root}-own`, cli: { ...DEFAULT_ZFS_CLI, lockPath, lockWaitMs: 1000 } });
    await locked.snapshot('s2', 'before-lock');
    expect((await stat(lockPath)).mode & 0o777).toBe(0o600);
    // -o: only flock itself holds the lock, so killing it lets the lock go (its sleep lingers, holding nothing).
    const holder = execa('flock', ['-o', lockPath, 'sleep', '60'], { reject: false, stdio: 'ignore' });
    try {
      await until(
        'the holder to take the lock',
        async () => (await execa('flock', ['-n', lockPath, 'true'], { reject: false })).exitCode !== 0,
      );
      const refused = await locked.snapshot('s2', 'under-lock').catch((err) => err);
      expect(refused).toMatchObject({ type: 'Busy', message: expect.stringContaining("held this host's zfs lock") });
    } finally {
      holder.kill();
      await holder;
    }
  });

  it('reports the pool health from zpool', async () => {
    const health = await storage.health();
    expect(health).toMatchObject({ state: 'ONLINE', status: 'healthy' });
    expect(health.sizeBytes).toBeGreaterThan(1024 * 1024);
  });
});

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
