import type { PoolHealth, SnapshotInfo } from '../../common/sandbox.js';

const UNITS = 'BKMGTPE';

/** A ZFS size: raw bytes ("1171456") or zfs's human form ("7.94G", "512", "1.5K"), powers of 1024. */
export function parseZfsSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([BKMGTPE])?$/i.exec(text.trim());
  if (!match) throw new Error(`not a ZFS size: '${text}'`);
  const power = match[2] ? UNITS.indexOf(match[2].toUpperCase()) : 0;
  return Math.round(Number(match[1]) * 1024 ** power);
}

/**
 * Snapshots of one dataset, oldest first by creation txg (creation times have one-second resolution).
 * Reads either `zfs get -Hp -r -d 1 -o name,property,value createtxg,used,referenced <ds>` (what
 * zfs-fuse supports: its `zfs list` has no `-p`) or
 * `zfs list -Hp -t snapshot -o name,createtxg,used,referenced <ds>` (OpenZFS). Rows that are not
 * snapshots (the dataset itself) are ignored.
 */
export function parseSnapshotList(output: string): SnapshotInfo[] {
  const byName = new Map<string, Partial<Record<'createtxg' | 'used' | 'referenced', number>>>();
  for (const line of output.split('\n').filter((l) => l.trim())) {
    const fields = line.split('\t');
    const full = fields[0]!;
    const at = full.indexOf('@');
    if (at < 0) continue;
    const name = full.slice(at + 1);
    const entry = byName.get(name) ?? {};
    byName.set(name, entry);
    if (fields.length === 4) {
      entry.createtxg = Number(fields[1]);
      entry.used = parseZfsSize(fields[2]!);
      entry.referenced = parseZfsSize(fields[3]!);
    } else if (fields.length === 3 && ['createtxg', 'used', 'referenced'].includes(fields[1]!)) {
      const property = fields[1] as 'createtxg' | 'used' | 'referenced';
      entry[property] = property === 'createtxg' ? Number(fields[2]) : parseZfsSize(fields[2]!);
    } else {
      throw new Error(`unexpected line in zfs snapshot listing: '${line}'`);
    }
  }
  return [...byName.entries()]
    .map(([name, e]) => {
      if (e.createtxg === undefined || e.used === undefined || e.referenced === undefined || Number.isNaN(e.createtxg)) {
        throw new Error(`zfs snapshot listing is missing properties of '${name}'`);
      }
      return { name, createTxg: e.createtxg, usedBytes: e.used, referencedBytes: e.referenced };
    })
    .sort((a, b) => a.createTxg - b.createTxg);
}

export const CAPACITY_DEGRADED = 0.85;
export const CAPACITY_UNHEALTHY = 0.95;

/** A pool that is not ONLINE, or nearly full, is unhealthy; a filling one is degraded. */
export function poolStatus(state: string, capacity: number): PoolHealth['status'] {
  if (state !== 'ONLINE' || capacity >= CAPACITY_UNHEALTHY) return 'unhealthy';
  if (capacity >= CAPACITY_DEGRADED) return 'degraded';
  return 'healthy';
}

/**
 * One line of `zpool list -H -o health,size,free,capacity <pool>`, with raw numbers (OpenZFS `-p`)
 * or zfs-fuse's human sizes and "NN%" capacity. Capacity is returned as a fraction.
 */
export function parsePoolList(output: string): PoolHealth {
  const line = output.split('\n').find((l) => l.trim());
  const fields = line?.split('\t') ?? [];
  if (fields.length !== 4) throw new Error(`unexpected zpool list output: '${output.trim()}'`);
  const [state, size, free, capacityText] = fields as [string, string, string, string];
  const percent = Number(capacityText.replace(/%$/, ''));
  if (Number.isNaN(percent)) throw new Error(`unexpected zpool capacity: '${capacityText}'`);
  const capacity = percent / 100;
  return {
    status: poolStatus(state, capacity),
    state,
    capacity,
    sizeBytes: parseZfsSize(size),
    freeBytes: parseZfsSize(free),
  };
}
