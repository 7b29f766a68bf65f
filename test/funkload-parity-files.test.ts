/**
 * What a user reads in our HTML report against what FunkLoad's own `fl-build-report` prints, on
 * result files the real FunkLoad 1.17.2 wrote (fixtures/funkload/real/, see CAPTURED.md there),
 * with FunkLoad's report of each stored beside it: a bench against the demo shop with 404s, 500s,
 * refused connections, a raising test and unicode in urls and descriptions; the same bench stopped
 * with Ctrl-C during its second cycle (no `</funkload>`); a bench whose cycles recorded nothing;
 * error bodies in Latin-1, on which FunkLoad's own report stops.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runReportCommand } from '../src/cli/report-command.js';
import { fixed } from '../src/report/html-kit.js';
import { renderHtmlReport } from '../src/report/index.js';
import { loadResults } from '../src/report/load.js';
import { PERCENTILE_PRECISION } from '../src/stats/histogram.js';
import { compareSlowest, compareWithFunkload, flBuildReport, haveRealFunkload, ourSlowest, parseFlReport, type FlRow } from './helpers/fl-build-report.js';

const REAL = path.join(import.meta.dirname, '../fixtures/funkload/real');
const fl = (name: string) => parseFlReport(readFileSync(path.join(REAL, `${name}.report.rst`), 'utf8'));
const load = (name: string) => loadResults(path.join(REAL, `${name}.xml`));

/** The text of each row of the table that follows `<h3>title</h3>` in our report. */
function htmlTable(html: string, title: string): { head: string[]; rows: string[][] } {
  const at = html.indexOf(`<h3>${title}</h3>`);
  expect(at, title).toBeGreaterThan(-1);
  const table = html.slice(html.indexOf('<table', at), html.indexOf('</table>', at));
  const cells = (tr: string, tag: string) => [...tr.matchAll(new RegExp(`<${tag}>(.*?)</${tag}>`, 'g'))].map((m) => m[1].replace(/<[^>]+>/g, '').trim());
  const [headRow, ...rows] = [...table.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => m[1]);
  return { head: cells(headRow, 'th'), rows: rows.map((r) => cells(r, 'td')) };
}

/** Seconds from our time cell, and half its last printed digit. */
function ourTime(cell: string): [number, number] {
  const m = /^([\d.]+)(ms|s)$/.exec(cell);
  if (!m) throw new Error(`not a time: ${cell}`);
  const decimals = m[1].split('.')[1]?.length ?? 0;
  const unit = m[2] === 's' ? 1 : 1e-3;
  return [Number(m[1]) * unit, 0.5 * 10 ** -decimals * unit];
}

/** The cells both tables have (counts, error %, FunkLoad's Apdex and times) of one of our rows against FunkLoad's. */
function sameRow(where: string, head: string[], r: string[], f: FlRow, apdexCol: string): string[] {
  const bad: string[] = [];
  const col = (name: string) => head.indexOf(name);
  for (const c of ['TOTAL', 'SUCCESS', 'ERROR']) if (r[col(c)] !== f[c]) bad.push(`${where} ${c}: ours ${r[col(c)]}, FunkLoad ${f[c]}`);
  if (r[col(apdexCol)] !== `${f.Apdex} ${f.Rating[0]}`) bad.push(`${where} ${apdexCol}: ours ${r[col(apdexCol)]}, FunkLoad ${f.Apdex} ${f.Rating}`);
  for (const c of ['MIN', 'AVG', 'MAX', 'P10', 'MED', 'P90', 'P95']) {
    const [v, half] = ourTime(r[col(c)]);
    const slack = half + 0.0005 + (c.startsWith('P') || c === 'MED' ? v * PERCENTILE_PRECISION : 0) + 1e-9;
    if (Math.abs(v - Number(f[c])) > slack) bad.push(`${where} ${c}: ours ${r[col(c)]}, FunkLoad ${f[c]}`);
  }
  return bad;
}

/** FunkLoad's "The bench contains:" totals (tests, pages, requests and their errors) against our sentence. */
function sameBenchContent(html: string, report: ReturnType<typeof fl>): string[] {
  const m = /The bench contains: <b>(\d+)<\/b> tests, (\d+) errors?; <b>(\d+)<\/b> pages, (\d+) errors?; <b>(\d+)<\/b> requests, (\d+) errors?\./.exec(html);
  if (!m) return ['our report has no "The bench contains:"'];
  const t = report.totals;
  const theirs = [t.tests, t.testErrors, t.pages, t.pageErrors, t.requests, t.requestErrors];
  return m.slice(1).map(Number).join() === theirs.join() ? [] : [`bench content: ours ${m.slice(1).join(' ')}, FunkLoad ${theirs.join(' ')}`];
}

/**
 * FunkLoad's page detail (each request, a row per cycle) against ours: the same cycles (CUs) in
 * each request's table, and the same cells.
 */
