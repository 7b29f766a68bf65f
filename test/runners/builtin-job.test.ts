/** A whole builtin job: bench through a real chaos proxy, streamed XML, fault timeline, reports. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import type { Proxy } from '../../src/proxy/proxy.js';
import { loadResults } from '../../src/report/load.js';
import { writeReports } from '../../src/report/index.js';
import { builtinConfigSchema, runBuiltinJob } from '../../src/runners/builtin/index.js';
import { parseThresholds } from '../../src/config/thresholds.js';
import { startProxy } from '../helpers/builtin-proxy.js';

let app: LoadApp;
let proxy: Proxy;
beforeAll(async () => {
  app = await startLoadApp();
  proxy = await startProxy({ name: 'web', listen: '127.0.0.1:0', upstream: `127.0.0.1:${app.port}`, protocol: 'http' });
});
afterAll(async () => {
  await proxy?.close(100);
  await app?.close();
});

describe('runBuiltinJob', () => {
  it('records the blackout next to what it did, in the XML and the reports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marteau-job-'));
    const config = builtinConfigSchema.parse({
      base_url: `http://127.0.0.1:${proxy.port}`, cycles: [3], duration: 2.5, startup_delay: 0, scenario: [{ get: '/' }],
    });
    const lines: string[] = [];
    let started = 0;
    setTimeout(() => proxy.setMix('100:blackout'), 800);
    setTimeout(() => proxy.setMix('100:dummy'), 1600);
    const r = await runBuiltinJob({
      name: 'blackout',
      config,
      resultDir: dir, writeReports,
      proxies: [proxy],
      thresholds: parseThresholds({ success_rate: '>= 99%', p95: '< 5s' }),
      log: (l) => lines.push(l),
      onLoadStarted: () => started++,
      generator: 'marteau-tui test',
    });
    expect(started).toBe(1);
    expect(r.passed).toBe(false);
    expect(r.verdicts.map((v) => v.passed)).toEqual([false, true]);
    expect(r.line).toMatch(/^\d+ requests, \d+\.\d\d % errors, \d+\.\d req\/s, p95 [\d.]+m?s, Apdex \d\.\d\d$/);
    expect(lines).toContain('Cycle #0 with 3 virtual users');
    expect(lines.some((l) => /^\* Cycle result: \*\*ERROR\*\*, \d+ success, 0 failure, \d+ errors\.$/.test(l))).toBe(true);
    expect(lines.at(-2)).toMatch(/^FAIL success_rate >= 99%/);
    for (const f of Object.values(r.files)) expect(existsSync(f)).toBe(true);

    const s = r.summary;
    const mixes = s.proxyEvents.filter((e) => e.kind === 'mix');
    const faults = s.proxyEvents.filter((e) => e.kind === 'fault');
    expect(mixes.map((e) => e.kind === 'mix' && e.mix)).toEqual(['100:blackout', '100:dummy']);
    expect(faults.length).toBeGreaterThan(0);
    // One event per proxy, behavior and second: never two for the same second.
    const keys = faults.map((e) => `${e.kind === 'fault' && e.behavior}@${e.at}`);
    expect(new Set(keys).size).toBe(keys.length);
    const errs = Object.entries(s.overall.errors);
    expect(errs.length).toBeGreaterThan(0);
    const faultTotal = faults.reduce((a, e) => a + (e.kind === 'fault' ? e.count : 0), 0);
    const failed = s.overall.requests.total - s.overall.requests.success;
    // Every failed recorded request is a blackout the proxy counted (it also counts unrecorded ones).
    expect(faultTotal).toBeGreaterThanOrEqual(failed);

    // The XML carries it all: reading it back gives the same figures and timeline.
    const xml = readFileSync(r.files.xml, 'utf8');
    expect(xml).toContain('<marteauProxyEvent ');
    expect(xml).toContain('<marteauCycle cycle="000" cvus="003"');
    const back = (await loadResults(dir)).results.summary();
    expect(back.proxyEvents).toEqual(s.proxyEvents);
    expect(back.overall.requests.total).toBe(s.overall.requests.total);
    expect(back.cycles[0].start).toBeCloseTo(s.cycles[0].start!, -1);
    expect(back.overall.errors).toEqual(s.overall.errors);
  });
});
