/**
 * The real `fl-build-report` (FunkLoad 1.17.2 in ../shared/vendor, run by Python 2.7) and a reader
 * of its ReST report, so tests can put FunkLoad's figures beside ours, table by table.
 * Under CI=true a missing vendor tree or Python 2.7 is a failure, elsewhere a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunSummary } from '../../src/runners/results.js';
import type { CycleSummary, LatencyStats } from '../../src/runners/summary.js';
import { ROOT } from './dist.js';

export const VENDOR = path.resolve(ROOT, '..', 'shared', 'vendor');
const FL_BUILD_REPORT = path.join(VENDOR, 'bin', 'fl-build-report');

let available: boolean | undefined;

/** Whether the real fl-build-report can run here (throws under CI=true when it cannot). */
export function haveRealFunkload(): boolean {
  if (available === undefined) {
    const r = existsSync(FL_BUILD_REPORT)
      ? spawnSync(path.join(VENDOR, 'bin', 'fl-python'), ['-c', 'import funkload.ReportBuilder'], { encoding: 'utf8', timeout: 60_000 })
      : undefined;
    available = r?.status === 0;
    if (!available && process.env.CI === 'true') {
      throw new Error(
        `the real FunkLoad cannot run (${r ? r.stderr.trim() || `exit ${r.status}` : `${FL_BUILD_REPORT} is missing`}) but CI=true: ` +
          'CI must lay shared/vendor beside the clone and provide Python 2.7 (pyenv 2.7.18)',
      );
    }
  }
  return available;
}

/** `fl-build-report [args] xml...` run in `cwd`; its stdout (the ReST report unless --html). */
export function flBuildReport(files: string[], args: string[] = [], cwd = ROOT): string {
  return execFileSync(FL_BUILD_REPORT, [...args, ...files], { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
}

/** One table row: column name (as FunkLoad heads it, `*` dropped) to the printed text. */
export type FlRow = Record<string, string>;

export interface FlReport {
  /** "The bench contains:" totals. */
  totals: { tests: number; testErrors: number; pages: number; pageErrors: number; requests: number; requestErrors: number };
  tests: FlRow[];
  pages: FlRow[];
  requests: FlRow[];
  /** Page detail tables, by FunkLoad's step key (`001.002`: page 1, its second response). */
  steps: Map<string, FlRow[]>;
  /** "Slowest requests": the best cycle's CUs (`None` when it has no request) and its items, in order. */
  slowest?: { cvus: string; items: FlSlowest[] };
}

/** One item of FunkLoad's "Slowest requests" list, as printed (avg in seconds, 2 decimals). */
export interface FlSlowest {
  page: string;
  rating: string;
  avg: string;
  type: string;
  url: string;
  description: string;
}

/** `* In page 001, Apdex rating: Excellent, avg response time: 0.01s, get: ``/``` then `  `description``. */
function slowest(lines: string[] | undefined): FlReport['slowest'] {
  if (!lines) return undefined;
  const head = /best cycle with \*\*(.*)\*\* CUs:/.exec(lines.join('\n'));
  if (!head) return undefined;
  const items: FlSlowest[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\* In page (\S+), Apdex rating: (\S+), avg response time: ([\d.]+)s, ([^:]+): ``(.*)``$/.exec(lines[i]);
    if (!m) continue;
    const d = /^ {2}`(.*)`$/.exec(lines[i + 1] ?? '');
    items.push({ page: m[1], rating: m[2], avg: m[3], type: m[4], url: m[5], description: d ? d[1] : '' });
  }
  return { cvus: head[1], items };
}

const isDeco = (l: string) => /^\s*=+(\s+=+)*\s*$/.test(l);

/** The simple tables of one section, each as rows of named cells. */
function tables(lines: string[]): FlRow[][] {
  const out: FlRow[][] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!isDeco(lines[i]) || !isDeco(lines[i + 2] ?? '')) continue;
    const head = lines[i + 1].trim().split(/\s+/).map((h) => h.replace(/\*$/, ''));
    const rows: FlRow[] = [];
    let j = i + 3;
    for (; j < lines.length && !isDeco(lines[j]); j++) {
      const cells = lines[j].trim().split(/\s+/);
      if (cells.length === head.length) rows.push(Object.fromEntries(head.map((h, k) => [h, cells[k]])));
    }
    out.push(rows);
    i = j;
  }
  return out;
}

