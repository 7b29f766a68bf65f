/**
 * Our report figures against FunkLoad's own, figure by figure, on the same XML: files written by
 * the real FunkLoad (captured with the vendored one, and from public repositories together with
 * the report FunkLoad built there), and our builtin runner's results.xml fed to the real
 * fl-build-report (which must keep accepting it, --html included).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import { renderHtmlReport, writeReports } from '../../src/report/index.js';
import { builtinConfigSchema, runBuiltinJob } from '../../src/runners/builtin/index.js';
import { readFunkloadXml } from '../../src/runners/funkload-xml.js';
import type { RunSummary } from '../../src/runners/results.js';
import { PERCENTILE_PRECISION } from '../../src/stats/histogram.js';
import { compareSlowest, compareWithFunkload, flBuildReport, haveRealFunkload, parseFlReport, VENDOR } from '../helpers/fl-build-report.js';

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
    const s = await ours(xml);
    expect(compareWithFunkload(s, fl, tol)).toEqual([]);
    expect(compareSlowest(renderHtmlReport(s), fl)).toEqual([]);
    // The zoneless start is placed by the samples' epoch times, whatever zone wrote it or reads it.
    const first = Math.min(...s.cycles.map((c) => c.start!));
    expect(first - s.info.start).toBeGreaterThanOrEqual(-60_000);
    expect(first - s.info.start).toBeLessThan(15 * 60_000);
    expect(s.info.end).toBeGreaterThan(first);
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
    const job = await runBuiltinJob({ name: 'parity', config, resultDir: dir, writeReports });
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
    // The job's own index.html lists FunkLoad's slowest requests of its best cycle.
    expect(fl.slowest?.items.length).toBe(4);
    expect(compareSlowest(await readFile(path.join(dir, 'index.html'), 'utf8'), fl)).toEqual([]);

    // The HTML report runs gnuplot on the data it extracts from our file.
    const out = path.join(dir, 'fl-html');
    flBuildReport([xml], ['--html', '-o', out]);
    const [report] = await readdir(out);
    const files = await readdir(path.join(out, report));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'index.rst', 'tests.png', 'pages.png', 'requests.png']));
    expect(await readFile(path.join(out, report, 'index.html'), 'utf8')).toContain('FunkLoad');
  });

  it("a cancelled builtin job's results.xml (its <marteauAbort> line): FunkLoad still reads it, counts as ours", { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'marteau-parity-abort-'));
    const config = builtinConfigSchema.parse({ base_url: app.url, cycles: [2, 3], duration: 3, startup_delay: 0, scenario: [{ get: '/' }, { get: '/status/500' }] });
    const ctl = new AbortController();
    const job = await runBuiltinJob({ name: 'cancelled', config, resultDir: dir, writeReports, signal: ctl.signal, onLoadStarted: () => setTimeout(() => ctl.abort('cancel'), 800) });
    expect(await readFile(job.files.xml, 'utf8')).toContain('<marteauAbort why="cancel"');
    const fl = parseFlReport(flBuildReport([job.files.xml]));
    const s = job.summary;
    // Counts agree; rates do not on purpose: FunkLoad divides the cut cycle by its configured 3 s.
    expect([fl.totals.requests, fl.totals.requestErrors, fl.totals.tests]).toEqual([s.overall.requests.total, s.overall.requests.total - s.overall.requests.success, s.overall.tests.total]);
  });

  it("a bench whose threads' first recorded response is an image of a page fetched before recording (real fl-run-bench)", { timeout: 240_000 }, async () => {
    // A page whose image takes longer than the ramp-up: each thread requests the page before
    // FunkLoad starts recording and gets the image after, so its first logged response is the
    // image. fl-build-report leaves such responses out of pages.
    const server = http.createServer((req, res) => {
      if (req.url === '/slow.png') setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(64)), 700);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body><h1>page</h1><img src="/slow.png"></body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const dir = await mkdtemp(path.join(tmpdir(), 'marteau-flimg-'));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await writeFile(
        path.join(dir, 'test_Images.py'),
        [
          'from funkload.FunkLoadTestCase import FunkLoadTestCase',
          'class Images(FunkLoadTestCase):',
          '    def setUp(self):',
          "        self.server_url = self.conf_get('main', 'url')",
          '    def test_page(self):',
          "        self.get(self.server_url + '/page', description='Page with a slow image')",
          '',
        ].join('\n'),
      );
      await writeFile(
        path.join(dir, 'Images.conf'),
        `[main]\ntitle=Images\ndescription=A page whose image outlasts the ramp-up\nurl=${url}\n\n[ftest]\nlog_to =\nlog_path = images-test.log\nresult_path = images-test.xml\nsleep_time_min = 0\nsleep_time_max = 0\n\n` +
          '[bench]\ncycles = 3:5\nduration = 3\nstartup_delay = 0.05\nsleep_time = 0\ncycle_time = 0\nlog_to =\nlog_path = images-bench.log\nresult_path = images-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0\n',
      );
      // Not spawnSync: the app under test answers from this process's event loop.
      await promisify(execFile)(path.join(VENDOR, 'bin', 'fl-run-bench'), ['test_Images.py', 'Images.test_page'], { cwd: dir, timeout: 200_000 });
      const xml = path.join(dir, 'images-bench.xml');
      // The file has the case: threads whose first response in a cycle is an image.
      const firsts = new Map<string, string>();
      for (const m of readFileSync(xml, 'utf8').matchAll(/<response cycle="(\d+)" cvus="\d+" thread="(\d+)".*? type="(\w+)"/g)) {
        if (!firsts.has(`${m[1]}/${m[2]}`)) firsts.set(`${m[1]}/${m[2]}`, m[3]);
      }
      const leading = [...firsts.values()].filter((t) => t === 'image').length;
      expect(leading).toBeGreaterThan(0);
      const fl = parseFlReport(flBuildReport([xml]));
      const s = await ours(xml);
      expect(s.overall.requests.total - s.overall.pages.total).toBeGreaterThan(leading - 1); // images are not pages
      expect(compareWithFunkload(s, fl, tol)).toEqual([]);
    } finally {
      server.close();
    }
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
