import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../../src/core/events.js';
import { AttributionTracker, attributionLine, countBetween } from '../../src/runners/measures/attribution.js';
import { windowEffect } from '../../src/runners/measures/effects.js';
import { computeMeasures, windowLine } from '../../src/runners/measures/index.js';
import { DEFAULT_RECOVERY } from '../../src/stats/recovery-options.js';
import { recoveryOf } from '../../src/runners/measures/recovery.js';
import { binValueMs, latencyBin, MeasureSeries, outcomeClass, outcomeKey } from '../../src/runners/measures/series.js';
import { faultWindows, meetsExpect, type FaultWindow } from '../../src/runners/measures/windows.js';

const T0 = 1_700_000_000_000;

/** Ten requests a second from `from` to `to` (s after T0), each `ms` long, answering `code`. */
function load(s: MeasureSeries, from: number, to: number, code: number | 'timeout' | 'connection', ms = 10): void {
  for (let t = from * 1000; t < to * 1000; t += 100) {
    const c = typeof code === 'number' ? code : -1;
    s.addRequest(T0 + t, ms, c >= 200 && c < 400, outcomeKey(c, typeof code === 'string' ? code : undefined));
  }
}

const ev = (at: number, proxy: string, mix: string, fixture: string, action: 'apply' | 'restore', extra: Partial<TimelineEvent> = {}): TimelineEvent => ({
  at: T0 + at * 1000,
  proxy,
  kind: 'mix',
  mix,
  fixture,
  action,
  ...extra,
});

describe('the measure series', () => {
  it('keys outcomes by status, timeout or connection error, and classes them', () => {
    expect([outcomeKey(503, undefined), outcomeKey(-1, 'timeout'), outcomeKey(-1, 'ECONNREFUSED'), outcomeKey(-1, 'connection closed')]).toEqual(['503', 'timeout', 'connection', 'connection']);
    expect(['200', '302', '404', '503', 'timeout', 'connection'].map(outcomeClass)).toEqual(['2xx', '3xx', '4xx', '5xx', 'timeout', 'connection']);
  });

  it('log bins never under-report and stay within 5 % from 0.1 ms to 100 s', () => {
    for (const ms of [0.1, 1, 7.3, 120, 4999, 60_000, 99_999]) {
      const v = binValueMs(latencyBin(ms));
      expect(v).toBeGreaterThanOrEqual(ms * (1 - 1e-9));
      expect(v).toBeLessThanOrEqual(ms * 1.05 + 1e-9);
    }
    expect(binValueMs(latencyBin(0.01))).toBeCloseTo(0.1, 9); // below the floor: the floor
    expect(latencyBin(1e7)).toBe(latencyBin(1e9)); // above 100 s: the last bin
  });

  it('sums a range of buckets: requests, outcomes, p95 and faults', () => {
    const s = new MeasureSeries();
    load(s, 0, 10, 200, 10);
    load(s, 10, 20, 500, 2);
    for (let i = 0; i < 30; i++) s.addFault(T0 + 10_000 + i * 300, 'redis', 'blackout');
    const before = s.range(T0, T0 + 10_000);
    expect(before).toMatchObject({ requests: 100, ok: 100, outcomes: { '200': 100 } });
    expect(before.p95).toBeCloseTo(10, 0);
    const during = s.range(T0 + 10_000, T0 + 20_000);
    expect(during).toMatchObject({ requests: 100, ok: 0, outcomes: { '500': 100 }, faults: { redis: { blackout: 30 } } });
    expect(during.p95).toBeCloseTo(2, 0);
  });

  it('stays bounded on a long run: buckets widen instead of growing', () => {
    const s = new MeasureSeries();
    for (let t = 0; t < 10 * 3600; t += 5) s.addRequest(T0 + t * 1000, 5, true, '200');
    expect(s.width).toBeGreaterThan(250);
    const all = s.range(T0, T0 + 10 * 3600 * 1000 + s.width);
    expect(all.requests).toBe((10 * 3600) / 5);
  });
});