/** Sections by their `----` titles. */
function sections(text: string): Map<string, string[]> {
  const lines = text.split('\n');
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (i + 1 < lines.length && /^-{3,}$/.test(lines[i + 1]) && lines[i + 1].length === lines[i].length) {
      current = [];
      out.set(lines[i], current);
      i++;
    } else current?.push(lines[i]);
  }
  return out;
}

export function parseFlReport(rst: string): FlReport {
  const s = sections(rst);
  // After "The bench contains:" (before it, "The test ... contains:" counts pages per test).
  const content = (s.get('Bench content') ?? []).join('\n').split('The bench contains:')[1] ?? '';
  const total = (what: string): [number, number] => {
    const m = new RegExp(`^\\* (\\d+) ${what}(?:, (\\d+) error(?:s|\\(s\\))?)?$`, 'm').exec(content);
    return m ? [Number(m[1]), Number(m[2] ?? 0)] : [0, 0];
  };
  const [tests, testErrors] = total('tests');
  const [pages, pageErrors] = total('pages');
  const [requests, requestErrors] = total('requests');
  const steps = new Map<string, FlRow[]>();
  let page = '';
  const detail = s.get('Page detail stats') ?? [];
  for (let i = 0; i < detail.length; i++) {
    const p = /^PAGE (\S+): /.exec(detail[i]);
    if (p) page = p[1];
    const r = /^\* Req: (\S+), /.exec(detail[i]);
    if (r) {
      let end = i + 1;
      while (end < detail.length && !/^(PAGE \S+: |\* Req: )/.test(detail[end])) end++;
      steps.set(`${page}.${r[1]}`, tables(detail.slice(i + 1, end))[0] ?? []);
    }
  }
  return {
    totals: { tests, testErrors, pages, pageErrors, requests, requestErrors },
    tests: tables(s.get('Test stats') ?? [])[0] ?? [],
    pages: tables(s.get('Page stats') ?? [])[0] ?? [],
    requests: tables(s.get('Request stats') ?? [])[0] ?? [],
    steps,
    slowest: slowest(s.get('Slowest requests')),
  };
}

// ---------------------------------------------------------------------------------------------
// Ours beside theirs

/** FunkLoad prints seconds and rates with 3 decimals, percents with 2. */
const HALF_MS = 0.0005 + 1e-9;
const HALF_PERCENT_POINT = 0.005 + 1e-9;

export interface Tolerance {
  /** Relative error allowed on a percentile, beyond FunkLoad's print rounding. */
  percentile: number;
}

/**
 * Every figure of FunkLoad's Test, Page, Request and page-detail tables and its totals, against
 * ours: counts exact, rates, times and Apdex within FunkLoad's print rounding, percentiles within
 * `tol.percentile` beyond it. Returns what differs, one line each (empty: all agree).
 */
