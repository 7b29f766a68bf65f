/**
 * Locust's CSV files (`--csv` or our plugin, which uses Locust's own writer) and the plugin's
 * progress lines, parsed into plain records. Pure functions: text in, records out; a file that
 * is not what Locust writes is a LocustFormatError naming the file, line and column.
 *
 * Columns are found by header name, not position, so files of other Locust versions (which
 * added columns such as "Average Content Size" or "Nodes" over time) read the same way.
 */
import { PROGRESS_MARK } from './plugin.js';

export class LocustFormatError extends Error {
  constructor(readonly file: string, readonly line: number, problem: string) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'LocustFormatError';
  }
}

/** One parsed CSV record and the 1-based line it starts on. */
interface CsvRecord {
  line: number;
  fields: string[];
}

/** RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines (tracebacks). */
export function parseCsv(text: string, file = 'csv'): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let atFieldStart = true;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (fields.length > 1 || fields[0] !== '') records.push({ line: start, fields });
      fields = [];
      field = '';
      atFieldStart = true;
      line++;
      start = line;
    } else {
      field += ch;
      atFieldStart = false;
    }
  }
  if (quoted) throw new LocustFormatError(file, start, 'a quoted field is not closed before the end of the file');
  if (field !== '' || fields.length) {
    fields.push(field);
    records.push({ line: start, fields });
  }
  return records;
}

/** The header-named columns of a CSV file, with the ones the caller needs checked present. */
function table(text: string, file: string, required: readonly string[]): { header: string[]; rows: CsvRecord[]; col: (r: CsvRecord, name: string) => string } {
  const [head, ...rows] = parseCsv(text, file);
  if (!head) throw new LocustFormatError(file, 1, 'the file is empty (no header row)');
  const index = new Map(head.fields.map((h, i) => [h.trim(), i]));
  const missing = required.filter((c) => !index.has(c));
  if (missing.length) throw new LocustFormatError(file, head.line, `missing column(s) ${missing.map((m) => `"${m}"`).join(', ')}: not a Locust CSV file of this kind`);
  for (const r of rows) {
    if (r.fields.length !== head.fields.length) {
      throw new LocustFormatError(file, r.line, `${r.fields.length} fields where the header has ${head.fields.length}`);
    }
  }
  return { header: [...index.keys()], rows, col: (r, name) => r.fields[index.get(name)!] ?? '' };
}

function num(v: string, file: string, line: number, column: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new LocustFormatError(file, line, `column "${column}": "${v}" is not a number`);
  return n;
}

/** Percentile columns are "50%", "99.9%", ...; "N/A" when the entry has no request. */
export interface PercentilePoint {
  /** 0..1 */
  q: number;
  ms: number;
}

export interface LocustStatsRow {
  method: string;
  name: string;
  requests: number;
  failures: number;
  medianMs: number;
  avgMs: number;
  minMs: number;
  maxMs: number;
  /** Ascending q; empty when Locust wrote N/A (no request). */
  percentiles: PercentilePoint[];
}

export interface LocustStats {
  entries: LocustStatsRow[];
  /** Locust's "Aggregated" row (all entries together). */
  total?: LocustStatsRow;
}

const STATS_COLUMNS = ['Type', 'Name', 'Request Count', 'Failure Count', 'Median Response Time', 'Average Response Time', 'Min Response Time', 'Max Response Time'] as const;

/** `<prefix>_stats.csv`: one row per (method, name), then the Aggregated row. */
export function parseStatsCsv(text: string, file = 'stats.csv'): LocustStats {
  const { header, rows, col } = table(text, file, STATS_COLUMNS);
  const pctColumns = header
    .filter((h) => /^\d+(\.\d+)?%$/.test(h))
    // Rounded so that "99.9%" is 0.999, not 0.9990000000000001.
    .map((h) => ({ h, q: Math.round(Number(h.slice(0, -1)) * 1e4) / 1e6 }))
    .sort((a, b) => a.q - b.q);
  const out: LocustStats = { entries: [] };
  for (const r of rows) {
    const n = (c: string) => num(col(r, c), file, r.line, c);
    const requests = n('Request Count');
    const percentiles = pctColumns
      .filter(({ h }) => col(r, h) !== 'N/A')
      .map(({ h, q }) => ({ q, ms: num(col(r, h), file, r.line, h) }));
    const row: LocustStatsRow = {
      method: col(r, 'Type'),
      name: col(r, 'Name'),
      requests,
      failures: n('Failure Count'),
      medianMs: requests ? n('Median Response Time') : 0,
      avgMs: requests ? n('Average Response Time') : 0,
      minMs: requests ? n('Min Response Time') : 0,
      maxMs: requests ? n('Max Response Time') : 0,
      percentiles,
    };
    if (row.failures > row.requests) throw new LocustFormatError(file, r.line, `${row.failures} failures out of ${row.requests} requests`);
    if (row.name === 'Aggregated' && row.method === '') out.total = row;
    else out.entries.push(row);
  }
  return out;
}

