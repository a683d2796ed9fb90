import { HostConfig, zfsLockPathOf } from '../../src/workers/host-config.js';

const MiB = 1024 * 1024;

describe('HostConfig', () => {
  it('gives every host a default quota, a quota maximum, a reserve and a quarantine grace', () => {
    const config = HostConfig.parse({ hostId: 'h1' });
    expect(config).toMatchObject({
      defaultQuotaBytes: 10 * 1024 * MiB,
      maxQuotaBytes: 100 * 1024 * MiB,
      reserveBytes: 256 * MiB,
      quarantineGraceMs: 24 * 3600_000,
      reconcileIntervalMs: 5 * 60_000,
    });
  });

  it("keeps the zfs lock in the host's data root unless told otherwise", () => {
    expect(zfsLockPathOf(HostConfig.parse({ hostId: 'h1', dataRoot: '/srv/sbx' }))).toBe('/srv/sbx/zfs.lock');
    expect(zfsLockPathOf(HostConfig.parse({ hostId: 'h1', zfsLockPath: '/run/sbx/zfs.lock' }))).toBe('/run/sbx/zfs.lock');
  });

  it('refuses a default quota above the maximum, or below 16 MiB', () => {
    expect(HostConfig.safeParse({ hostId: 'h1', defaultQuotaBytes: 200 * MiB, maxQuotaBytes: 100 * MiB }).error?.issues[0]?.message).toBe(
      'defaultQuotaBytes must not exceed maxQuotaBytes',
    );
    expect(HostConfig.safeParse({ hostId: 'h1', defaultQuotaBytes: 1 }).error?.issues[0]?.message).toBe(
      'quotaBytes must be at least 16777216 (16 MiB)',
    );
  });
});