export function compareWithFunkload(ours: RunSummary, fl: FlReport, tol: Tolerance): string[] {
  const bad: string[] = [];
  const eq = (where: string, a: number, b: number) => {
    if (a !== b) bad.push(`${where}: ours ${a}, FunkLoad ${b}`);
  };
  const near = (where: string, a: number, printed: string, slack: number) => {
    const b = Number(printed.replace('%', ''));
    if (!(Math.abs(a - b) <= slack)) bad.push(`${where}: ours ${a}, FunkLoad ${printed}`);
  };
  const o = ours.overall;
  eq('total tests', o.tests.total, fl.totals.tests);
  eq('total test errors', o.tests.total - o.tests.success, fl.totals.testErrors);
  eq('total pages', o.pages.total, fl.totals.pages);
  eq('total page errors', o.pages.total - o.pages.success, fl.totals.pageErrors);
  eq('total requests', o.requests.total, fl.totals.requests);
  eq('total request errors', o.requests.total - o.requests.success, fl.totals.requestErrors);

  const latency = (where: string, l: LatencyStats, row: FlRow) => {
    near(`${where} MIN`, l.min / 1000, row.MIN, HALF_MS);
    near(`${where} AVG`, l.avg / 1000, row.AVG, HALF_MS);
    near(`${where} MAX`, l.max / 1000, row.MAX, HALF_MS);
    for (const [col, v] of [['P10', l.p10], ['MED', l.p50], ['P90', l.p90], ['P95', l.p95]] as const) {
      // FunkLoad prints -1 for a percentile of nothing.
      if (row[col] === '-1.000') eq(`${where} ${col}: samples`, l.count, 0);
      else near(`${where} ${col}`, v / 1000, row[col], HALF_MS + (tol.percentile * v) / 1000);
    }
  };
  const apdex = (where: string, a: { score: number; rating: string }, row: FlRow) => {
    near(`${where} Apdex`, a.score, row.Apdex, HALF_MS);
    if (a.rating !== row.Rating) bad.push(`${where} Rating: ours ${a.rating}, FunkLoad ${row.Rating}`);
  };
  const rows = (what: string, flRows: FlRow[], cycles: CycleSummary[], check: (where: string, c: CycleSummary, row: FlRow) => void) => {
    if (flRows.length !== cycles.length) {
      bad.push(`${what}: ours ${cycles.length} cycles (${cycles.map((c) => c.cvus)}), FunkLoad ${flRows.length} (${flRows.map((r) => r.CUs)})`);
      return;
    }
    cycles.forEach((c, i) => {
      const where = `${what} cycle ${c.cycle} (${c.cvus} CUs)`;
      eq(`${where} CUs`, c.cvus, Number(flRows[i].CUs));
      check(where, c, flRows[i]);
    });
  };
  // FunkLoad has a row for a cycle once it saw a testResult (tests) or a response (the others).
  const withTests = ours.cycles.filter((c) => c.tests.total > 0);
  const withResponses = ours.cycles.filter((c) => c.requests.total > 0);
  rows('tests', fl.tests, withTests, (where, c, row) => {
    near(`${where} STPS`, c.tests.stps, row.STPS, HALF_MS);
    eq(`${where} TOTAL`, c.tests.total, Number(row.TOTAL));
    eq(`${where} SUCCESS`, c.tests.success, Number(row.SUCCESS));
    near(`${where} ERROR`, c.tests.errorPercent, row.ERROR, HALF_PERCENT_POINT);
  });
  rows('pages', fl.pages, withResponses, (where, c, row) => {
    apdex(where, c.pages.apdex, row);
    near(`${where} SPPS`, c.pages.spps, row.SPPS, HALF_MS);
    eq(`${where} maxSPPS`, c.pages.maxSpps, Number(row.maxSPPS));
    eq(`${where} TOTAL`, c.pages.total, Number(row.TOTAL));
    eq(`${where} SUCCESS`, c.pages.success, Number(row.SUCCESS));
    near(`${where} ERROR`, c.pages.errorPercent, row.ERROR, HALF_PERCENT_POINT);
    latency(where, c.pages.latency, row);
  });
  rows('requests', fl.requests, withResponses, (where, c, row) => {
    apdex(where, c.requests.apdex, row);
    near(`${where} RPS`, c.requests.rps, row.RPS, HALF_MS);
    eq(`${where} maxRPS`, c.requests.maxRps, Number(row.maxRPS));
    eq(`${where} TOTAL`, c.requests.total, Number(row.TOTAL));
    eq(`${where} SUCCESS`, c.requests.success, Number(row.SUCCESS));
    near(`${where} ERROR`, c.requests.errorPercent, row.ERROR, HALF_PERCENT_POINT);
    latency(where, c.requests.latency, row);
  });
  // FunkLoad details the steps of its "representative" cycle; every cycle that has the step.
  for (const [key, flRows] of fl.steps) {
    const cycles = ours.cycles.filter((c) => c.steps.some((st) => st.key === key));
    rows(`step ${key}`, flRows, cycles, (where, c, row) => {
      const st = c.steps.find((x) => x.key === key)!;
      apdex(where, st.apdex, row);
      eq(`${where} TOTAL`, st.total, Number(row.TOTAL));
      eq(`${where} SUCCESS`, st.success, Number(row.SUCCESS));
      near(`${where} ERROR`, st.errorPercent, row.ERROR, HALF_PERCENT_POINT);
      latency(where, st.latency, row);
    });
  }
  return bad;
}

