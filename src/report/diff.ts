/**
 * `--diff A B`: two runs compared cycle by cycle (as FunkLoad's diff report: "B vs A", request
 * and page throughput and response times per cycle, with B/A ratios), as a self-contained HTML
 * page, JSON, and a plain text table for the terminal.
 */
import type { RunSummary } from '../runners/results.js';
import type { CycleSummary } from '../runners/summary.js';
import { esc, lineChart } from './svg.js';

export interface CycleDiff {
  cycle: number;
  cvusA?: number;
  cvusB?: number;
  rps: Pair;
  spps: Pair;
  successRate: Pair;
  apdex: Pair;
  avg: Pair;
  p50: Pair;
  p95: Pair;
  p99: Pair;
}

/** A value in each run and B relative to A (B/A − 1, e.g. 0.12 = +12 %); undefined when not comparable. */
export interface Pair {
  a?: number;
  b?: number;
  change?: number;
}

export interface RunDiff {
  a: { name: string; start: number; label: string };
  b: { name: string; start: number; label: string };
  cycles: CycleDiff[];
  overall: Omit<CycleDiff, 'cycle' | 'cvusA' | 'cvusB'>;
  /** True when both runs have the same cycles (users per cycle): the comparison is like for like. */
  sameCycles: boolean;
}

function pair(a: number | undefined, b: number | undefined): Pair {
  const change = a !== undefined && b !== undefined && a !== 0 ? b / a - 1 : undefined;
  return { a, b, change };
}

function figures(a: CycleSummary | undefined, b: CycleSummary | undefined) {
  const lat = (c: CycleSummary | undefined, k: 'avg' | 'p50' | 'p95' | 'p99') => (c && c.requests.latency.count ? c.requests.latency[k] : undefined);
  return {
    rps: pair(a?.requests.rps, b?.requests.rps),
    spps: pair(a?.pages.spps, b?.pages.spps),
    successRate: pair(a?.successRate, b?.successRate),
    apdex: pair(a?.requests.total ? a.apdex.score : undefined, b?.requests.total ? b.apdex.score : undefined),
    avg: pair(lat(a, 'avg'), lat(b, 'avg')),
    p50: pair(lat(a, 'p50'), lat(b, 'p50')),
    p95: pair(lat(a, 'p95'), lat(b, 'p95')),
    p99: pair(lat(a, 'p99'), lat(b, 'p99')),
  };
}

export function diffRuns(a: RunSummary, b: RunSummary, labels: [string, string] = ['A', 'B']): RunDiff {
  const n = Math.max(a.cycles.length, b.cycles.length);
  const cycles: CycleDiff[] = [];
  for (let i = 0; i < n; i++) {
    const ca = a.cycles[i];
    const cb = b.cycles[i];
    cycles.push({ cycle: i, cvusA: ca?.cvus, cvusB: cb?.cvus, ...figures(ca, cb) });
  }
  return {
    a: { name: a.info.name, start: a.info.start, label: labels[0] },
    b: { name: b.info.name, start: b.info.start, label: labels[1] },
    cycles,
    overall: figures(a.overall, b.overall),
    sameCycles: a.cycles.map((c) => c.cvus).join() === b.cycles.map((c) => c.cvus).join(),
  };
}

const ms = (v?: number) => (v === undefined ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(1)}ms`);
const rate = (v?: number) => (v === undefined ? '-' : v.toFixed(1));
const pct = (v?: number) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const score = (v?: number) => (v === undefined ? '-' : v.toFixed(3));
export const change = (p: Pair) => (p.change === undefined ? '' : `${p.change >= 0 ? '+' : ''}${(p.change * 100).toFixed(1)}%`);

const COLUMNS: [string, keyof Omit<CycleDiff, 'cycle' | 'cvusA' | 'cvusB'>, (v?: number) => string][] = [
  ['RPS', 'rps', rate],
  ['SPPS', 'spps', rate],
  ['success', 'successRate', pct],
  ['Apdex', 'apdex', score],
  ['avg', 'avg', ms],
  ['p95', 'p95', ms],
  ['p99', 'p99', ms],
];

function cus(d: CycleDiff): string {
  return d.cvusA === d.cvusB ? String(d.cvusA ?? '-') : `${d.cvusA ?? '-'}/${d.cvusB ?? '-'}`;
}

/** A plain text table (no colour): one row per cycle, each column "A → B (±x%)". */
export function formatDiffText(d: RunDiff): string {
  const head = ['cycle', 'CUs', ...COLUMNS.map(([h]) => h)];
  const rows = d.cycles.map((c) => [`#${c.cycle}`, cus(c), ...COLUMNS.map(([, k, f]) => `${f(c[k].a)} → ${f(c[k].b)} ${change(c[k])}`.trim())]);
  rows.push(['all', '', ...COLUMNS.map(([, k, f]) => `${f(d.overall[k].a)} → ${f(d.overall[k].b)} ${change(d.overall[k])}`.trim())]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [`${d.b.label} vs ${d.a.label}${d.sameCycles ? '' : ' (cycles differ: compared by position)'}`, line(head), ...rows.map(line)];
  return `${out.join('\n')}\n`;
}

