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
import { reportOutcome } from '../../src/runners/job-report.js';
import { startProxy } from '../helpers/builtin-proxy.js';
import { cliDone } from '../helpers/marteau-cli.js';

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
    // The verdicts are the job's closing lines, logged by the engine after its services stop.
    expect(r.closing).toEqual([expect.stringMatching(/^FAIL success_rate >= 99%/), expect.stringMatching(/^PASS p95 < 5s/)]);
    expect(lines.some((l) => /^(PASS|FAIL) /.test(l))).toBe(false);
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

  const job = (dir: string, extra: Record<string, unknown>, o: Partial<Parameters<typeof runBuiltinJob>[0]> = {}) =>
    runBuiltinJob({ name: 'job', config: builtinConfigSchema.parse({ base_url: app.url, cycles: [2], duration: 0.6, startup_delay: 0, ...extra }), resultDir: dir, writeReports, ...o });
  const json = (dir: string) => JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));

  it('a run of one request says so in the singular, in its line and its reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marteau-job-'));
    // One user, one GET, then a pause longer than the run: exactly one request is recorded.
    const r = await job(dir, { cycles: [1], duration: 0.3, sleep_time: 5, scenario: [{ get: '/status/500' }] });
    expect(r.summary.overall.requests.total).toBe(1);
    expect(r.line).toMatch(/^1 request, 100\.00 % errors, /);
    expect(reportOutcome(r, dir).reason).toBe('the only request failed (first: 500 Internal Server Error; set thresholds: to judge the run by numbers instead)');
  });

  it('without thresholds, a run whose every request failed fails, saying how many and the first error; some errors still pass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marteau-job-'));
    const r = await job(dir, { scenario: [{ get: '/status/500' }] });
    const n = r.summary.overall.requests.total;
    expect(n).toBeGreaterThan(0);
    const outcome = reportOutcome(r, dir);
    expect(outcome).toMatchObject({ status: 'failed', failure: 'test' });
    expect(outcome.reason).toBe(`every one of the ${n} requests failed (first: 500 Internal Server Error; set thresholds: to judge the run by numbers instead)`);
    // The reports say the same as the job's outcome.
    expect(json(dir)).toMatchObject({ passed: false, reasons: [outcome.reason] });
    expect(readFileSync(r.files.junit, 'utf8')).toMatch(/<failure message="every one of the \d+ requests failed/);
    expect(readFileSync(r.files.html, 'utf8')).toContain('status fail');

    // A connection refused, as a dead app gives.
    const dead = await startLoadApp();
    await dead.close();
    const refused = await job(mkdtempSync(join(tmpdir(), 'marteau-job-')), { base_url: dead.url, scenario: [{ get: '/' }] });
    // Thresholds would not help: where the app should be is what to check.
    const host = new URL(dead.url).host;
    expect(reportOutcome(refused, dir).reason).toMatch(new RegExp(`^every one of the \\d+ requests failed \\(first: ECONNREFUSED; nothing accepts connections at ${host}: is the app up and listening there\\?\\)$`));

    // A chaos run expects errors: with one success among them, no thresholds means no verdict on them.
    const mixed = await job(mkdtempSync(join(tmpdir(), 'marteau-job-')), { scenario: [{ get: '/' }, { get: '/status/500', expect: 200 }] });
    expect(mixed.summary.overall.requests.success).toBeGreaterThan(0);
    expect(mixed.summary.overall.requests.success).toBeLessThan(mixed.summary.overall.requests.total);
    expect(reportOutcome(mixed, dir).status).toBe('succeeded');
    // Thresholds judge instead: a run meant to fail every request can pass.
    const meant = await job(mkdtempSync(join(tmpdir(), 'marteau-job-')), { scenario: [{ get: '/status/500' }] }, { thresholds: parseThresholds({ error_rate: '>= 99%' }) });
    expect(reportOutcome(meant, dir).status).toBe('succeeded');
  });

  it('a cancelled run: rates over the time it ran, not passed with why in summary.json, results.xml and `report` (exit 130, as --ci)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marteau-job-'));
    const ctl = new AbortController();
    // Cancelled a third of the way into a 3 s recording window.
    const r = await job(dir, { cycles: [2, 4], duration: 3, scenario: [{ get: '/slow?ms=5' }] }, { signal: ctl.signal, onLoadStarted: () => setTimeout(() => ctl.abort('cancel'), 1000) });
    expect(r.aborted).toBe(true);
    const [c] = r.summary.cycles;
    const ran = (c.end! - c.start!) / 1000;
    expect(ran).toBeGreaterThan(0.5);
    expect(ran).toBeLessThan(1.8);
    expect(c.duration).toBeCloseTo(ran, 3);
    expect(c.requests.rps).toBeCloseTo(c.requests.total / ran, 3);
    expect(r.summary.overall.requests.rps).toBeCloseTo(c.requests.total / ran, 3);
    expect(reportOutcome(r, dir)).toMatchObject({ status: 'failed', reason: 'the run was aborted (cancelled by a user)' });
    expect(json(dir)).toMatchObject({ aborted: true, passed: false, reasons: ['the run was aborted (cancelled by a user)'], abort: { why: 'cancel', reason: 'cancelled by a user' } });
    // Where it was cut: about a second into the load, in the first of 2 cycles of 3 s.
    const cut = /<failure message="the run was interrupted: cancelled by a user; the report covers (0-([\d.]+)s of the load \(cycle 1 of 2 cut after ([\d.]+)s of its 3s\))" type="interrupted"\/>/.exec(readFileSync(r.files.junit, 'utf8'));
    expect(cut, readFileSync(r.files.junit, 'utf8')).not.toBeNull();
    expect(Number(cut![2])).toBeGreaterThan(0.5);
    expect(Number(cut![2])).toBeLessThan(3);
    expect(Number(cut![3])).toBeCloseTo(ran, 1);
    expect(readFileSync(r.files.html, 'utf8')).toContain(`(cancelled by a user): the report is incomplete: it covers ${cut![1]}.`);

    // The result file keeps why, last before its end; the report rebuilt from it has the same figures and verdict.
    const xml = readFileSync(r.files.xml, 'utf8');
    expect(xml).toMatch(/<marteauAbort why="cancel" reason="cancelled by a user" time="[\d.]+" \/>\n<\/funkload>\n$/);
    const out = mkdtempSync(join(tmpdir(), 'marteau-job-report-'));
    const rep = await cliDone(['report', dir, '-o', out]);
    expect(rep.code, rep.out + rep.err).toBe(130);
    expect(rep.out).toContain('INTERRUPTED: the run was aborted (cancelled by a user)\n');
    const back = json(out);
    expect(back).toMatchObject({ passed: false, abort: { why: 'cancel' }, reasons: ['the run was aborted (cancelled by a user)'] });
    // The file holds the window to the microsecond, as the samples: the same rates as the job's own report, as printed
    // (to the millisecond, a 1 s window's rate moved by 0.1 %: 506.0 req/s in the job's line, 506.1 from `report`).
    const live = json(dir);
    expect(back.overall.requests.rps).toBeCloseTo(live.overall.requests.rps, 2);
    expect(back.cycles[0].requests.rps).toBeCloseTo(live.cycles[0].requests.rps, 2);
    expect(back.cycles[0].duration).toBeCloseTo(live.cycles[0].duration, 4);
  });
});
