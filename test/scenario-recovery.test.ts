/**
 * The recovery demo end to end, as a user runs it: `marteau-tui --ci` on fixtures/scenario's
 * configs starts a real redis-server and the demo app (services), puts the chaos proxy between
 * them, blacks redis out for 10 s mid-load and measures. The app that reconnects recovers within
 * bounds and passes (exit 0); the one that never reconnects is "not recovered" (exit 1). The
 * report of the first is then opened in a real headless Chromium.
 */
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonReport } from '../src/report/json.js';
import { dist, ROOT } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

const ready = haveServer('redis-server') && haveServer('chromium', ['/usr/bin']);

interface Run {
  code: number;
  out: string;
  err: string;
  report: JsonReport;
  html: string;
  /** The job's results directory and its config. */
  dir: string;
  config: string;
}

/** Run one demo config from a copy whose app path is absolute (and `edit`ed). */
async function runDemo(file: string, edit: (t: string) => string = (t) => t): Promise<Run> {
  const text = edit((await readFile(path.join(ROOT, 'fixtures/scenario', file), 'utf8')).replaceAll('../../dist/fixtures/scenario/recovery-app.js', dist('fixtures/scenario/recovery-app.js')));
  const config = path.join(await project(text), '.marteau.yml');
  const r = await cliDone(['--ci', config, '--state-dir', await stateDir()]);
  const dir = / results: (\S+)/.exec(r.out)?.[1];
  if (!dir) throw new Error(`no results in the output (exit ${r.code}):\n${r.out}\n${r.err}`);
  return { code: r.code, out: r.out, err: r.err, report: await readReport(dir), html: path.join(dir, 'index.html'), dir, config };
}

async function readReport(dir: string): Promise<JsonReport> {
  return JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as JsonReport;
}