export function renderDiffHtml(d: RunDiff): string {
  // Each run at its own user counts: when the cycles differ, the axis holds both runs' counts.
  const usersOf = (c: CycleDiff, side: 'a' | 'b') => (side === 'a' ? c.cvusA : c.cvusB) ?? c.cycle;
  const users = [...new Set(d.cycles.flatMap((c) => [c.cvusA, c.cvusB].filter((u): u is number => u !== undefined)))].sort((x, y) => x - y);
  const points = (k: keyof Omit<CycleDiff, 'cycle' | 'cvusA' | 'cvusB'>, side: 'a' | 'b') =>
    d.cycles.filter((c) => c[k][side] !== undefined).map((c) => [usersOf(c, side), c[k][side]!] as [number, number]);
  const rpsChart = lineChart({
    id: 'diff-rps',
    title: 'Requests per second',
    categorical: true,
    x: { label: 'concurrent users (CUs)', format: String, ticks: users },
    y: { label: 'requests/s', format: (v) => v.toFixed(0) },
    series: [
      { name: `RPS ${d.a.label}`, color: '#94a3b8', points: points('rps', 'a') },
      { name: `RPS ${d.b.label}`, color: '#2563eb', points: points('rps', 'b') },
    ],
  });
  const latChart = lineChart({
    id: 'diff-p95',
    title: 'p95 response time',
    categorical: true,
    x: { label: 'concurrent users (CUs)', format: String, ticks: users },
    y: { label: 'response time', format: (v) => ms(v) },
    series: [
      { name: `p95 ${d.a.label}`, color: '#94a3b8', points: points('p95', 'a') },
      { name: `p95 ${d.b.label}`, color: '#ea580c', points: points('p95', 'b') },
    ],
  });
  const th = ['cycle', 'CUs', ...COLUMNS.map(([h]) => h)].map((h) => `<th>${esc(h)}</th>`).join('');
  const cell = (p: Pair, f: (v?: number) => string) => `${esc(f(p.a))} → ${esc(f(p.b))} <b>${esc(change(p))}</b>`;
  const rows = d.cycles
    .map((c) => `<tr><td>#${c.cycle}</td><td>${esc(cus(c))}</td>${COLUMNS.map(([, k, f]) => `<td>${cell(c[k], f)}</td>`).join('')}</tr>`)
    .concat(`<tr><td>all</td><td></td>${COLUMNS.map(([, k, f]) => `<td>${cell(d.overall[k], f)}</td>`).join('')}</tr>`)
    .join('\n');
  const title = `${d.b.label} vs ${d.a.label}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:16px 24px;color:#1f2937}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #e2e8f0;padding:3px 6px}th{background:#f1f5f9}
svg.chart{width:100%;height:auto;border:1px solid #e2e8f0;border-radius:6px;margin:6px 0}
svg .title{font-size:13px;font-weight:600}svg .tick,svg .legend,svg .axis-label{font-size:11px;fill:#475569}svg .grid{stroke:#eef2f7}svg .axis{stroke:#94a3b8}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>${esc(d.a.label)}: ${esc(d.a.name)} (${esc(new Date(d.a.start).toISOString())}) · ${esc(d.b.label)}: ${esc(d.b.name)} (${esc(new Date(d.b.start).toISOString())})${d.sameCycles ? '' : ' · <b>the cycles differ: compared by position</b>'}</p>
${rpsChart}
${latChart}
<table><thead><tr>${th}</tr></thead><tbody>
${rows}
</tbody></table>
<p>Each cell: ${esc(d.a.label)} → ${esc(d.b.label)} and the change of ${esc(d.b.label)} relative to ${esc(d.a.label)}.</p>
</body></html>
`;
}
