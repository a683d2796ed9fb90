import { parsePoolList, parseSnapshotList, parseZfsSize, poolStatus } from '../../src/activities/host/zfs-parse.js';

describe('parseSnapshotList', () => {
  it('reads zfs-fuse `zfs get -Hp -r -d 1` output, skips the dataset row and orders by createtxg', () => {
    const output = [
      'sbx/s/a\tcreatetxg\t319',
      'sbx/s/a\tused\t237568',
      'sbx/s/a\treferenced\t122880',
      'sbx/s/a@turn-000002\tcreatetxg\t340',
      'sbx/s/a@turn-000002\tused\t4096',
      'sbx/s/a@turn-000002\treferenced\t126976',
      'sbx/s/a@turn-000001\tcreatetxg\t325',
      'sbx/s/a@turn-000001\tused\t0',
      'sbx/s/a@turn-000001\treferenced\t122880',
    ].join('\n');
    expect(parseSnapshotList(output)).toEqual([
      { name: 'turn-000001', createTxg: 325, usedBytes: 0, referencedBytes: 122880 },
      { name: 'turn-000002', createTxg: 340, usedBytes: 4096, referencedBytes: 126976 },
    ]);
  });

  it('reads OpenZFS `zfs list -Hp -t snapshot -o name,createtxg,used,referenced`', () => {
    const output = 'tank/s/a@b\t12\t0\t1024\ntank/s/a@a\t10\t512\t2048\n';
    expect(parseSnapshotList(output).map((s) => [s.name, s.createTxg, s.usedBytes, s.referencedBytes])).toEqual([
      ['a', 10, 512, 2048],
      ['b', 12, 0, 1024],
    ]);
  });

  it('returns nothing for a dataset without snapshots and refuses garbage', () => {
    expect(parseSnapshotList('sbx/s/a\tcreatetxg\t319\nsbx/s/a\tused\t1\n')).toEqual([]);
    expect(() => parseSnapshotList('sbx/s/a@x\tnonsense')).toThrow(/unexpected line/);
    expect(() => parseSnapshotList('sbx/s/a@x\tused\t1\n')).toThrow(/missing properties/);
  });
});

describe('parsePoolList and poolStatus', () => {
  it('reads zfs-fuse human sizes and a percent capacity', () => {
    expect(parsePoolList('ONLINE\t7.94G\t7.93G\t0%\n')).toEqual({
      status: 'healthy',
      state: 'ONLINE',
      capacity: 0,
      sizeBytes: Math.round(7.94 * 1024 ** 3),
      freeBytes: Math.round(7.93 * 1024 ** 3),
    });
  });

  it('reads OpenZFS parsable output', () => {
    expect(parsePoolList('ONLINE\t8527020032\t1000000\t90')).toMatchObject({ status: 'degraded', capacity: 0.9, sizeBytes: 8527020032 });
  });

  it('grades capacity at 0.85 and 0.95 and any state but ONLINE as unhealthy', () => {
    expect(poolStatus('ONLINE', 0.84)).toBe('healthy');
    expect(poolStatus('ONLINE', 0.85)).toBe('degraded');
    expect(poolStatus('ONLINE', 0.95)).toBe('unhealthy');
    expect(poolStatus('DEGRADED', 0.1)).toBe('unhealthy');
    expect(poolStatus('SUSPENDED', 0)).toBe('unhealthy');
  });

  it('parses sizes with units and refuses others', () => {
    expect(parseZfsSize('512')).toBe(512);
    expect(parseZfsSize('1.5K')).toBe(1536);
    expect(parseZfsSize('2M')).toBe(2 * 1024 ** 2);
    expect(() => parseZfsSize('-')).toThrow(/not a ZFS size/);
    expect(() => parsePoolList('ONLINE\t1G')).toThrow(/unexpected zpool list output/);
  });
});
