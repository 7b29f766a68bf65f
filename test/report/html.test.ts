/**
 * The HTML report opened in a REAL headless Chromium (Debian's chromium, driven by
 * playwright-core): it loads with no console error and no request, its charts have the expected
 * number of points, and a screenshot is kept under artifacts/. The run behind it is real too: the
 * builtin runner through the chaos proxy, whose mix changes mid-run.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import type { Proxy } from '../../src/proxy/proxy.js';
import { writeReports } from '../../src/report/index.js';
import { builtinConfigSchema, runBench } from '../../src/runners/builtin/index.js';
import { FaultAggregator } from '../../src/runners/fault-aggregator.js';
import { newRunInfo, RunResults, type RunSummary } from '../../src/runners/results.js';
import { parseThresholds } from '../../src/config/thresholds.js';
import { evaluateThresholds } from '../../src/runners/thresholds.js';
import { haveServer } from '../helpers/servers.js';
import { startProxy } from '../helpers/builtin-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = haveServer('chromium', ['/usr/bin']);
const artifacts = new URL('../../artifacts/', import.meta.url).pathname;

describe.skipIf(!hasChromium)('HTML report in headless Chromium', () => {
  let app: LoadApp;
  let proxy: Proxy;
  let context: BrowserContext;
  let profile: string;
  let summary: RunSummary;
  const out = mkdtempSync(join(tmpdir(), 'marteau-report-'));

  beforeAll(async () => {
    app = await startLoadApp();
    proxy = await startProxy({ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${app.port}`, protocol: 'http' });
    const cfg = builtinConfigSchema.parse({
      base_url: `http://127.0.0.1:${proxy.port}`,
      cycles: [2, 4],
      duration: 2,
      startup_delay: 0,
      cycle_time: 0.3,
      scenario: [{ get: '/slow?ms=5' }, { get: '/' }],
    });
    const results = new RunResults(newRunInfo({ start: Date.now(), name: 'chaos-demo', apdexT: 0.05, bench: { cycles: cfg.cycles, duration: cfg.duration, serverUrl: cfg.base_url! } as never }));
    const faults = new FaultAggregator((e) => results.addProxyEvent(e));
    const onEvent = (e: Parameters<FaultAggregator['onProxyEvent']>[0]) => faults.onProxyEvent(e);
    proxy.on('event', onEvent);
    // Break the backend for a moment in each cycle, as a fixture would.
    const timers = [
      setTimeout(() => proxy.setMix('30:error'), 700),
      setTimeout(() => proxy.setMix('100:dummy'), 1400),
      setTimeout(() => proxy.setMix({ delay: { percent: 50, sleep: 0.05 } }), 3000),
      setTimeout(() => proxy.setMix('100:dummy'), 3800),
    ];
    await runBench(cfg, { results });
    timers.forEach(clearTimeout);
    faults.flush();
    proxy.off('event', onEvent);
    summary = results.summary();
    const verdicts = evaluateThresholds(parseThresholds({ success_rate: '>= 99%', p95: '< 2s', per_cycle: { rps: '>= 1' } }), summary);
    await writeReports(out, summary, verdicts, { generator: 'marteau-tui test' });

    profile = mkdtempSync(join(tmpdir(), 'marteau-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1000, height: 900 },
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await proxy?.close(100);
    await app?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('the run saw the faults it reports', () => {
    const faults = summary.proxyEvents.filter((e) => e.kind === 'fault');
    const mixes = summary.proxyEvents.filter((e) => e.kind === 'mix');
    expect(mixes.length).toBe(4);
    expect(faults.some((f) => f.kind === 'fault' && f.behavior === 'error')).toBe(true);
    expect(faults.some((f) => f.kind === 'fault' && f.behavior === 'delay')).toBe(true);
    expect(summary.cycles[0].errors['status 503']).toBeGreaterThan(0);
  });

  it('loads with no console error and no network request, with the expected chart points', async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    await page.goto(`file://${join(out, 'index.html')}`, { waitUntil: 'load' });
    expect(await page.title()).toBe('chaos-demo — load test report');

    // Points as the browser parsed them (SVG DOM), per chart and series.
    const counts = await page.evaluate(() => {
      const res: Record<string, number> = {};
      for (const pl of document.querySelectorAll<SVGPolylineElement>('svg.chart polyline.series')) {
        const chart = pl.closest('svg')!.id;
        res[`${chart}/${pl.dataset.series}`] = pl.points.numberOfItems;
      }
      res.faultBars = document.querySelectorAll('#chart-faults rect.fault').length;
      res.mixLines = document.querySelectorAll('#chart-faults line.mix').length;
      res.errorBars = document.querySelectorAll('#chart-errors rect.bar').length;
      res.timeMarkers = document.querySelectorAll('#chart-latency-time line.marker').length;
      return res;
    });
    const cycles = summary.cycles.length;
    for (const s of ['RPS', 'SPPS', 'STPS']) expect(counts[`chart-throughput-users/${s}`]).toBe(cycles);
    for (const s of ['p50', 'p90', 'p95', 'p99', 'avg']) expect(counts[`chart-latency-users/${s}`]).toBe(cycles);
    const timePoints = summary.timeline.filter((p) => p.requests > 0).length;
    expect(timePoints).toBeGreaterThanOrEqual(4);
    for (const s of ['requests/s', 'errors/s']) expect(counts[`chart-throughput-time/${s}`]).toBe(timePoints);
    for (const s of ['p50', 'p95', 'p99']) expect(counts[`chart-latency-time/${s}`]).toBe(timePoints);
    expect(counts.faultBars).toBe(summary.proxyEvents.filter((e) => e.kind === 'fault').length);
    expect(counts.mixLines).toBe(4);
    expect(counts.timeMarkers).toBe(4);
    expect(counts.errorBars).toBe(Object.keys(summary.overall.errors).length);

    // Thresholds: the injected 503s break the success rate.
    const verdicts = await page.locator('#thresholds + table tbody tr').allInnerTexts();
    expect(verdicts.length).toBe(3);
    expect(verdicts[0]).toMatch(/^FAIL\s+success_rate >= 99%/);
    expect(verdicts[2]).toMatch(/^PASS\s+rps >= 1 per cycle/);
    // The per-cycle tables (FunkLoad's columns).
    const rows = await page.locator('h3:has-text("Request stats") ~ table').first().locator('tbody tr').count();
    expect(rows).toBe(cycles);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    expect(readFileSync(join(artifacts, 'report.png')).length).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('a run of a second or less labels its time axes without repeating a tick', async () => {
    const cfg = builtinConfigSchema.parse({ base_url: `http://127.0.0.1:${app.port}`, cycles: [1], duration: 0.3, startup_delay: 0, scenario: [{ get: '/' }] });
    const results = new RunResults(newRunInfo({ start: Date.now(), name: 'short', bench: { cycles: cfg.cycles, duration: cfg.duration, serverUrl: cfg.base_url! } as never }));
    await runBench(cfg, { results });
    const dir = mkdtempSync(join(tmpdir(), 'marteau-report-short-'));
    await writeReports(dir, results.summary(), [], { generator: 'marteau-tui test' });
    const page = await context.newPage();
    await page.goto(`file://${join(dir, 'index.html')}`, { waitUntil: 'load' });
    for (const chart of ['chart-throughput-time', 'chart-success-time', 'chart-latency-time', 'chart-faults']) {
      // The x axis' ticks: those below the plot (the y axis' sit at its left, text-anchor end).
      const ticks = await page.locator(`#${chart} text.tick[text-anchor="middle"]`).allTextContents();
      expect(ticks.length, chart).toBeGreaterThanOrEqual(2);
      // 0 to 1 s in fifths read '0s 0s 0s 1s 1s 1s' when every tick was rounded to the second.
      expect(new Set(ticks).size, `${chart}: ${ticks.join(' ')}`).toBe(ticks.length);
    }
    await page.close();
  });

  it('is one self-contained file', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    expect(html).toContain("default-src 'none'");
    const json = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(json.format).toBe('marteau-tui.report/1');
    expect(json.passed).toBe(false);
    expect(json.cycles.length).toBe(summary.cycles.length);
    // epoch times keep their milliseconds
    expect(Math.abs(json.start - summary.info.start)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(json.cycles[1].start - summary.cycles[1].start!)).toBeLessThanOrEqual(0.5);
    expect(json.start_iso).toBe(new Date(summary.info.start).toISOString());
    const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
    expect(junit.match(/<testcase /g)!.length).toBe(4);
    expect(junit.match(/<failure /g)!.length).toBe(1);
  });
});
