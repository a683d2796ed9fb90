import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeZfsFuse } from '../../src/activities/host/zfs-probe.js';
import { testStack } from '../harness/stack.js';

/** The host's bounded zfs-fuse probe, against the real daemon and against one that never answers. */
describe('zfs-fuse probe', () => {
  const stack = testStack();
  const dir = mkdtempSync(join(tmpdir(), 'sbx-zfs-probe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the running daemon answering, for the pool and the root mount', async () => {
    expect(await probeZfsFuse({ root: stack.zfsRoot, timeoutMs: 10_000 })).toEqual({ answers: true });
  });

  it('returns "does not answer" at its bound when the daemon is alive but silent', async () => {
    // A zpool that connects and never hears back: what a hung zfs-fuse gives every client.
    const silent = join(dir, 'zpool');
    writeFileSync(silent, '#!/bin/sh\nexec sleep 3600\n');
    chmodSync(silent, 0o755);
    expect(await probeZfsFuse({ root: stack.zfsRoot, timeoutMs: 1000, zpool: silent })).toEqual({
      answers: false,
      detail: `zpool list ${stack.pool} did not answer within 1 s`,
    });
  });

  it('leaves the pool to a caller that reads it itself (a heartbeat): only the mount is listed', async () => {
    // A zpool that would never answer: a probe that still asked it would report a hang.
    const silent = join(dir, 'zpool-unasked');
    writeFileSync(silent, '#!/bin/sh\nexec sleep 3600\n');
    chmodSync(silent, 0o755);
    expect(await probeZfsFuse({ root: stack.zfsRoot, timeoutMs: 1000, zpool: silent, askPool: false })).toEqual({ answers: true });
  });

  it("reads the root dataset's own mount, found in the mount table", async () => {
    const mounts = join(dir, 'mounts');
    const root = `${stack.zfsRoot}/probe`;
    writeFileSync(
      mounts,
      [
        `${root}/sessions ${join(dir, 'sessions')} fuse.zfs rw 0 0`,
        `${root} ${join(dir, 'gone\\040root')} fuse.zfs rw 0 0`,
        `${root}-other ${dir} fuse.zfs rw 0 0`,
      ].join('\n'),
    );
    const probe = await probeZfsFuse({ root, timeoutMs: 5000, mountsFile: mounts });
    expect(probe).toMatchObject({ answers: false, detail: expect.stringContaining(`listing ${join(dir, 'gone root')} failed`) });
  });

  it('reports a daemon that is gone', async () => {
    const gone = join(dir, 'zpool-gone');
    writeFileSync(gone, '#!/bin/sh\necho "connect: Connection refused" >&2\nexit 1\n');
    chmodSync(gone, 0o755);
    expect(await probeZfsFuse({ root: stack.zfsRoot, timeoutMs: 1000, zpool: gone })).toEqual({
      answers: false,
      detail: `zpool list ${stack.pool} failed: connect: Connection refused`,
    });
  });
});
