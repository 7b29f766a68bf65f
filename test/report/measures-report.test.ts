/** Fault windows, recovery and attribution in the HTML, JSON and JUnit reports (from a synthetic run). */
import { describe, expect, it } from 'vitest';
import { buildJsonReport, buildJunitReport, renderHtmlReport } from '../../src/report/index.js';
import { newRunInfo, RunResults } from '../../src/runners/results.js';
import { parseThresholds } from '../../src/config/thresholds.js';
import { evaluateThresholds } from '../../src/runners/thresholds.js';

const T0 = 1_700_000_000_000;

/** 40 s at 20 req/s: a redis blackout from 10 s to `end` s answered with 500; `recovers` 2 s after it or never. */
function chaosRun(recovers: boolean, end = 20) {
  const r = new RunResults(newRunInfo({ start: T0, name: 'recovery-demo', apdexT: 0.5, bench: { cycles: [5], duration: 40 } as never }));
  r.startCycle(0, 5, T0);
  for (let t = 0; t < 40_000; t += 50) {
    const failing = t >= 10_000 && (recovers ? t < end * 1000 + 2000 : true);
    if (t >= 10_000 && t < end * 1000 && t % 200 === 0) r.addFault('redis', 'blackout', T0 + t + 3);
    r.addRequest({ cycle: 0, cvus: 5, thread: 0, step: 1, number: 1, type: 'get', url: '/', start: T0 + t, duration: 5, code: failing ? 500 : 200, result: failing ? 'failure' : 'success' });
  }
  r.endCycle(0, T0 + 40_000);
  r.finish(T0 + 40_000);
  r.faultWindows = [{ name: 'redis_blackout', proxy: 'redis', mix: '100:blackout', source: 'fixture', start: T0 + 10_000, end: T0 + end * 1000, expect: ['503'] }];
  return r.summary();
}

describe('reports of a chaos run', () => {
  it('the HTML marks the window and its recovery on the time charts and explains both', () => {
    const s = chaosRun(true);
    const html = renderHtmlReport(s, evaluateThresholds(parseThresholds({ recovery: '< 5s' }), s));
    for (const chart of ['chart-throughput-time', 'chart-success-time', 'chart-latency-time']) {
      const svg = html.slice(html.indexOf(`id="${chart}"`), html.indexOf('</svg>', html.indexOf(`id="${chart}"`)));
      expect(svg).toMatch(/<rect class="band fault"[^>]*><title>redis_blackout \(redis\)<\/title>/);
      expect(svg).toMatch(/<line class="marker recovery"[^>]*><title>redis_blackout: recovered in 2\.00s<\/title>/);
    }
    expect(html).toContain('<rect class="window" data-window="redis_blackout"');
    expect(html).toContain('id="fault-windows"');
    expect(html).toContain('data-recovery="recovered">recovered in 2.00s<');
    expect(html).toContain('→ 100 % HTTP 500, expected 503');
    expect(html).toContain('0% as expected');
    expect(html).toContain('blackout ×50');
    expect(html).toMatch(/50 of 240 failed or slow requests overlapped a blackout on redis/);
  });

  it('a window that never recovers is marked so', () => {
    const s = chaosRun(false);
    const html = renderHtmlReport(s);
    expect(html).toMatch(/<line class="marker recovery not-recovered"[^>]*><title>redis_blackout: not recovered by the end of the run<\/title>/);
    expect(html).toContain('data-recovery="not recovered"');
  });

  it('JSON and JUnit carry the windows, recovery and attribution', () => {
    const s = chaosRun(true);
    const j = buildJsonReport(s, []);
    expect(j.fault_windows).toHaveLength(1);
    expect(j.fault_windows![0]).toMatchObject({ name: 'redis_blackout', start_s: 10, end_s: 20, recovery: { status: 'recovered', ms: 2000 }, recovery_text: 'recovered in 2.00s', effect: { requests: 200, classes: { '5xx': 200 }, injected: { blackout: 50 }, expectedShare: 0 } });
    expect(j.attribution!.rows[0]).toMatchObject({ proxy: 'redis', behavior: 'blackout', faults: 50, failed: 50 });
    expect(JSON.parse(JSON.stringify(j)).recovery_options.windowMs).toBe(2000);
    const x = buildJunitReport(s, []);
    expect(x).toContain('<testcase classname="marteau.recovery-demo.faults" name="redis_blackout at 10.0s #1" time="0">');
    expect(x).toContain('redis_blackout (redis: 100:blackout, 10.0s) → 100 % HTTP 500, expected 503; recovered in 2.00s');
    expect(x).toMatch(/tests="2" failures="0"/);
  });

  it('a fault ending too soon before the run to judge its recovery: its own verdict everywhere, a skipped threshold', () => {
    const s = chaosRun(true, 39.5);
    const verdicts = evaluateThresholds(parseThresholds({ recovery: '< 5s' }), s);
    const html = renderHtmlReport(s, verdicts);
    expect(html).toMatch(/<line class="marker recovery too-soon"[^>]*><title>redis_blackout: too soon to judge: the run ended 0\.50s after the fault, less than the 2s recovery window<\/title>/);
    expect(html).toContain('data-recovery="too soon"');
    expect(html).not.toContain('not-recovered');
    expect(html).toMatch(/<span class="soon">SKIP<\/span><\/td><td><code>recovery &lt; 5s<\/code>/);
    const j = buildJsonReport(s, verdicts);
    expect(j.passed).toBe(true);
    expect(j.thresholds[0]).toMatchObject({ name: 'recovery < 5s', passed: true, skipped: true });
    expect(j.fault_windows![0]).toMatchObject({ recovery: { status: 'too soon' }, recovery_text: expect.stringMatching(/^too soon to judge: /) });
    const x = buildJunitReport(s, verdicts);
    expect(x).toMatch(/<testcase classname="marteau\.recovery-demo\.thresholds" name="recovery &lt; 5s" time="0">\n {6}<skipped message="recovery &lt; 5s: not judged: redis_blackout at 10\.0s \(too soon to judge: /);
    expect(x).toMatch(/tests="3" failures="0" errors="0" skipped="1"/);
  });

  it('a run without fault windows has no such sections', () => {
    const r = new RunResults(newRunInfo({ start: T0 }));
    r.addRequest({ cycle: 0, cvus: 1, thread: 0, step: 1, number: 1, type: 'get', url: '/', start: T0, duration: 5, code: 200, result: 'success' });
    const s = r.summary();
    expect(s.measures).toBeUndefined();
    expect(renderHtmlReport(s)).not.toContain('fault-windows');
    expect(buildJsonReport(s).fault_windows).toBeUndefined();
  });
});