/** The cells of our HTML report's "Slowest requests" table, and the CUs of its best cycle. */
export function ourSlowest(html: string): { cvus: string; rows: string[][] } | undefined {
  const at = html.indexOf('<h3>Slowest requests</h3>');
  if (at < 0) return undefined;
  const next = html.indexOf('<h', at + 1);
  const section = html.slice(at, next < 0 ? undefined : next);
  const cvus = /with <b>(\d+)<\/b> CUs/.exec(section)?.[1] ?? '';
  const text = (c: string) => c.replace(/<[^>]+>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const rows = [...section.matchAll(/<tr>(.*?)<\/tr>/gs)].slice(1).map((r) => [...r[1].matchAll(/<td>(.*?)<\/td>/g)].map((m) => text(m[1])));
  return { cvus, rows };
}

/**
 * Our "Slowest requests" against FunkLoad's: the same best cycle and the same requests in the
 * same order (page, type, url, description), the same Apdex rating, the average within both
 * print roundings (FunkLoad's 2 decimals of a second). Returns what differs (empty: all agree).
 */
export function compareSlowest(html: string, fl: FlReport): string[] {
  const ours = ourSlowest(html);
  const theirs = fl.slowest;
  if (!theirs?.items.length) return ours?.rows.length ? [`ours lists ${ours.rows.length} slowest requests, FunkLoad none`] : [];
  if (!ours) return ['our report has no "Slowest requests"'];
  const bad: string[] = [];
  if (ours.cvus !== theirs.cvus) bad.push(`best cycle: ours ${ours.cvus} CUs, FunkLoad ${theirs.cvus}`);
  const key = (x: { page: string; type: string; url: string; description: string }) => `${x.page} ${x.type} ${x.url} «${x.description}»`;
  const ourKeys = ours.rows.map(([page, , , type, url, description]) => key({ page, type, url, description }));
  const flKeys = theirs.items.map(key);
  if (ourKeys.join('\n') !== flKeys.join('\n')) bad.push(`requests: ours\n  ${ourKeys.join('\n  ')}\nFunkLoad\n  ${flKeys.join('\n  ')}`);
  ours.rows.forEach(([, rating, avg], i) => {
    const f = theirs.items[i];
    if (!f) return;
    if (rating !== f.rating) bad.push(`#${i + 1} Apdex rating: ours ${rating}, FunkLoad ${f.rating}`);
    const m = /^([\d.]+)(ms|s)$/.exec(avg);
    if (!m) return void bad.push(`#${i + 1} avg: ours ${avg}`);
    const decimals = m[1].split('.')[1]?.length ?? 0;
    const unit = m[2] === 's' ? 1 : 1e-3;
    if (Math.abs(Number(m[1]) * unit - Number(f.avg)) > 0.005 + 0.5 * 10 ** -decimals * unit + 1e-9) bad.push(`#${i + 1} avg: ours ${avg}, FunkLoad ${f.avg}s`);
  });
  return bad;
}
