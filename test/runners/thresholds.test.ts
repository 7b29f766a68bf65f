/** Threshold expressions: parsing (incl. bad ones, with their path) and evaluation. */
import { describe, expect, it } from 'vitest';
import { newRunInfo, RunResults } from '../../src/runners/results.js';
import type { RequestSample } from '../../src/runners/samples.js';
import { parseThreshold, parseThresholds, ThresholdError, thresholdsSchema } from '../../src/config/thresholds.js';
import { evaluateThresholds, verdictWord } from '../../src/runners/thresholds.js';

const T0 = 1_700_000_000_000;

/** A bad section throws a ThresholdError at `where` saying `message`. */
function rejects(raw: unknown, where: string, message: RegExp): void {
  let err: unknown;
  try {
    parseThresholds(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ThresholdError);
  expect((err as ThresholdError).path.join('.')).toBe(where);
  expect((err as ThresholdError).message).toMatch(message);
}

describe('parsing', () => {
  it('reads operators, units and scopes into canonical units', () => {
    const p = (k: string, e: unknown) => {
      const t = parseThreshold(k, e, ['thresholds', k]);
      return [t.metric, t.op, t.value, t.scope];
    };
    expect(p('success_rate', '>= 99%')).toEqual(['success_rate', '>=', 0.99, 'overall']);
    expect(p('success_rate', '>=0.995')).toEqual(['success_rate', '>=', 0.995, 'overall']);
    expect(p('error_rate', '< 1')).toEqual(['error_rate', '<', 1, 'overall']);
    expect(p('error_rate', '< 5')).toEqual(['error_rate', '<', 0.05, 'overall']);
    expect(p('p95', '< 300ms')).toEqual(['p95', '<', 300, 'overall']);
    expect(p('p99', '<= 1.5s per cycle')).toEqual(['p99', '<=', 1500, 'cycle']);
    expect(p('avg', '< 250 us')).toEqual(['avg', '<', 0.25, 'overall']);
    expect(p('median', '< 20')).toEqual(['p50', '<', 20, 'overall']);
    expect(p('rps', '>= 100/s each cycle')).toEqual(['rps', '>=', 100, 'cycle']);
    expect(p('apdex', '= 1')).toEqual(['apdex', '==', 1, 'overall']);
    expect(p('errors', '== 0')).toEqual(['errors', '==', 0, 'overall']);
    expect(p('tps', 5)).toEqual(['tps', '>=', 5, 'overall']);
  });

  it('reads a whole section with lists and per_cycle', () => {
    const ts = parseThresholds({ success_rate: '>= 99%', rps: ['>= 10', '< 5000'], per_cycle: { p95: '< 300ms' } });
    expect(ts.map((t) => [t.metric, t.scope, t.path.join('.')])).toEqual([
      ['success_rate', 'overall', 'thresholds.success_rate'],
      ['rps', 'overall', 'thresholds.rps.0'],
      ['rps', 'overall', 'thresholds.rps.1'],
      ['p95', 'cycle', 'thresholds.per_cycle.p95'],
    ]);
    expect(parseThresholds(undefined)).toEqual([]);
  });

  const bad: [unknown, string, RegExp][] = [
    [{ p95: '300ms' }, 'thresholds.p95', /cannot read threshold "300ms"/],
    [{ p95: '< 300 parsecs' }, 'thresholds.p95', /"parsecs" is not a time unit/],
    [{ p95: '< -3ms' }, 'thresholds.p95', /cannot read|negative/],
    [{ success_rate: '>= 120%' }, 'thresholds.success_rate', /outside 0\.\.100%/],
    [{ success_rate: '>= 99ms' }, 'thresholds.success_rate', /"ms" is not a unit for a rate/],
    [{ apdex: '> 1.2' }, 'thresholds.apdex', /outside 0\.\.1/],
    [{ errors: '< 1.5' }, 'thresholds.errors', /whole number/],
    [{ p96: '< 3ms' }, 'thresholds.p96', /unknown threshold metric "p96".*one of success_rate/],
    [{ rps: ['>= 1', '=> 3'] }, 'thresholds.rps.1', /cannot read threshold "=> 3"/],
    [{ rps: [] }, 'thresholds.rps', /empty list/],
    [{ p95: null }, 'thresholds.p95', /expected an expression string, got null/],
    [{ per_cycle: '< 3' }, 'thresholds.per_cycle', /expected a map/],
    [{ per_cycle: { p50: '<< 3' } }, 'thresholds.per_cycle.p50', /cannot read/],
    [['p95 < 3'], 'thresholds', /expected a map/],
  ];
  it.each(bad)('rejects %j at %s', rejects);

  it('the zod schema reports a bad expression at its own path', () => {
    const schema = thresholdsSchema;
    const r = schema.safeParse({ success_rate: '>= 99%', per_cycle: { p95: 'fast' } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(['per_cycle', 'p95']);
    expect(r.error!.issues[0].message).toMatch(/cannot read threshold "fast"/);
    expect(schema.safeParse({ p95: '< 3s' }).success).toBe(true);
  });
});

describe('evaluation', () => {
  const summary = () => {
    const r = new RunResults(newRunInfo({ start: T0, bench: { cycles: [1, 5], duration: 10 } as never }));
    const req = (cycle: number, duration: number, ok = true): RequestSample => ({
      cycle, cvus: cycle ? 5 : 1, thread: 0, step: 1, number: 1, type: 'get', url: '/', start: T0, duration,
      code: ok ? 200 : 503, result: ok ? 'success' : 'failure',
    });
    for (let i = 0; i < 100; i++) r.addRequest(req(0, 10 + (i % 10)));
    for (let i = 0; i < 100; i++) r.addRequest(req(1, i < 90 ? 50 : 500, i !== 0));
    return r.summary();
  };

  it('overall and per-cycle verdicts with the actual values', () => {
    const res = evaluateThresholds(
      parseThresholds({ success_rate: '>= 99%', p95: '< 600ms', per_cycle: { p95: '< 100ms', rps: '>= 5' }, errors: '< 1' }),
      summary(),
    );
    const byName = Object.fromEntries(res.map((r) => [r.name, r]));
    expect(Object.keys(byName)).toEqual(['success_rate >= 99%', 'p95 < 600ms', 'p95 < 100ms per cycle', 'rps >= 5 per cycle', 'errors < 1']);
    expect(byName['success_rate >= 99%'].passed).toBe(true);
    expect(byName['success_rate >= 99%'].actual).toBeCloseTo(0.995, 10);
    expect(byName['p95 < 600ms'].passed).toBe(true);
    const pc = byName['p95 < 100ms per cycle'];
    expect(pc.passed).toBe(false);
    expect(pc.cycles!.map((c) => c.passed)).toEqual([true, false]);
    expect(pc.actual).toBeGreaterThanOrEqual(500);
    expect(pc.message).toMatch(/failed in cycle #1 \(5 users: 50\d\.\dms\)/);
    expect(byName['rps >= 5 per cycle'].passed).toBe(true);
    expect(byName['errors < 1'].passed).toBe(false);
    expect(byName['errors < 1'].message).toBe('errors < 1: 1 (failed)');
  });

  it('nothing measured fails a condition rather than passing it', () => {
    const empty = new RunResults(newRunInfo({ start: T0 })).summary();
    const [p95, sr] = evaluateThresholds(parseThresholds({ p95: '< 300ms', success_rate: '>= 99%' }), empty);
    expect(p95.passed).toBe(false);
    expect(p95.message).toMatch(/no data/);
    expect(sr.passed).toBe(true); // no request, none failed
  });
});

describe('fault window thresholds', () => {
  it('reads recovery, a during map and dotted during keys', () => {
    const ts = parseThresholds({
      recovery: '< 5s',
      during: { redis_blackout: { status_5xx: '< 100%', recovery: ['< 10s', '>= 0s'] } },
      'during.db.slow.timeouts': '== 0%',
    });
    expect(ts.map((t) => [t.metric, t.scope, t.window, t.value, t.path.join('.')])).toEqual([
      ['recovery', 'window', undefined, 5000, 'thresholds.recovery'],
      ['status_5xx', 'window', 'redis_blackout', 1, 'thresholds.during.redis_blackout.status_5xx'],
      ['recovery', 'window', 'redis_blackout', 10_000, 'thresholds.during.redis_blackout.recovery.0'],
      ['recovery', 'window', 'redis_blackout', 0, 'thresholds.during.redis_blackout.recovery.1'],
      ['timeouts', 'window', 'db.slow', 0, 'thresholds.during.db.slow.timeouts'],
    ]);
  });

  const bad: [unknown, string, RegExp][] = [
    [{ recovery: 'fast' }, 'thresholds.recovery', /cannot read threshold "fast"/],
    [{ recovery: '< 5 parsecs' }, 'thresholds.recovery', /"parsecs" is not a time unit/],
    [{ during: '< 3' }, 'thresholds.during', /expected a map of fault window/],
    [{ during: { w: '< 3' } }, 'thresholds.during.w', /expected a map of metric: expression for fault window w/],
    [{ during: { w: { status_6xx: '< 1%' } } }, 'thresholds.during.w.status_6xx', /unknown threshold metric "status_6xx" for fault window w.*one of recovery, success_rate/],
    [{ during: { w: { status_5xx: '< 120%' } } }, 'thresholds.during.w.status_5xx', /outside 0\.\.100%/],
    [{ during: { w: { p95: '< 1s per cycle' } } }, 'thresholds.during.w.p95', /cannot be per cycle/],
    [{ 'during.status_5xx': '< 1%' }, 'thresholds.during.status_5xx', /write during.<fault window>.<metric>/],
    [{ per_cycle: { recovery: '< 1s' } }, 'thresholds.per_cycle.recovery', /unknown threshold metric "recovery"/],
  ];
  it.each(bad)('rejects %j at %s', rejects);

  /** 10 s healthy, a 10 s window answering 500, then `after` (recovers at once, or never). */
  const run = (after: 'ok' | 'failing', windows: { name: string; start: number; end?: number }[]) => {
    const r = new RunResults(newRunInfo({ start: T0, bench: { cycles: [5], duration: 40 } as never }));
    for (let t = 0; t < 40_000; t += 50) {
      const failing = (t >= 10_000 && t < 20_000) || (after === 'failing' && t >= 20_000);
      r.addRequest({ cycle: 0, cvus: 5, thread: 0, step: 1, number: 1, type: 'get', url: '/', start: T0 + t, duration: 5, code: failing ? 500 : 200, result: failing ? 'failure' : 'success' });
    }
    r.finish(T0 + 40_000);
    r.faultWindows = windows.map((w) => ({ name: w.name, proxy: 'redis', mix: '100:blackout', source: 'fixture', start: T0 + w.start, end: w.end === undefined ? undefined : T0 + w.end }));
    return r.summary();
  };

  it('recovery holds for every ended window; during.<name> judges that window', () => {
    const ts = parseThresholds({ recovery: '< 5s', during: { redis_blackout: { status_5xx: '>= 99%', success_rate: '> 50%' } } });
    const ok = evaluateThresholds(ts, run('ok', [{ name: 'redis_blackout', start: 10_000, end: 20_000 }]));
    expect(ok.map((v) => [v.name, v.passed])).toEqual([
      ['recovery < 5s', true],
      ['during.redis_blackout.status_5xx >= 99%', true],
      ['during.redis_blackout.success_rate > 50%', false],
    ]);
    expect(ok[0].actual).toBe(0);
    expect(ok[2].message).toBe('during.redis_blackout.success_rate > 50%: failed for redis_blackout at 10.0s (0.00%)');
    const ko = evaluateThresholds(ts, run('failing', [{ name: 'redis_blackout', start: 10_000, end: 20_000 }]));
    expect(ko[0].passed).toBe(false);
    expect(ko[0].message).toBe('recovery < 5s: failed for redis_blackout at 10.0s (not recovered by the end of the run)');
  });

  it('a window still on at the end is skipped by recovery, and a missing window fails', () => {
    const s = run('failing', [{ name: 'redis_blackout', start: 10_000 }]);
    const [all, named, missing] = evaluateThresholds(parseThresholds({ recovery: '< 5s', 'during.redis_blackout.recovery': '< 5s', 'during.nope.status_5xx': '< 1%' }), s);
    expect([all.passed, all.message]).toEqual([false, 'recovery < 5s: no fault window ended during the run (failed)']);
    expect([named.passed, named.message]).toEqual([false, 'during.redis_blackout.recovery < 5s: failed for redis_blackout at 10.0s (ongoing: the fault was still on when the run ended)']);
    expect([missing.passed, missing.message]).toEqual([false, 'during.nope.status_5xx < 1%: no fault window nope in this run (failed)']);
  });

  it('a recovery the run ended too soon to judge is skipped, not failed, and named', () => {
    // The fault ends 39 s in, the run at 40 s: less than the 2 s recovery window.
    const s = run('ok', [{ name: 'late', start: 30_000, end: 39_000 }]);
    const [all, named, effect] = evaluateThresholds(parseThresholds({ recovery: '< 5s', 'during.late.recovery': '< 5s', 'during.late.status_5xx': '< 1%' }), s);
    expect([all.passed, all.skipped, verdictWord(all), all.message]).toEqual([
      true,
      true,
      'SKIP',
      'recovery < 5s: not judged: late at 30.0s (too soon to judge: the run ended 1s after the fault, less than the 2s recovery window)',
    ]);
    expect([named.skipped, verdictWord(named)]).toEqual([true, 'SKIP']);
    // The window's other metrics are judged as usual.
    expect([effect.skipped, verdictWord(effect)]).toEqual([undefined, 'PASS']);
    // Next to a judged window, the judged one decides and the other is named.
    const both = run('ok', [
      { name: 'redis_blackout', start: 10_000, end: 20_000 },
      { name: 'late', start: 30_000, end: 39_000 },
    ]);
    const [mixed] = evaluateThresholds(parseThresholds({ recovery: '< 5s' }), both);
    expect([mixed.passed, mixed.skipped]).toEqual([true, undefined]);
    expect(mixed.message).toMatch(/^recovery < 5s: 0\.0ms; not judged: late at 30\.0s \(too soon to judge: /);
  });
});