export interface LocustFailure {
  method: string;
  name: string;
  error: string;
  occurrences: number;
}

/** `<prefix>_failures.csv`: failed requests grouped by (method, name, error). */
export function parseFailuresCsv(text: string, file = 'failures.csv'): LocustFailure[] {
  const { rows, col } = table(text, file, ['Method', 'Name', 'Error', 'Occurrences']);
  return rows.map((r) => ({ method: col(r, 'Method'), name: col(r, 'Name'), error: col(r, 'Error'), occurrences: num(col(r, 'Occurrences'), file, r.line, 'Occurrences') }));
}

export interface LocustException {
  count: number;
  message: string;
  traceback: string;
}

/** `<prefix>_exceptions.csv`: exceptions raised in tasks (outside requests), with tracebacks. */
export function parseExceptionsCsv(text: string, file = 'exceptions.csv'): LocustException[] {
  const { rows, col } = table(text, file, ['Count', 'Message', 'Traceback']);
  return rows.map((r) => ({ count: num(col(r, 'Count'), file, r.line, 'Count'), message: col(r, 'Message'), traceback: col(r, 'Traceback') }));
}

/** One line of the plugin (see plugin.ts); times in epoch seconds as Python gives them. */
export type LocustProgressLine =
  | { kind: 'recording'; t: number; users: number }
  | {
      kind: 'tick';
      t: number;
      users: number;
      requests: number;
      failures: number;
      /** Requests and failures since the previous tick. */
      new: number;
      new_failures: number;
      /** Response times of those requests: Locust's rounded ms -> count. */
      times: Record<string, number>;
      /** Requests finished since the previous tick, counted by start (see LocustSample). */
      samples?: LocustSample[];
      /** Distributed runs: each worker node's users, as its last report to the master said. */
      nodes?: Record<string, number>;
      /** What changed per request name, read by CycleStream (stream.ts), which checks them. */
      named?: unknown;
      texts?: unknown;
      per_name?: unknown;
      failed?: unknown;
      raised?: unknown;
    }
  | { kind: 'end'; t: number; start: number; last: number | null; requests: number };

/**
 * [start of its SAMPLE_MS bucket (epoch ms), outcome key ("200", "503", "timeout", "connection"),
 * rounded ms, ok 1/0, count, and in a distributed run the worker node that sent them].
 */
export type LocustSample = [at: number, outcome: string, ms: number, ok: number, count: number, node?: string];

/** The well-formed samples of a tick (a plugin of another version may send none). */
export function tickSamples(v: unknown): LocustSample[] {
  if (!Array.isArray(v)) return [];
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  return v.filter((x): x is LocustSample => Array.isArray(x) && (x.length === 5 || (x.length === 6 && typeof x[5] === 'string')) && finite(x[0]) && typeof x[1] === 'string' && finite(x[2]) && (x[3] === 0 || x[3] === 1) && Number.isInteger(x[4]) && x[4] > 0);
}

/** The plugin's progress record on a stdout line, or undefined for any other line. */
export function parseProgressLine(line: string): LocustProgressLine | undefined {
  if (!line.startsWith(PROGRESS_MARK)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(PROGRESS_MARK.length));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const finite = (k: string) => typeof o[k] === 'number' && Number.isFinite(o[k]);
  if (!finite('t')) return undefined;
  if (o.kind === 'recording' && finite('users')) return o as LocustProgressLine;
  if (o.kind === 'end' && finite('start') && finite('requests')) return o as LocustProgressLine;
  if (o.kind === 'tick' && ['users', 'requests', 'failures', 'new', 'new_failures'].every(finite) && typeof o.times === 'object' && o.times !== null) {
    return o as LocustProgressLine;
  }
  return undefined;
}

/** The worker nodes' user counts of a tick (none in a single-process run). */
export function tickNodes(v: unknown): [string, number][] {
  if (typeof v !== 'object' || v === null) return [];
  return Object.entries(v).filter((e): e is [string, number] => Number.isInteger(e[1]) && e[1] >= 0);
}

/** [ms, count] pairs of a tick's histogram, skipping anything that is not a count. */
export function tickDurations(times: Record<string, number>): [number, number][] {
  const out: [number, number][] = [];
  for (const [k, c] of Object.entries(times)) {
    const ms = Number(k);
    if (Number.isFinite(ms) && ms >= 0 && Number.isInteger(c) && c > 0) out.push([ms, c]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}