describe('fault windows from the timeline', () => {
  it('opens on a faulty apply, closes on restore, skips what was set before the load', () => {
    const ws = faultWindows(
      [ev(-5, 'db', '5:delay', 'noise', 'apply'), ev(20, 'redis', '100:blackout', 'redis_blackout', 'apply', { expect: ['503'] }), ev(30, 'redis', '', 'redis_blackout', 'restore')],
      T0,
    );
    expect(ws).toEqual([{ name: 'redis_blackout', proxy: 'redis', mix: '100:blackout', source: 'fixture', start: T0 + 20_000, end: T0 + 30_000, expect: ['503'] }]);
  });

  it('merges a ramp of one step, ends it on an empty mix, and leaves a last window open', () => {
    const ws = faultWindows(
      [
        ev(10, 'api', '10:delay', 'x', 'apply', { name: 'ramp', source: 'chaos' }),
        ev(12, 'api', '50:delay', 'x', 'apply', { name: 'ramp', source: 'chaos' }),
        ev(14, 'api', '100:dummy', 'x', 'apply', { name: 'calm', source: 'chaos' }),
        ev(16, 'api', '', 'x', 'apply', { name: 'calm', source: 'chaos' }),
        ev(20, 'api', '100:down', 'x', 'apply', { name: 'outage', source: 'manual' }),
      ],
      T0,
    );
    expect(ws.map((w) => [w.name, w.source, w.mix, w.lastMix, (w.start - T0) / 1000, w.end && (w.end - T0) / 1000])).toEqual([
      ['ramp', 'chaos', '10:delay', '50:delay', 10, 14],
      ['outage', 'manual', '100:down', undefined, 20, undefined],
    ]);
  });

  it('reads times from the load start as well as epoch times', () => {
    const relative = faultWindows([{ ...ev(0, 'db', '100:down', 'x', 'apply', { name: 'db_down', source: 'chaos' }), at: 3000 }, { ...ev(0, 'db', '', 'x', 'apply', { name: 'calm' }), at: 8000 }], T0);
    expect(relative.map((w) => [w.name, w.start - T0, w.end! - T0])).toEqual([['db_down', 3000, 8000]]);
  });

  it('matches expectations by status, class or failure kind', () => {
    expect(meetsExpect('503', ['503'])).toBe(true);
    expect(meetsExpect('500', ['503'])).toBe(false);
    expect(meetsExpect('502', ['5xx'])).toBe(true);
    expect(meetsExpect('timeout', ['5xx'])).toBe(false);
    expect(meetsExpect('timeout', ['timeout', '504'])).toBe(true);
  });
});

const blackout: FaultWindow = { name: 'redis_blackout', proxy: 'redis', mix: '100:blackout', source: 'fixture', start: T0 + 10_000, end: T0 + 20_000, expect: ['503'] };

describe('recovery time', () => {
  it('is the time from the fault end to the first span back within tolerance', () => {
    const s = new MeasureSeries();
    load(s, 0, 10, 200, 10);
    load(s, 10, 21.5, 500, 2); // still failing 1.5s after the fault
    load(s, 21.5, 24, 200, 30); // back, but slower than baseline + 20 %
    load(s, 24, 40, 200, 10);
    const r = recoveryOf(s, blackout, { end: T0 + 40_000 });
    expect(r.status).toBe('recovered');
    expect(r.ms).toBe(4000);
    expect(r.baseline).toMatchObject({ requests: 100, successRate: 1 });
    // A looser p95 tolerance accepts the slower phase.
    expect(recoveryOf(s, blackout, { end: T0 + 40_000 }, { ...DEFAULT_RECOVERY, p95Tolerance: 3 }).ms).toBe(1500);
  });

  it('says "not recovered" when the failures last to the end, or to the next window', () => {
    const s = new MeasureSeries();
    load(s, 0, 10, 200);
    load(s, 10, 40, 500);
    expect(recoveryOf(s, blackout, { end: T0 + 40_000 })).toMatchObject({ status: 'not recovered', note: 'by the end of the run' });
    const s2 = new MeasureSeries();
    load(s2, 0, 10, 200);
    load(s2, 10, 25, 500);
    load(s2, 25, 40, 200);
    expect(recoveryOf(s2, blackout, { end: T0 + 40_000, next: { name: 'db_down', start: T0 + 22_000 } })).toMatchObject({ status: 'not recovered', note: 'before db_down started' });
    expect(recoveryOf(s2, blackout, { end: T0 + 40_000 })).toMatchObject({ status: 'recovered', ms: 5000 });
  });

  it('cannot judge a fault without a baseline, or one still on at the end', () => {
    const s = new MeasureSeries();
    load(s, 10, 40, 200);
    expect(recoveryOf(s, blackout, { end: T0 + 40_000 }).status).toBe('no baseline');
    expect(recoveryOf(s, { ...blackout, end: undefined }, { end: T0 + 40_000 }).status).toBe('ongoing');
  });

  it('uses the tolerance of the success rate', () => {
    const s = new MeasureSeries();
    load(s, 0, 10, 200);
    load(s, 10, 20, 500);
    // After the fault one request in ten fails: within a 10 % tolerance, not within 1 %.
    for (let t = 20_000; t < 40_000; t += 100) s.addRequest(T0 + t, 10, t % 1000 !== 0, t % 1000 ? '200' : '500');
    expect(recoveryOf(s, blackout, { end: T0 + 40_000 }).status).toBe('not recovered');
    // Judged per request: the first request after the fault failed, the next one (100 ms later) opens the healthy span.
    expect(recoveryOf(s, blackout, { end: T0 + 40_000 }, { ...DEFAULT_RECOVERY, successRateTolerance: 0.1 })).toMatchObject({ status: 'recovered', ms: 100 });
  });
});