function samePageDetail(html: string, report: ReturnType<typeof fl>): string[] {
  const bad: string[] = [];
  for (const [key, flRows] of report.steps) {
    const at = html.indexOf(`data-step="${key}"`);
    if (at < 0) {
      bad.push(`page detail ${key}: not in our report`);
      continue;
    }
    const tableHtml = html.slice(at, html.indexOf('</table>', at));
    const cells = (tr: string, tag: string) => [...tr.matchAll(new RegExp(`<${tag}>(.*?)</${tag}>`, 'g'))].map((m) => m[1].replace(/<[^>]+>/g, '').trim());
    const [headRow, ...rows] = [...tableHtml.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => m[1]);
    const head = cells(headRow, 'th');
    const ours = rows.map((r) => cells(r, 'td'));
    if (ours.map((r) => r[0]).join() !== flRows.map((r) => r.CUs).join()) {
      bad.push(`page detail ${key}: our cycles (CUs) ${ours.map((r) => r[0])}, FunkLoad's ${flRows.map((r) => r.CUs)}`);
      continue;
    }
    ours.forEach((r, i) => bad.push(...sameRow(`page detail ${key} ${r[0]} CUs`, head, r, flRows[i], 'FL Apdex*')));
  }
  return bad;
}

/**
 * Every cell of our Page and Request tables against FunkLoad's row of the same cycle: the same
 * cycles, counts and rates as printed, times within both print roundings (and our percentile precision).
 */
function sameTables(html: string, report: ReturnType<typeof fl>): string[] {
  const bad: string[] = [];
  const check = (title: string, flRows: FlRow[], rate: string, max: string, apdexCol: string) => {
    const { head, rows } = htmlTable(html, title);
    const col = (name: string) => head.indexOf(name);
    if (rows.map((r) => r[0]).join() !== flRows.map((r) => r.CUs).join()) {
      bad.push(`${title}: our cycles (CUs) ${rows.map((r) => r[0])}, FunkLoad's ${flRows.map((r) => r.CUs)}`);
      return;
    }
    rows.forEach((r, i) => {
      const f = flRows[i];
      const where = `${title} ${f.CUs} CUs`;
      for (const c of [rate, max]) if (Number(r[col(c)]) !== Number(f[c]) || (c === rate && r[col(c)] !== f[c])) bad.push(`${where} ${c}: ours ${r[col(c)]}, FunkLoad ${f[c]}`);
      bad.push(...sameRow(where, head, r, f, apdexCol));
    });
  };
  check('Page stats', report.pages, 'SPPS', 'maxSPPS', 'FL Apdex*');
  check('Request stats', report.requests, 'RPS', 'maxRPS', 'FL Apdex*');
  const tests = htmlTable(html, 'Test stats').rows.map((r) => r.join(' '));
  expect(tests).toEqual(report.tests.map((t) => [t.CUs, t.STPS, t.TOTAL, t.SUCCESS, t.ERROR].join(' ')));
  return bad;
}

