import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalDiskStorage } from '../../src/activities/host/local-disk-storage.js';
import { testStack, uniqueNames } from '../harness/stack.js';
import { describeStorageContract } from './storage-contract.js';

const stack = testStack();
const id = uniqueNames(import.meta.url).id;
const root = join(stack.scratch, id);

describeStorageContract('local-disk', async () => {
  const storage = new LocalDiskStorage({ root });
  await storage.init();
  const scratch = join(stack.scratch, `${id}-src`);
  await mkdir(scratch, { recursive: true });
  return { storage, scratch, cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('LocalDiskStorage bookkeeping', () => {
  const own = join(stack.scratch, `${id}-own`);
  const storage = new LocalDiskStorage({ root: own });

  afterAll(async () => {
    await rm(own, { recursive: true, force: true });
  });

  it('orders snapshots by a recorded sequence number and keeps it rising after a rollback', async () => {
    await storage.init();
    await mkdir(join(own, 'src', 'workspace'), { recursive: true });
    await storage.importTemplate('tiny', { dir: join(own, 'src') });
    await storage.createSandbox('s', { kind: 'template', template: 'tiny' });
    for (const name of ['c', 'a', 'b']) await storage.snapshot('s', name);
    expect((await storage.listSnapshots('s')).map((x) => [x.name, x.createTxg])).toEqual([
      ['c', 1],
      ['a', 2],
      ['b', 3],
    ]);
    await storage.rollback('s', 'a');
    await storage.snapshot('s', 'd');
    expect((await storage.listSnapshots('s')).map((x) => [x.name, x.createTxg])).toEqual([
      ['c', 1],
      ['a', 2],
      ['d', 4],
    ]);
    const state = JSON.parse(await readFile(join(own, 'state', 's.json'), 'utf8')) as { origin: string };
    expect(state.origin).toBe('template:tiny');
  });
});
