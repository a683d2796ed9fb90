import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outcome, runZfs, zfsBounds, type ZfsCliOptions } from '../../src/activities/host/zfs-cli.js';
import { boundedCommandLine } from '../../src/activities/host/spawner.js';
import { classifyZfsError, zfsFailure } from '../../src/activities/host/zfs-errors.js';
import { mountOptionsIn } from '../../src/activities/host/mount-flags.js';

const cli: ZfsCliOptions = { lockPath: '/var/lib/sbx/zfs.lock', lockWaitMs: 60_000, timeoutMs: 120_000 };

describe('zfsBounds', () => {
  it('bounds every call with a timeout', () => {
    expect(zfsBounds('zfs', ['list', '-H'], cli)).toEqual({ timeoutMs: 120_000, killAfterMs: 5_000 });
    expect(zfsBounds('zpool', ['list', 'sbx'], cli)).toEqual({ timeoutMs: 120_000, killAfterMs: 5_000 });
  });

  it('takes the lock, with a wait limit, for changes', () => {
    expect(zfsBounds('zfs', ['destroy', '-r', 'sbx/a'], cli).lock).toEqual({ path: '/var/lib/sbx/zfs.lock', waitMs: 60_000 });
    expect(zfsBounds('zpool', ['import', 'sbx'], cli).lock).toBeDefined();
    expect(zfsBounds('zfs', ['get', 'origin', 'sbx/a'], cli).lock).toBeUndefined();
  });
});

describe('boundedCommandLine, the bounds without sbx-spawn', () => {
  it('puts the lock, then the time limit, around the command', () => {
    expect(boundedCommandLine(['zfs', 'destroy', '-r', 'sbx/a'], zfsBounds('zfs', ['destroy'], cli))).toEqual([
      'flock',
      '-w',
      '60',
      '-E',
      '75',
      '/var/lib/sbx/zfs.lock',
      'timeout',
      '-k',
      '5',
      '120',
      'zfs',
      'destroy',
      '-r',
      'sbx/a',
    ]);
    expect(boundedCommandLine(['zfs', 'list'], { timeoutMs: 1500, killAfterMs: 5_000 })).toEqual([
      'timeout',
      '-k',
      '5',
      '2',
      'zfs',
      'list',
    ]);
  });
});

describe('outcome of a bounded call', () => {
  it('tells a lock wait that ran out from a command that ran out', () => {
    expect(outcome({ exitCode: 75, stderr: '' }, true).timedOut).toBe('lock');
    expect(outcome({ exitCode: 124, stderr: '' }, true).timedOut).toBe('command');
    expect(outcome({ exitCode: 137, stderr: '' }, false).timedOut).toBe('command');
    expect(outcome({ exitCode: 1, stderr: 'cannot open' }, true).timedOut).toBeUndefined();
  });

  it('ends in a typed Busy failure with a sentence', () => {
    const failure = zfsFailure({ exitCode: 75, stderr: '', timedOut: 'lock' }, { operation: 'snapshot', dataset: 'sbx/a@t1' });
    expect(failure.type).toBe('Busy');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(
      "Could not snapshot sbx/a@t1: another zfs change held this host's zfs lock past the wait limit; retry shortly.",
    );
    expect(classifyZfsError({ exitCode: 124, stderr: '', timedOut: 'command' })).toBe('Busy');
  });
});

describe('runZfs', () => {
  it('stops a zfs that does not answer and says so, instead of waiting for ever', async () => {
    // A stand-in for a wedged zfs-fuse: a `zfs` on PATH that never returns.
    const dir = await mkdtemp(join(tmpdir(), 'sbx-fake-zfs-'));
    const path = process.env.PATH;
    try {
      await writeFile(join(dir, 'zfs'), '#!/bin/sh\nexec sleep 600\n');
      await chmod(join(dir, 'zfs'), 0o755);
      process.env.PATH = `${dir}:${path}`;
      const result = await runZfs('zfs', ['list'], { ...cli, timeoutMs: 1000 });
      expect(result.timedOut).toBe('command');
      expect(zfsFailure(result, { operation: 'list', dataset: 'sbx' }).type).toBe('Busy');
    } finally {
      process.env.PATH = path;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('mountOptionsIn', () => {
  const mountinfo = [
    '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    '80 22 0:50 / /var/lib/sbx/zfs/sessions/s1 rw,relatime shared:40 - fuse.zfs sbx/h/sessions/s1 rw,user_id=0',
    '81 22 0:51 / /var/lib/my\\040data/s2 rw,nosuid,nodev,relatime shared:41 - fuse.zfs sbx/h/sessions/s2 rw',
  ].join('\n');

  it('reads the per-mount flags of a mountpoint, unescaping spaces', () => {
    expect(mountOptionsIn(mountinfo, '/var/lib/sbx/zfs/sessions/s1')).toEqual(['rw', 'relatime']);
    expect(mountOptionsIn(mountinfo, '/var/lib/my data/s2')).toEqual(['rw', 'nosuid', 'nodev', 'relatime']);
    expect(mountOptionsIn(mountinfo, '/nowhere')).toBeUndefined();
  });
});
