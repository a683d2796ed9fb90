import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { runZfs } from '../../src/activities/host/zfs-cli.js';
import { ZfsStorage } from '../../src/activities/host/zfs-storage.js';
import { testStack } from '../harness/stack.js';
import { zfs } from '../harness/zfs.js';

/**
 * A pool filled by one session, on a small pool of its own (filling the shared test pool would fail
 * every other test on the machine). The host's reserve keeps snapshots working for every session,
 * the full one included, which can then be destroyed; a new session waits for space instead of
 * spending the reserve.
 */
const stack = testStack();
const pool = `sbxr${process.pid}`;
const image = join(stack.scratch, `${pool}.img`);
const MiB = 1024 * 1024;
const RESERVE = 24 * MiB;
const zpool = async (...args: string[]) => {
  const result = await runZfs('zpool', args);
  if (result.exitCode !== 0) throw new Error(`zpool ${args.join(' ')} failed: ${result.stderr.trim()}`);
};

describe('a full pool with a reserve', () => {
  const storage = new ZfsStorage({ root: `${pool}/host`, mountpoint: join(stack.scratch, pool), reserveBytes: RESERVE });

  beforeAll(async () => {
    await execa('truncate', ['-s', '128M', image]);
    await zpool('create', '-f', '-m', 'none', pool, image);
    await storage.init();
    const source = join(stack.scratch, `${pool}-src`);
    await mkdir(join(source, 'workspace'), { recursive: true });
    await storage.importTemplate('tiny', { dir: source });
  });

  afterAll(async () => {
    await zpool('destroy', '-f', pool).catch(() => undefined);
    await rm(image, { force: true });
  });

  it('still snapshots and destroys when one session has filled the pool, and refuses new sessions until it has room', async () => {
    const template = { kind: 'template', template: 'tiny' } as const;
    await storage.createSandbox('filler', template, 1024 * MiB);
    await storage.createSandbox('other', template, 64 * MiB);
    const fill = await execa('dd', ['if=/dev/zero', `of=${join(await storage.sandboxPath('filler'), 'rootfs', 'big')}`, 'bs=1M'], {
      reject: false,
    });
    expect(fill.stderr).toContain('No space left on device');
    expect(Number(await zfs('get', '-Hp', '-o', 'value', 'available', `${pool}/host/sessions`))).toBeLessThan(MiB);

    // Without the reserve to lend, the pool refuses even a snapshot of another session.
    const unreserved = new ZfsStorage({ root: `${pool}/host`, reserveBytes: 0 });
    expect(await unreserved.snapshot('other', 'refused').catch((err) => err)).toMatchObject({ type: 'NoSpace' });

    await storage.snapshot('other', 'turn-000001');
    await storage.snapshot('filler', 'turn-000001');
    expect(await storage.createSandbox('late', template, 64 * MiB).catch((err) => err)).toMatchObject({
      type: 'NoSpace',
      message: expect.stringContaining('out of space'),
    });
    await storage.destroySandbox('filler');
    await storage.createSandbox('late', template, 64 * MiB);

    // With the space back, the reserve is held again and the others write.
    expect((await storage.health()).status).toBe('healthy');
    expect(Number(await zfs('get', '-Hp', '-o', 'value', 'reservation', `${pool}/host/reserve`))).toBe(RESERVE);
    await execa('dd', ['if=/dev/zero', `of=${join(await storage.sandboxPath('late'), 'rootfs', 'f')}`, 'bs=1M', 'count=4']);
    expect((await storage.listSnapshots('other')).map((s) => s.name)).toEqual(['turn-000001']);
  });
});