describe.skipIf(!ready)('recovery demo: a 10 s redis blackout under load', () => {
  let heals: Run;
  let stuck: Run;
  let late: Run;

  beforeAll(async () => {
    // All at once: separate services, proxies and ports, and a third of the wall time. `late`
    // is the healing app with the blackout ending 0.1 s before the 20 s load does (late timers
    // on a loaded machine only bring its end closer to the load's).
    [heals, stuck, late] = await Promise.all([
      runDemo('recovery.marteau.yml'),
      runDemo('recovery-stuck.marteau.yml'),
      runDemo('recovery.marteau.yml', (t) => t.replace('at: 5s, for: 10s', 'at: 5s, for: 14.9s')),
    ]);
  }, 180_000);

  afterAll(removeTemp);

  it('the app that reconnects: 503 during the blackout, as expected, then recovered within bounds; exit 0', () => {
    expect(heals.code, heals.out).toBe(0);
    const [w] = heals.report.fault_windows!;
    expect(heals.report.fault_windows).toHaveLength(1);
    expect(w).toMatchObject({ name: 'redis_blackout', proxy: 'redis', mix: '100:blackout', source: 'fixture', expect: ['503'] });
    // Timers fire late on a busy machine: the window is about, not exactly, 10 s.
    expect(w.end! - w.start).toBeGreaterThanOrEqual(9_000);
    expect(w.end! - w.start).toBeLessThan(11_000);
    // A loaded CI machine may manage few requests; the shares below need some, not many.
    expect(w.effect.requests).toBeGreaterThan(20);
    expect(w.effect.classes['5xx'] / w.effect.requests).toBeGreaterThan(0.95);
    expect(w.effect.expectedShare).toBe(1);
    expect(w.effect.injected.blackout).toBeGreaterThan(0);
    // ioredis retries every 100 ms: back well within the demo's own bound (recovery < 3s),
    // about 0.1 s on an idle machine, judged request by request. The verdict must not depend on
    // the machine's load: the baseline's own spread sets how slow a request may be.
    expect(w.recovery.status, JSON.stringify(w.recovery)).toBe('recovered');
    expect(w.recovery.ms).toBeGreaterThanOrEqual(0);
    expect(w.recovery.ms).toBeLessThan(3000);
    expect(w.recovery.baseline!.successRate).toBeGreaterThan(0.95);
    expect(heals.out).toMatch(/fault window redis_blackout \(redis: 100:blackout, \d+\.\ds\) → 100 % HTTP 503, expected 503; recovered in \d\.\d\ds/);
    expect(heals.out).toMatch(/PASS recovery < 3s: /);
    // Attribution: the failed requests were in flight while redis exchanges were blacked out.
    const row = heals.report.attribution!.rows.find((r) => r.proxy === 'redis' && r.behavior === 'blackout')!;
    expect(row.faults).toBe(w.effect.injected.blackout);
    expect(row.failed).toBeGreaterThan(0);
    expect(row.failed).toBeLessThanOrEqual(heals.report.attribution!.failed);
    // Every successful visit went through redis: it saw an exchange complete while in flight.
    const through = heals.report.attribution!.proxies.find((p) => p.proxy === 'redis')!;
    expect(through.exchanges).toBeGreaterThan(100);
    expect(through.overlapped).toBeGreaterThanOrEqual(heals.report.overall.requests.success);
  });

  it('the app that never reconnects: still 503 after redis is back, "not recovered"; exit 1', () => {
    expect(stuck.code, stuck.out).toBe(1);
    const [w] = stuck.report.fault_windows!;
    expect(w.effect.classes['5xx'] / w.effect.requests).toBeGreaterThan(0.95);
    expect(w.recovery).toMatchObject({ status: 'not recovered', note: 'by the end of the run' });
    expect(stuck.out).toMatch(/FAIL recovery < 3s: failed for redis_blackout at \d+\.\ds \(not recovered by the end of the run\)/);
    expect(stuck.out).toMatch(/PASS during\.redis_blackout\.status_5xx >= 95%/);
    // After the window, the load kept failing: the overall success rate shows it.
    expect(stuck.report.overall.successRate).toBeLessThan(heals.report.overall.successRate);
  });

  it('a blackout ending 0.1 s before the load: warned at --ci start, "too soon to judge", recovery SKIP, exit 0', () => {
    expect(late.err).toMatch(/warning: recovery-reconnect: fault "redis_blackout" ends at 19\.9s, 1\d\dms before the end of the load \(20\.0s: .*\); judging recovery needs recovery\.window \(1\.0s\)/);
    expect(heals.err).not.toMatch(/warning: .*too soon/);
    expect(late.code, late.out).toBe(0);
    const [w] = late.report.fault_windows!;
    expect(w.recovery.status).toBe('too soon');
    expect(w.recovery_text).toMatch(/^too soon to judge: the run ended 0\.\d\ds after the fault, less than the 1s recovery window$/);
    expect(late.out).toMatch(/SKIP recovery < 3s: not judged: redis_blackout at \d+\.\ds \(too soon to judge: /);
    expect(late.out).toMatch(/PASS during\.redis_blackout\.status_5xx >= 95%/);
    expect(late.report.thresholds.find((t) => t.metric === 'recovery')).toMatchObject({ passed: true, skipped: true });
  });

  it('a report rebuilt from the job keeps its fault windows, and the thresholds judge them again', async () => {
    const out = await temp('rebuilt');
    const [ok, ko] = await Promise.all([heals, stuck].map((run) => cliDone(['report', run.dir, '-o', out + (run === heals ? '/heals' : '/stuck'), '--thresholds', run.config])));
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ko.code, ko.out + ko.err).toBe(1);
    expect(ko.out).toMatch(/FAIL recovery < 3s: failed for redis_blackout/);
    const rebuilt = await readReport(path.join(out, 'heals'));
    expect(rebuilt.fault_windows).toEqual(heals.report.fault_windows);
    expect(rebuilt.attribution).toEqual(heals.report.attribution);
  });

  it('the report marks the blackout and its recovery on the charts, in a real Chromium', async () => {
    const profile = mkdtempSync(path.join(tmpdir(), 'marteau-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      viewport: { width: 1000, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      await page.goto(`file://${heals.html}`, { waitUntil: 'load' });
      const marks = await page.evaluate(() =>
        ['chart-throughput-time', 'chart-success-time', 'chart-latency-time'].map((id) => ({
          bands: [...document.querySelectorAll(`#${id} rect.band.fault`)].map((r) => r.textContent),
          recovery: [...document.querySelectorAll(`#${id} line.marker.recovery`)].map((l) => l.textContent),
          // The recovery line sits right of the window's band, as recovery follows the fault.
          order: (() => {
            const band = document.querySelector<SVGRectElement>(`#${id} rect.band.fault`)!;
            const line = document.querySelector<SVGLineElement>(`#${id} line.marker.recovery`)!;
            return line.x1.baseVal.value - (band.x.baseVal.value + band.width.baseVal.value);
          })(),
        })),
      );
      for (const m of marks) {
        expect(m.bands).toEqual(['redis_blackout (redis)']);
        expect(m.recovery).toHaveLength(1);
        expect(m.recovery[0]).toMatch(/^redis_blackout: recovered in \d\.\d\ds$/);
        expect(m.order).toBeGreaterThanOrEqual(0);
      }
      const success = await page.evaluate(() => document.querySelector<SVGPolylineElement>('#chart-success-time polyline.series')!.points.numberOfItems);
      expect(success).toBeGreaterThanOrEqual(18);
      const windowRow = await page.locator('#fault-windows + table tbody tr').allInnerTexts();
      expect(windowRow).toHaveLength(1);
      expect(windowRow[0]).toMatch(/redis_blackout[\s\S]*100:blackout[\s\S]*blackout ×\d+[\s\S]*5xx 100%[\s\S]*100% as expected[\s\S]*recovered in/);
      expect(await page.locator('#attribution + table tbody tr').first().innerText()).toMatch(/^redis\s+blackout/);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ready)('a fault applied over a fixture on one proxy (fixtures stack)', () => {
  let run: Run;

  beforeAll(async () => {
    // An 8 s load: the fixture blacks redis out from 2 s to 6 s, a chaos step answers errors
    // from 3 s to 4 s over it; its end brings the blackout back until 6 s.
    run = await runDemo('recovery.marteau.yml', (t) =>
      t
        .replace('duration: 20', 'duration: 8')
        .replace('at: 5s, for: 10s', 'at: 2s, for: 4s')
        .replace('baseline: 5s', 'baseline: 2s')
        .replace('thresholds:', 'chaos:\n  - {name: errors_over, proxy: redis, at: 3s, for: 1s, behaviors: "100:error"}\nthresholds:'),
    );
  }, 60_000);

  afterAll(removeTemp);

  it('the window under lasts its whole 4 s, and the one over it is not said to recover while it is still blacked out', () => {
    expect(run.out).toContain('chaos errors_over (end of step): restored redis mix 100:blackout');
    const byName = Object.fromEntries(run.report.fault_windows!.map((w) => [w.name, w]));
    expect(Object.keys(byName).sort()).toEqual(['errors_over', 'redis_blackout']);
    // It was cut at 3 s (1.0s), and the blackout from 4 s to 6 s was nobody's window.
    const under = byName.redis_blackout;
    expect(under.end! - under.start).toBeGreaterThanOrEqual(3_800);
    expect(under.end! - under.start).toBeLessThan(4_500);
    expect(under.recovery.status).toBe('recovered');
    expect(byName.errors_over.recovery).toMatchObject({ status: 'too soon', note: expect.stringContaining('redis_blackout was still in force when it ended') });
    expect(run.out).toMatch(/fault window redis_blackout \(redis: 100:blackout, 4\.\ds\)/);
    expect(run.code, run.out).toBe(0);
  });

  it('the report says the seed the console gave, for a replay (summary.json and the HTML)', async () => {
    const seed = /seed (\d+) \(marteau-tui replay/.exec(run.out)![1];
    expect(run.report.meta).toMatchObject({ seed });
    expect(await readFile(run.html, 'utf8')).toContain(`<td>seed</td><td>${seed}</td>`);
  });
});

describe.skipIf(!ready)('a backend that heals slowly: a delay ramping down right after a blackout', () => {
  it('judges the ramp against the load before the blackout, not "no baseline"; exit 0', async () => {
    // A 10 s load: redis blacked out from 2 s to 3 s, then delayed on a share falling from 100 %
    // to 0 % by 7 s. The ramp follows the blackout without a gap: it has no span of its own before it.
    const run = await runDemo('recovery.marteau.yml', (t) =>
      t
        .replace('duration: 20', 'duration: 10')
        .replace('at: 5s, for: 10s', 'at: 2s, for: 1s')
        .replace('baseline: 5s', 'baseline: 2s')
        .replace('thresholds:', 'chaos:\n  - {name: heal, proxy: redis, at: 3s, for: 4s, ramp: {behavior: delay, from: 100, to: 0, every: 1s, options: {sleep: 0.1}}}\nthresholds:'),
    );
    const heal = run.report.fault_windows!.find((w) => w.name === 'heal')!;
    // It read 'no baseline: no request finished before the fault to compare with', which failed recovery < 3s.
    expect(heal.recovery.status, run.out).toBe('recovered');
    expect(heal.recovery.baseline!.requests).toBeGreaterThan(5);
    expect(heal.recovery.baseline!.successRate).toBe(1);
    expect(run.code, run.out).toBe(0);
  }, 60_000);
});