describe('error mapping', () => {
  it('says what the load saw against what was injected and expected', () => {
    const s = new MeasureSeries();
    load(s, 0, 10, 200);
    load(s, 10, 20, 500);
    for (let i = 0; i < 40; i++) s.addFault(T0 + 10_000 + i * 250, 'redis', 'blackout');
    s.addFault(T0 + 12_000, 'db', 'delay'); // another proxy: not this window's
    const e = windowEffect(s, blackout, T0 + 40_000);
    expect(e).toMatchObject({ requests: 100, success: 0, successRate: 0, classes: { '5xx': 100, '2xx': 0 }, injected: { blackout: 40 }, expectedShare: 0 });
    expect(e.headline).toBe('→ 100 % HTTP 500, expected 503');
    const m = computeMeasures(s, [blackout], new AttributionTracker(1500).result(), DEFAULT_RECOVERY, T0 + 40_000);
    expect(windowLine(m.windows[0])).toBe('redis_blackout (redis: 100:blackout, 10.0s) → 100 % HTTP 500, expected 503; not recovered by the end of the run');
    // A window tuned by hand is named with the mix it ended on too, not only the first.
    expect(windowLine({ ...m.windows[0], name: 'manual', mix: '5:error', lastMix: '50:error' })).toMatch(/^manual \(redis: 5:error → 50:error, 10\.0s\)/);
  });

  it('counts the requests of a window shorter than a series bucket, to the millisecond', () => {
    // A database restarted in 0.2 s, across a 250 ms bucket boundary: 503s started inside it,
    // 200s just before and after. Whole buckets alone would have held none of it.
    const s = new MeasureSeries();
    for (let t = 0; t < 2000; t += 10) {
      const inside = t >= 1120 && t < 1320;
      s.addRequest(T0 + t, inside ? 1 : 5, !inside, inside ? '503' : '200');
    }
    const restart = { ...blackout, name: 'db_restart', kind: 'service' as const, start: T0 + 1120, end: T0 + 1320 };
    const e = windowEffect(s, restart, T0 + 2000);
    expect(e).toMatchObject({ requests: 20, success: 0, classes: { '5xx': 20, '2xx': 0 }, injected: {} });
    expect(e.p95).toBeCloseTo(1, 3);
    expect(e.headline).toBe('→ 100 % HTTP 503, expected 503');
    // One 200 among 200 503s: neither share reads as all or none.
    const dense = new MeasureSeries();
    for (let t = 1120; t < 1320; t++) dense.addRequest(T0 + t, 1, false, '503');
    dense.addRequest(T0 + 1200, 5, true, '200');
    expect(windowEffect(dense, restart, T0 + 2000).headline).toBe('→ >99 % HTTP 503, <1 % HTTP 200, expected 503');
  });

  it('judges only error answers against the expectation', () => {
    const s = new MeasureSeries();
    load(s, 10, 15, 200);
    load(s, 15, 18, 503);
    load(s, 18, 20, 'timeout');
    const e = windowEffect(s, blackout, T0 + 40_000);
    expect(e.classes).toMatchObject({ '2xx': 50, '5xx': 30, timeout: 20 });
    expect(e.expectedShare).toBeCloseTo(0.6, 5);
    expect(e.headline).toBe('→ 50 % HTTP 200, 30 % HTTP 503, 20 % timeouts, expected 503');
  });
});

