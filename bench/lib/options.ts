import { Command } from 'commander';

export const MiB = 1024 * 1024;
export const PHASES = ['floor', 'lifecycle', 'warm', 'sizes', 'concurrency', 'memory', 'fronts'] as const;
export type Phase = (typeof PHASES)[number];

export interface Options {
  runs: number;
  warmup: number;
  sizes: Array<{ label: string; bytes: number }>;
  concurrency: number[];
  idle: number[];
  only: Set<Phase>;
  pool: string;
  quick: boolean;
}

function parseSize(text: string): { label: string; bytes: number } {
  const match = /^(\d+)\s*(K|M|G)i?B?$/i.exec(text.trim());
  if (!match) throw new Error(`size ${JSON.stringify(text)} is not like 1MB, 100MB or 1GB`);
  const unit = { K: 1024, M: MiB, G: 1024 * MiB }[match[2]!.toUpperCase() as 'K' | 'M' | 'G'];
  const bytes = Number(match[1]) * unit;
  if (bytes < MiB || bytes % MiB !== 0) throw new Error(`size ${text} must be a whole number of MiB, at least 1MB`);
  return { label: `${match[1]}${match[2]!.toUpperCase()}B`, bytes };
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const ints = (text: string, what: string) =>
  list(text).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: ${s} is not a whole number`);
    return n;
  });

export function parseOptions(argv: string[]): Options {
  const cmd = new Command('bench')
    .description('sbx benchmark: orchestrated operations vs the raw zfs/runsc commands they wrap')
    .option('--runs <n>', 'measured runs per operation (default 12, which keeps a full run near 20 min on 2 cores; --quick 3)')
    .option('--warmup <n>', 'discarded runs before measuring (default 2; --quick 1)')
    .option('--sizes <list>', 'workspace sizes for snapshot/rollback (default 1MB,100MB,1GB; --quick 1MB,100MB)')
    .option('--concurrency <list>', 'concurrent clients for create throughput (default 1,4,16; --quick 1,4)')
    .option('--idle <list>', 'idle session counts for the memory phase (default 0,50,200; --quick 0,5)')
    .option('--only <names>', `run only these phases: ${PHASES.join(', ')}`)
    .option('--pool <name>', 'ZFS pool (the bench works in <pool>/bench-<random> only)', 'sbx')
    .option('--quick', 'small counts for a smoke run', false)
    .showHelpAfterError();
  cmd.parse(argv);
  const o = cmd.opts<{
    runs?: string;
    warmup?: string;
    sizes?: string;
    concurrency?: string;
    idle?: string;
    only?: string;
    pool: string;
    quick: boolean;
  }>();
  const q = o.quick;
  const asked = o.only ? list(o.only) : [...PHASES];
  for (const name of asked) {
    if (!(PHASES as readonly string[]).includes(name)) throw new Error(`--only: unknown phase ${name}; phases are ${PHASES.join(', ')}`);
  }
  // Always in PHASES order: the floor runs before the phases compared with it.
  const only = new Set<Phase>(PHASES.filter((p) => asked.includes(p)));
  const runs = ints(o.runs ?? (q ? '3' : '12'), '--runs')[0]!;
  if (runs < 1) throw new Error('--runs must be at least 1');
  return {
    runs,
    warmup: ints(o.warmup ?? (q ? '1' : '2'), '--warmup')[0]!,
    sizes: list(o.sizes ?? (q ? '1MB,100MB' : '1MB,100MB,1GB')).map(parseSize),
    concurrency: ints(o.concurrency ?? (q ? '1,4' : '1,4,16'), '--concurrency').filter((c) => c > 0),
    idle: [...new Set(ints(o.idle ?? (q ? '0,5' : '0,50,200'), '--idle'))].sort((a, b) => a - b),
    only,
    pool: o.pool,
    quick: q,
  };
}
