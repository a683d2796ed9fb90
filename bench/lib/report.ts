import type { Row } from './context.js';
import { fmt, type Recorder } from './stats.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 || i >= cells.length - 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function renderRows(rows: Row[]): string {
  const header = [
    'metric',
    'n',
    'p50',
    'p90',
    'p99',
    'raw p50',
    'raw p90',
    'raw p99',
    '×raw',
    '+ms over raw',
    'floor p50',
    '+ms over floor',
    'target',
    'verdict',
    'note',
  ];
  const out: string[][] = [];
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      out.push([`**${section}**`, ...header.slice(1).map(() => '')]);
    }
    const o = r.orch;
    const b = r.raw;
    const f = r.floor;
    if (r.value) {
      out.push([
        r.metric,
        '1',
        `${fmt(r.value.amount)} ${r.value.unit}`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        r.target?.text ?? '',
        r.target?.detail ?? '',
        r.note ?? '',
      ]);
      continue;
    }
    out.push([
      r.metric,
      o ? String(o.n) : '-',
      fmt(o?.p50),
      fmt(o?.p90),
      fmt(o?.p99),
      fmt(b?.p50),
      fmt(b?.p90),
      fmt(b?.p99),
      o && b ? `${(o.p50 / b.p50).toFixed(2)}` : '-',
      o && b ? fmt(o.p50 - b.p50) : '-',
      fmt(f?.p50),
      o && f ? fmt(o.p50 - (b?.p50 ?? 0) - f.p50) : '-',
      r.target?.text ?? '',
      r.target?.detail ?? '',
      (r.note ?? '').replace(/\s+/g, ' '),
    ]);
  }
  return table(header, out);
}

export function renderBreakdown(rec: Recorder): string {
  const names = [...rec.series.keys()].sort();
  return table(
    ['step (ms)', 'n', 'p50', 'p90', 'p99', '', '', ''],
    names.map((name) => {
      const s = rec.get(name)!;
      return [name, String(s.n), fmt(s.p50), fmt(s.p90), fmt(s.p99), '', '', ''];
    }),
  );
}
