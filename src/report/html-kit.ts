/** The HTML report's shared pieces: its colours, number formats and plain tables. */
import { apdexRating } from '../runners/formulas.js';
import { esc } from './svg.js';

export const COLORS = {
  rps: '#2563eb',
  spps: '#16a34a',
  stps: '#9333ea',
  errors: '#dc2626',
  p50: '#0891b2',
  p90: '#ca8a04',
  p95: '#ea580c',
  p99: '#dc2626',
  avg: '#64748b',
  users: '#94a3b8',
  success: '#16a34a',
  recovered: '#15803d',
  notRecovered: '#b91c1c',
  tooSoon: '#b45309',
};
export const PALETTE = ['#dc2626', '#ea580c', '#ca8a04', '#9333ea', '#db2777', '#0d9488', '#2563eb', '#4d7c0f'];
const APDEX_COLORS: Record<string, string> = { UNACCEPTABLE: '#9ca3af', POOR: '#ef4444', FAIR: '#facc15', Good: '#22c55e', Excellent: '#3b82f6' };

export const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 10 ? `${v.toFixed(0)}ms` : `${v.toFixed(1)}ms`);
/**
 * `v` with `digits` decimals as FunkLoad prints it (Python's '%.3f', C's printf): an exact tie
 * (0.5625, a 9-of-16 Apdex) goes to the even digit, 0.562, where toFixed takes it up, 0.563.
 */
export function fixed(v: number, digits: number): string {
  // A tie is a short binary fraction, so its exact expansion ends within these 30 digits; any
  // other double differs from the nearest tie well before.
  const long = v.toFixed(digits + 30);
  const cut = long.length - 30;
  if (digits === 0 || !/^50*$/.test(long.slice(cut)) || Number(long[cut - 1]) % 2 === 1) return v.toFixed(digits);
  return long.slice(0, cut);
}
export const f3 = (v: number) => fixed(v, 3);
export const f1 = (v: number) => v.toFixed(1);
export const pctS = (v: number) => `${fixed(v, 2)}%`;
/** A time axis' tick: a short run's axis steps by fractions of a second (0.5s, 0.2s), which whole seconds would repeat. */
export const secs = (v: number) => `${Number(v.toFixed(2))}s`;
export const int = (v: number) => String(Math.round(v));

/** `attrs`: more attributes of the table, already escaped (e.g. ` data-step="001.001"`). */
export function table(headers: string[], rows: (string | number)[][], cls = '', attrs = ''): string {
  const th = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? esc(String(c)) : c}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${cls}"${attrs}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

export function apdexCell(score: number): string {
  const r = apdexRating(score);
  return `<span class="apdex" style="background:${APDEX_COLORS[r]}" title="${esc(r)}">${f3(score)} ${esc(r[0])}</span>`;
}
