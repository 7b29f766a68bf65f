/**
 * Our report figures against FunkLoad's own, figure by figure, on the same XML: files written by
 * the real FunkLoad (captured with the vendored one, and from public repositories together with
 * the report FunkLoad built there), and our builtin runner's results.xml fed to the real
 * fl-build-report (which must keep accepting it, --html included).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import { builtinConfigSchema, runBuiltinJob } from '../../src/runners/builtin/index.js';
import { readFunkloadXml } from '../../src/runners/funkload-xml.js';
import type { RunSummary } from '../../src/runners/results.js';
import { PERCENTILE_PRECISION } from '../../src/stats/histogram.js';
import { compareWithFunkload, flBuildReport, haveRealFunkload, parseFlReport, VENDOR } from '../helpers/fl-build-report.js';

const SAMPLES = path.join(VENDOR, 'samples');
const PUBLIC = path.join(import.meta.dirname, '../../fixtures/funkload/public');
const tol = { percentile: PERCENTILE_PRECISION };
const ours = async (xml: string): Promise<RunSummary> => (await readFunkloadXml(xml)).results.summary();

describe("reports built by FunkLoad itself, stored beside the XML they came from", () => {
  const stored: [string, string][] = [[path.join(SAMPLES, 'simple-bench.xml'), path.join(SAMPLES, 'simple-bench.report.rst')]];
  for (const dir of dirs(PUBLIC)) {
    stored.push([path.join(PUBLIC, dir, 'funkload.xml'), path.join(PUBLIC, dir, 'index.rst')]);
  }
  it.each(stored)('%s: every figure of its report', async (xml, rst) => {
    const fl = parseFlReport(readFileSync(rst, 'utf8'));
    expect(fl.requests.length).toBeGreaterThan(0); // the reader found the tables
    expect(compareWithFunkload(await ours(xml), fl, tol)).toEqual([]);
  });
});

describe.skipIf(!haveRealFunkload())('the real fl-build-report on the same files', () => {
  it.each(['simple-bench.xml', 'dropped-connection-bench.xml'])('vendored FunkLoad sample %s', async (name) => {
    const xml = path.join(SAMPLES, name);
    const fl = parseFlReport(flBuildReport([xml]));
    expect(fl.totals.requests).toBeGreaterThan(0);
    expect(compareWithFunkload(await ours(xml), fl, tol)).toEqual([]);
  });

  it('also with another Apdex T (-T), ours read with the same T', async () => {
    const xml = path.join(SAMPLES, 'simple-bench.xml');
    const fl = parseFlReport(flBuildReport([xml], ['-T', '0.004']));
    const s = (await readFunkloadXml(xml, { apdexT: 0.004 })).results.summary();
    expect(s.overall.requests.apdex.score).toBeLessThan(1); // the T matters for this file
    expect(compareWithFunkload(s, fl, tol)).toEqual([]);
  });

  let app: LoadApp;
  beforeAll(async () => {
    app = await startLoadApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it("our builtin job's results.xml: FunkLoad accepts it, its report and our summary.json agree", { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'marteau-parity-'));
    const config = builtinConfigSchema.parse({
      base_url: app.url,
      cycles: [2, 4],
      duration: 2,
      startup_delay: 0.01,
      sleep_time_max: 0.02,
      scenario: [{ get: '/' }, { get: '/slow?ms=3' }, { get: '/status/404', expect: [200, 404] }, { get: '/status/500' }],
    });
    const job = await runBuiltinJob({ name: 'parity', config, resultDir: dir });
    const xml = job.files.xml;
    const fl = parseFlReport(flBuildReport([xml]));
    expect(fl.totals.requestErrors).toBeGreaterThan(0);
    // FunkLoad's figures from our file are ours from our file...
    expect(compareWithFunkload(await ours(xml), fl, tol)).toEqual([]);
    // ...and the live summary.json the job wrote (precise times) agrees with both.
    const live = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as { cycles: RunSummary['cycles'] };
    expect(live.cycles.map((c) => [c.pages.maxSpps, c.requests.maxRps, c.pages.total, c.requests.total])).toEqual(
      fl.pages.map((p, i) => [Number(p.maxSPPS), Number(fl.requests[i].maxRPS), Number(p.TOTAL), Number(fl.requests[i].TOTAL)]),
    );
    expect(compareWithFunkload(job.summary, fl, tol)).toEqual([]);

    // The HTML report runs gnuplot on the data it extracts from our file.
    const out = path.join(dir, 'fl-html');
    flBuildReport([xml], ['--html', '-o', out]);
    const [report] = await readdir(out);
    const files = await readdir(path.join(out, report));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'index.rst', 'tests.png', 'pages.png', 'requests.png']));
    expect(await readFile(path.join(out, report, 'index.html'), 'utf8')).toContain('FunkLoad');
  });

  it.each(dirs(PUBLIC))('public result %s: vendored FunkLoad 1.17.2 agrees with the stored report and with us', async (dir) => {
    const xml = path.join(PUBLIC, dir, 'funkload.xml');
    const fl = parseFlReport(flBuildReport([xml]));
    expect(compareWithFunkload(await ours(xml), fl, tol)).toEqual([]);
  });
});

function dirs(parent: string): string[] {
  return existsSync(parent) ? readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
}
