import { setTimeout as sleep } from 'node:timers/promises';
import { SessionAdmission } from '../../src/activities/host/session-admission.js';

/** A storage stand-in: the sandboxes it holds, and how often it was listed. */
function fakeStorage(initial: string[] = []) {
  const held = new Set(initial);
  const storage = {
    held,
    listings: 0,
    list: async () => {
      storage.listings++;
      await sleep(5);
      return [...held];
    },
    create: (id: string) => async () => {
      await sleep(10);
      held.add(id);
    },
  };
  return storage;
}

const refused = { type: 'MaxSessionsReached', message: expect.stringMatching(/maximum of 3 sessions/) };

describe('session admission', () => {
  it('lets exactly the free slots through when creates arrive at once, listing storage once', async () => {
    const storage = fakeStorage(['a']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    const ids = ['b', 'c', 'd', 'e', 'f'];
    const results = await Promise.allSettled(ids.map((id) => admission.admit(id, storage.create(id))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject(refused);
    expect(storage.held.size).toBe(3);
    // Storage is listed at the first create and by each refusal (a full host counts again), not per create.
    const before = storage.listings;
    expect(before).toBeLessThanOrEqual(1 + 3);
    await admission.admit('a', async () => undefined);
    expect(storage.listings).toBe(before);
  });

  it('takes no slot for a sandbox the host already holds (a retried create)', async () => {
    const storage = fakeStorage(['a', 'b', 'c']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    await expect(admission.admit('b', async () => 'again')).resolves.toBe('again');
    await expect(admission.admit('d', storage.create('d'))).rejects.toMatchObject(refused);
  });

  it('frees the slot of a removed sandbox', async () => {
    const storage = fakeStorage(['a', 'b', 'c']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    await expect(admission.admit('d', storage.create('d'))).rejects.toMatchObject(refused);
    await admission.remove('a', async () => {
      storage.held.delete('a');
    });
    await admission.admit('d', storage.create('d'));
    await expect(admission.admit('e', storage.create('e'))).rejects.toMatchObject(refused);
  });

  it('counts from storage again after a create or removal failed half-way', async () => {
    const storage = fakeStorage(['a']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    const halfMade = async () => {
      storage.held.add('b');
      throw new Error('start failed');
    };
    await expect(admission.admit('b', halfMade)).rejects.toThrow('start failed');
    const stuck = async () => {
      throw new Error('busy');
    };
    await expect(admission.remove('a', stuck)).rejects.toThrow('busy');
    await admission.admit('c', storage.create('c'));
    // a and b are still there: only one slot was free.
    await expect(admission.admit('d', storage.create('d'))).rejects.toMatchObject(refused);
    expect(storage.held).toEqual(new Set(['a', 'b', 'c']));
  });

  it('sees removals made elsewhere before refusing a create', async () => {
    const storage = fakeStorage(['a', 'b']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    await admission.admit('c', storage.create('c'));
    storage.held.delete('a'); // reconcile removed it, not through this admission
    await admission.admit('d', storage.create('d'));
    expect(storage.held.size).toBe(3);
  });

  it('frees the slot of a sandbox killed for removal before its filesystem goes, once', async () => {
    const storage = fakeStorage(['a', 'b', 'c']);
    const admission = new SessionAdmission('h1', 3, storage.list);
    await expect(admission.admit('d', storage.create('d'))).rejects.toMatchObject(refused);
    admission.leave('a'); // destroyed: killed, its dataset removed a moment later
    const results = await Promise.allSettled(['d', 'e'].map((id) => admission.admit(id, storage.create(id))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await admission.remove('a', async () => void storage.held.delete('a'));
    expect(storage.held.size).toBe(3);
    await expect(admission.admit('f', storage.create('f'))).rejects.toMatchObject(refused);
  });
});
