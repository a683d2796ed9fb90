import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { destroyRecursive } from '../../src/activities/host/zfs-cli.js';
import { ZfsStorage } from '../../src/activities/host/zfs-storage.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { describeStorageContract } from './storage-contract.js';

const stack = testStack();
const id = uniqueNames(import.meta.url).id;
const root = `${stack.zfsRoot}/${id}`;
const zfs = async (...args: string[]) => (await execa('zfs', args)).stdout.trim();

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
    await storage.createSession('s1', { kind: 'template', template: 'tiny' }, 32 * 1024 * 1024);
    expect(await zfs('get', '-H', '-o', 'value', 'origin', `${root}-own/sessions/s1`)).toBe(`${root}-own/templates/tiny@v2`);
    expect(await zfs('get', '-Hp', '-o', 'value', 'quota', `${root}-own/sessions/s1`)).toBe(String(32 * 1024 * 1024));
  });

  it('makes a fork a full copy with no origin, so the source can roll back and be destroyed', async () => {
    await storage.snapshot('s1', 'turn-000001');
    await storage.createSession('s2', { kind: 'snapshot', sandboxId: 's1', snapshot: 'turn-000001' });
    expect(await zfs('get', '-H', '-o', 'value', 'origin', `${root}-own/sessions/s2`)).toBe('-');
    await storage.snapshot('s1', 'turn-000002');
    await storage.rollback('s1', 'turn-000001');
    await storage.destroySession('s1');
    expect(await storage.sessionExists('s2')).toBe(true);
  });

  it('redoes a fork whose receive did not finish', async () => {
    await storage.snapshot('s2', 'turn-000001');
    await zfs('create', `${root}-own/sessions/half`);
    expect(await storage.sessionExists('half')).toBe(false);
    expect(await storage.listSessions()).toContain('half');
    await storage.createSession('half', { kind: 'snapshot', sandboxId: 's2', snapshot: 'turn-000001' });
    expect(await storage.sessionExists('half')).toBe(true);
    expect(await storage.listSnapshots('half')).toEqual([]);
    const path = await storage.sessionPath('half');
    const listing = await execa('ls', [join(path, 'rootfs')]);
    expect(listing.stdout.split('\n')).toContain('workspace');
  });

  it('reports the pool health from zpool', async () => {
    const health = await storage.health();
    expect(health).toMatchObject({ state: 'ONLINE', status: 'healthy' });
    expect(health.sizeBytes).toBeGreaterThan(1024 * 1024);
  });
});