describe("our report of real FunkLoad results, figure by figure against FunkLoad's report", () => {
  it.each(['shop-bench', 'interrupted-bench'])('%s: the model and the HTML tables', async (name) => {
    const { results } = await load(name);
    const s = results.summary();
    const report = fl(name);
    expect(report.requests.length).toBeGreaterThan(1);
    expect(compareWithFunkload(s, report, { percentile: PERCENTILE_PRECISION })).toEqual([]);
    expect(sameTables(renderHtmlReport(s), report)).toEqual([]);
    expect(samePageDetail(renderHtmlReport(s), report)).toEqual([]);
    expect(sameBenchContent(renderHtmlReport(s), report)).toEqual([]);
  });

  it('a bench stopped with Ctrl-C: the cycles it never reached have no row, as in FunkLoad', async () => {
    // Cycles 1:2:4, SIGINT during the 2-user cycle: fl-run-bench printed "Aborting run...Aborted".
    expect(readFileSync(path.join(REAL, 'interrupted-bench.console.txt'), 'utf8')).toContain('Aborting run...Aborted');
    const { results, warnings } = await load('interrupted-bench');
    const s = results.summary();
    expect(s.info.bench.cycles).toEqual([1, 2, 4]);
    expect(s.cycles.map((c) => c.cvus)).toEqual([1, 2]);
    expect(s.overall.cvus).toBe(2);
    expect(s).toMatchObject({ aborted: true, abort: { why: 'stopped' } });
    expect(warnings.join('\n')).toMatch(/missing <\/funkload> tag/);
    const html = renderHtmlReport(s);
    expect(htmlTable(html, 'Request stats').rows.map((r) => r[0])).toEqual(['1', '2']);
    // The job that ran it failed (exit 1): the bench, not marteau-tui, was interrupted.
    expect(html).toContain('<span class="status fail">FAILED</span>');
  });

  it("cycles that recorded nothing show dashes, not 0 ms times or a 0.000 UNACCEPTABLE Apdex", async () => {
    // Every request took 1.5 s in 1 s cycles: FunkLoad's report says "No cycle found".
    expect(readFileSync(path.join(REAL, 'empty-cycles-bench.report.rst'), 'utf8')).toContain('No cycle found');
    const s = (await load('empty-cycles-bench')).results.summary();
    expect(s.cycles.map((c) => [c.cvus, c.requests.total])).toEqual([[1, 0], [2, 0]]);
    const html = renderHtmlReport(s);
    for (const title of ['Page stats', 'Request stats']) {
      const { head, rows } = htmlTable(html, title);
      for (const r of rows) {
        for (const c of ['MIN', 'AVG', 'MAX', 'P10', 'MED', 'P95', 'FL Apdex*']) expect(r[head.indexOf(c)], `${title} ${c}`).toBe('–');
      }
    }
    expect(html).toContain('Failed: no request was recorded');
    // The command's own line says no p95 either, not "p95 0.0ms".
    const out = new PassThrough();
    let said = '';
    out.on('data', (d) => (said += d));
    const code = await runReportCommand([path.join(REAL, 'empty-cycles-bench.xml')], { output: await mkdtemp(path.join(tmpdir(), 'marteau-empty-')) }, { out, err: new PassThrough() });
    expect(code).toBe(1);
    expect(said).toMatch(/^Slow: 2 cycle\(s\), 0 requests, none ok, 0\.0 req\/s, p95 –$/m);
  });

  it('error bodies FunkLoad wrote raw (Latin-1 bytes, a control character, "]]>"): its report stops there, ours reads every sample', async () => {
    expect(readFileSync(path.join(REAL, 'latin-bench.report.stderr.txt'), 'utf8')).toMatch(/ExpatError: not well-formed \(invalid token\): line 31/);
    const text = readFileSync(path.join(REAL, 'latin-bench.xml'), 'latin1');
    const count = (re: RegExp) => text.match(re)?.length ?? 0;
    const { results, warnings } = await load('latin-bench');
    const s = results.summary();
    expect(warnings).toEqual([]);
    expect([s.overall.requests.total, s.overall.requests.success, s.overall.tests.total]).toEqual([
      count(/<response /g),
      count(/<response [^>]*result="Successful"/g),
      count(/<testResult /g),
    ]);
    expect(s.overall.requests.total - s.overall.requests.success).toBeGreaterThan(10);
    expect(s.errorSamples[0]).toMatchObject({ code: 500, error: 'status 500' });
    expect(s.errorSamples[0].traceback).toMatch(/^Erreur: caf\uFFFD cr\uFFFDme/);
  });

  it('says how close its percentiles are as the README does (0.1 %)', async () => {
    const html = renderHtmlReport((await load('shop-bench')).results.summary());
    expect(html).toContain("Percentiles are nearest-rank (FunkLoad's definition), kept to within 0.1 %.");
  });
});

describe('"Slowest requests": the best cycle and its 5 slowest requests, as FunkLoad lists them', () => {
  it.each(['shop-bench', 'interrupted-bench', 'mixed-bench', 'mixed-killed-bench', 'simple-bench'])('%s, against the report FunkLoad built and we stored', async (name) => {
    const report = fl(name);
    expect(report.slowest?.items.length).toBeGreaterThan(2); // the reader found the list
    expect(compareSlowest(renderHtmlReport((await load(name)).results.summary()), report)).toEqual([]);
  });

  // Every capture FunkLoad can read (latin-bench stops its parser), with its default Apdex T
  // and with Ts at which some or all cycles fall under the 0.85 its best cycle needs.
  const captures = readdirSync(REAL).filter((f) => f.endsWith('.xml') && f !== 'latin-bench.xml');
  const cases = captures.flatMap((f) => ['1.5', '0.01', '0.006', '0.002'].map((t) => [f, t] as const));
  it.skipIf(!haveRealFunkload()).each(cases)('%s with -T %s, against the real fl-build-report', async (file, t) => {
    const xml = path.join(REAL, file);
    const report = parseFlReport(flBuildReport([xml], ['-T', t]));
    const html = renderHtmlReport((await loadResults(xml, { apdexT: Number(t) })).results.summary());
    expect(compareSlowest(html, report)).toEqual([]);
    expect(samePageDetail(html, report)).toEqual([]);
    expect(sameBenchContent(html, report)).toEqual([]);
    // Not vacuous: both list requests wherever FunkLoad had a cycle to choose.
    if (file !== 'empty-cycles-bench.xml') expect(ourSlowest(html)?.rows.length).toBeGreaterThan(0);
  });
});

describe("numbers printed as FunkLoad prints them (Python's %.3f and %.2f)", () => {
  it('an exact tie goes to the even digit, as Python does, where toFixed goes up', () => {
    // Apdex 9/16, 3/16, 1/16 of requests; error percents of 1/32, 3/32; and values that only look like ties.
    const values = [0.5625, 0.1875, 0.0625, 3.125, 9.375, 0.5635, 0.1235, 2.675, 1.0005, 0, 1, 12.5, 100];
    const python = execFileSync('python3', ['-c', `import sys\nfor v in sys.argv[1:]: print('%.3f %.2f' % (float(v), float(v)))`, ...values.map(String)], { encoding: 'utf8' }).trim().split('\n');
    expect(values.map((v) => `${fixed(v, 3)} ${fixed(v, 2)}`)).toEqual(python);
    expect(values.map((v) => `${v.toFixed(3)} ${v.toFixed(2)}`)).not.toEqual(python); // the case is there
  });
});