describe('attribution', () => {
  it('counts sorted values in a closed range', () => {
    expect(countBetween([1, 2, 2, 5, 9], 0, 2, 5)).toBe(3);
    expect(countBetween([1, 2, 2, 5, 9], 3, 2, 5)).toBe(1);
    expect(countBetween([], 0, 0, 10)).toBe(0);
  });

  it('joins requests and faults by time overlap, per proxy and behavior', () => {
    const a = new AttributionTracker(500);
    a.fault('redis', 'blackout', T0 + 1000);
    a.fault('redis', 'blackout', T0 + 1005);
    a.fault('db', 'delay', T0 + 3000);
    a.request(T0 + 990, 20, false); // overlaps both blackouts: counted once
    a.request(T0 + 1010, 5, false); // after them
    a.request(T0 + 2900, 800, true); // slow, overlaps the delay
    a.request(T0 + 5000, 10, true);
    const r = a.result();
    expect(r).toMatchObject({ requests: 4, failed: 2, slow: 1, unexplained: 1, partial: false });
    expect(r.rows).toEqual([
      { proxy: 'redis', behavior: 'blackout', faults: 2, overlapped: 1, failed: 1, slow: 0 },
      { proxy: 'db', behavior: 'delay', faults: 1, overlapped: 1, failed: 0, slow: 1 },
    ]);
    expect(attributionLine(r, r.rows[0])).toBe('1 of 3 failed or slow requests overlapped a blackout on redis (1 failed, 0 slow; 1 requests overlapped one in all)');
    // It read 'overlapped a error on redis' under a sweep's protocol errors.
    expect(attributionLine(r, { ...r.rows[0], behavior: 'error' })).toMatch(/overlapped an error on redis/);
  });

  it('widens a request counted by start bucket by the bucket, so a fast failure still finds its fault', () => {
    const a = new AttributionTracker(500);
    a.fault('redis', 'blackout', T0 + 1007);
    // A 2 ms 503 that started somewhere in [T0 + 1000, T0 + 1010): only the bucket says where.
    a.request(T0 + 1000, 2, false);
    a.request(T0 + 1000, 2, false, 10);
    a.request(T0 + 1010, 2, false, 10); // the next bucket: after the fault
    expect(a.result().rows).toEqual([{ proxy: 'redis', behavior: 'blackout', faults: 1, overlapped: 1, failed: 1, slow: 0 }]);
  });

  it('counts the requests each proxy served while they were in flight', () => {
    const a = new AttributionTracker(500);
    a.fault('redis', 'blackout', T0 + 1000);
    for (const at of [T0 + 100, T0 + 105, T0 + 2000]) a.exchange('redis', at);
    a.exchange('db', T0 + 2001);
    a.request(T0 + 90, 20, true); // two redis exchanges: counted once
    a.request(T0 + 995, 10, false); // the blackout, no exchange completed
    a.request(T0 + 1990, 700, true); // slow, both proxies
    const r = a.result();
    expect(r.proxies).toEqual([
      { proxy: 'db', exchanges: 1, overlapped: 1, failed: 0, slow: 1 },
      { proxy: 'redis', exchanges: 3, overlapped: 2, failed: 0, slow: 1 },
    ]);
    // Exchanges explain nothing: the slow request overlapped no fault.
    expect(r).toMatchObject({ failed: 1, slow: 1, unexplained: 1 });
  });

  it('forgets faults older than the horizon, and places a late event in order', () => {
    const a = new AttributionTracker(500, 1000);
    a.fault('p', 'x', T0 + 100);
    a.fault('p', 'x', T0 + 50); // late
    a.request(T0 + 40, 20, false);
    expect(a.result().rows[0].overlapped).toBe(1);
    a.request(T0 + 10_000, 5, false); // prunes both
    a.request(T0 + 40, 20, false); // a straggler whose faults were forgotten
    expect(a.result().rows[0]).toMatchObject({ faults: 2, overlapped: 1, failed: 1 });
  });
});
