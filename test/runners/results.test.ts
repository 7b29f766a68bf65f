/** The results model and its statistics (pure code: no I/O). */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FaultAggregator } from '../../src/runners/fault-aggregator.js';
import { apdexFrom, apdexRating, funkloadRank, latencyStats } from '../../src/runners/formulas.js';
import { newRunInfo, RunResults, type ProxyTimelineEvent } from '../../src/runners/results.js';
import type { RequestSample } from '../../src/runners/samples.js';
import { Histogram, PERCENTILE_PRECISION, percentilePrecision } from '../../src/stats/histogram.js';

const T0 = 1_700_000_000_000;
const req = (over: Partial<RequestSample> = {}): RequestSample => ({
  cycle: 0,
  cvus: 1,
  thread: 0,
  step: 1,
  number: 1,
  type: 'get',
  url: 'http://127.0.0.1/',
  start: T0,
  duration: 10,
  code: 200,
  result: 'success',
  ...over,
});
const run = (duration = 10, apdexT = 1.5) => new RunResults(newRunInfo({ start: T0, apdexT, bench: { cycles: [1], duration } as never }));

describe('percentiles', () => {
  it("use FunkLoad's nearest rank values[int(p·n)]", () => {
    expect(funkloadRank(50, 10)).toBe(6);
    expect(funkloadRank(95, 20)).toBe(20);
    expect(funkloadRank(99, 10)).toBe(10);
    expect(funkloadRank(10, 1)).toBe(1);
    const h = new Histogram();
    for (let v = 1; v <= 10; v++) h.record(v * 10); // µs, below 128: exact buckets
    const l = latencyStats(h);
    expect(l.p50).toBe(0.06); // values[5] = 60 µs
    expect(l.p10).toBe(0.02);
    expect(l.min).toBe(0.01);
    expect(l.max).toBe(0.1);
    expect(l.avg).toBeCloseTo(0.055, 10);
  });

  it('stay within the histogram precision of the exact values', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60_000_000 }), { minLength: 1, maxLength: 2000 }), (values) => {
        const h = new Histogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        const l = latencyStats(h);
        for (const [p, got] of [[10, l.p10], [50, l.p50], [90, l.p90], [95, l.p95], [99, l.p99]] as const) {
          const exact = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1000;
          expect(got).toBeGreaterThanOrEqual(exact - 1e-9);
          expect(got).toBeLessThanOrEqual(exact * (1 + PERCENTILE_PRECISION) + 1e-9);
        }
      }),
      { numRuns: 200 },
    );
    expect(PERCENTILE_PRECISION).toBeLessThan(0.001); // 3 significant digits
  });

  it('count exactly below 2048 µs, merge exactly, and survive a JSON round trip at either precision', () => {
    for (const digits of [2, 3] as const) {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 300 }), fc.array(fc.integer({ min: 0, max: 5_000_000 }), { maxLength: 300 }), (a, b) => {
          const ha = new Histogram(digits);
          const hb = new Histogram(digits);
          const all = new Histogram(digits);
          for (const v of a) (ha.record(v), all.record(v));
          for (const v of b) (hb.record(v), all.record(v));
          ha.merge(hb);
          const back = Histogram.fromJSON(JSON.parse(JSON.stringify(ha.toJSON())));
          const sorted = [...a, ...b].sort((x, y) => x - y);
          for (const h of [ha, back]) {
            expect(h.toJSON()).toEqual(all.toJSON());
            for (const rank of [1, Math.ceil(sorted.length / 2), sorted.length]) {
              const exact = sorted[rank - 1];
              const got = h.valueAtRank(rank);
              if (exact < 2 * 10 ** digits) expect(got).toBe(exact);
              expect(got).toBeGreaterThanOrEqual(exact);
              expect(got).toBeLessThanOrEqual(exact * (1 + percentilePrecision(digits)));
            }
          }
        }),
        { numRuns: 100 },
      );
    }
    expect(() => new Histogram(3).merge(new Histogram(2))).toThrow(/cannot merge a 2-digit histogram into a 3-digit one/);
  });
});

describe('Apdex', () => {
  it('satisfied below T, tolerating below 4T, frustrated beyond, as FunkLoad', () => {
    const r = run(10, 0.1);
    for (const d of [50, 99.9, 100, 399, 400, 1000]) r.addRequest(req({ duration: d }));
    const a = r.summary().cycles[0].requests.apdex;
    expect([a.satisfied, a.tolerating, a.frustrated]).toEqual([2, 2, 2]);
    expect(a.score).toBeCloseTo((2 + 1) / 6, 10);
    expect(a.rating).toBe('POOR');
    expect(a.t).toBe(0.1);
  });
  it('ratings follow FunkLoad labels and bounds', () => {
    expect([0, 0.49, 0.5, 0.69, 0.7, 0.84, 0.85, 0.93, 0.94, 1].map(apdexRating)).toEqual([
      'UNACCEPTABLE', 'UNACCEPTABLE', 'POOR', 'POOR', 'FAIR', 'FAIR', 'Good', 'Good', 'Excellent', 'Excellent',
    ]);
    expect(apdexFrom(1.5, 0, 0, 0).score).toBe(0);
  });
  it('the headline Apdex counts a failed request as frustrated however fast; FunkLoad\'s does not', () => {
    const r = run(10, 0.1);
    for (const d of [50, 200]) r.addRequest(req({ duration: d }));
    for (const d of [5, 5]) r.addRequest(req({ duration: d, code: 503, result: 'failure' }));
    const c = r.summary().cycles[0];
    expect([c.apdex.satisfied, c.apdex.tolerating, c.apdex.frustrated]).toEqual([1, 1, 2]);
    expect(c.apdex.score).toBeCloseTo(1.5 / 4, 10);
    expect([c.requests.apdex.satisfied, c.requests.apdex.tolerating, c.requests.apdex.frustrated]).toEqual([3, 1, 0]);
    // Aggregates (Locust) do not say which durations failed: failures leave the best zones first.
    r.addAggregate({ cycle: 0, cvus: 1, step: 1, type: 'get', url: '/', durations: [[50, 3], [200, 2]], failures: 4, errors: {} });
    const a = r.summary().cycles[0].apdex;
    expect([a.satisfied, a.tolerating, a.frustrated]).toEqual([1, 2, 6]);
  });
  it("defaults to FunkLoad's T = 1.5 s", () => {
    expect(newRunInfo({ start: 0 }).apdexT).toBe(1.5);
  });
});

describe('cycle aggregates', () => {
  it('rates divide by the configured duration; maxRPS counts per whole second', () => {
    const r = run(4);
    r.startCycle(0, 3, T0);
    for (let i = 0; i < 30; i++) r.addRequest(req({ start: T0 + (i < 20 ? 100 : 1500 + i), thread: i % 3 }));
    r.addRequest(req({ start: T0 + 2000, result: 'failure', code: 503 }));
    r.endCycle(0, T0 + 4000);
    const c = r.summary().cycles[0];
    expect(c.cvus).toBe(3);
    expect(c.requests.total).toBe(31);
    expect(c.requests.rps).toBeCloseTo(31 / 4, 10);
    expect(c.requests.maxRps).toBe(20);
    expect(c.requests.errorPercent).toBeCloseTo(100 / 31, 10);
    expect(c.successRate).toBeCloseTo(30 / 31, 10);
    expect(c.errors).toEqual({ 'status 503': 1 });
  });

  it('rebuilds pages per thread: a page request opens a page, images and links join it', () => {
    const r = run(1);
    r.addRequest(req({ thread: 0, type: 'get', duration: 10 }));
    r.addRequest(req({ thread: 1, type: 'get', duration: 5 }));
    r.addRequest(req({ thread: 0, type: 'image', number: 2, duration: 3 }));
    r.addRequest(req({ thread: 0, type: 'link', number: 3, duration: 2, result: 'failure', code: 404 }));
    r.addRequest(req({ thread: 0, type: 'post', step: 2, duration: 7 }));
    r.endCycle(0, T0 + 1000);
    const c = r.summary().cycles[0];
    expect(c.requests.total).toBe(5);
    expect(c.pages.total).toBe(3);
    expect(c.pages.success).toBe(2); // the first page of thread 0 failed through its css link
    expect(c.pages.latency.max).toBeCloseTo(7, 1);
    expect(c.pages.spps).toBe(2);
    expect(c.steps.map((s) => s.key)).toEqual(['001.001', '001.002', '001.003', '002.001']);
  });

  it("leaves a thread's responses before its first page out of pages, as fl-build-report does", () => {
    const r = run(1, 0.01);
    // Recording began while each thread fetched an image of a page it had requested before.
    r.addRequest(req({ thread: 0, type: 'image', number: 3, duration: 800 }));
    r.addRequest(req({ thread: 1, type: 'image', number: 3, duration: 700, result: 'failure', code: 404 }));
    r.addRequest(req({ thread: 0, type: 'post', duration: 4 }));
    r.addRequest(req({ thread: 0, type: 'image', number: 2, duration: 2 }));
    r.addRequest(req({ thread: 1, type: 'get', duration: 6 }));
    r.endCycle(0, T0 + 1000);
    const c = r.summary().cycles[0];
    expect(c.requests.total).toBe(5);
    expect([c.pages.total, c.pages.success]).toEqual([2, 2]);
    expect(c.pages.latency.max).toBeCloseTo(6, 1);
    // Apdex T = 10 ms: the two slow images count for requests, not for pages.
    expect(c.requests.apdex.frustrated).toBe(2);
    expect([c.pages.apdex.satisfied, c.pages.apdex.frustrated]).toEqual([3, 0]);
  });

  it('folds a PATCH or OPTIONS response into the page before it, as FunkLoad, whose pages are get/post/put/delete/head/xmlrpc', () => {
    const r = run(1);
    r.addRequest(req({ type: 'get', duration: 4 }));
    r.addRequest(req({ type: 'patch', step: 2, duration: 3 }));
    r.addRequest(req({ type: 'options', step: 3, duration: 2 }));
    r.addRequest(req({ type: 'delete', step: 4, duration: 1 }));
    r.endCycle(0, T0 + 1000);
    const c = r.summary().cycles[0];
    expect([c.requests.total, c.pages.total]).toEqual([4, 2]);
    expect(c.pages.latency.max).toBeCloseTo(9, 1);
  });

  it("divides the successful pages' time by all pages for the page average, as FunkLoad does", () => {
    const r = run(1);
    r.addRequest(req({ thread: 0, duration: 10 }));
    r.addRequest(req({ thread: 1, duration: 30 }));
    r.addRequest(req({ thread: 2, duration: 50, result: 'failure', code: 500 }));
    r.addRequest(req({ thread: 3, duration: 70, result: 'failure', code: 500 }));
    r.endCycle(0, T0 + 1000);
    const c = r.summary().cycles[0];
    expect([c.pages.latency.min, c.pages.latency.max]).toEqual([10, 30]);
    expect(c.pages.latency.avg).toBeCloseTo(40 / 4, 6);
    expect(c.requests.latency.avg).toBeCloseTo(160 / 4, 6);
  });

  it('test stats count outcomes and time successful tests by their connection duration', () => {
    const r = run(2);
    const t = { cycle: 0, cvus: 1, thread: 0, start: T0, steps: 1, requests: 1, pages: 1 };
    r.addTest({ ...t, duration: 500, connectionDuration: 20, result: 'success' });
    r.addTest({ ...t, duration: 500, connectionDuration: 40, result: 'success' });
    r.addTest({ ...t, duration: 1, connectionDuration: 1, result: 'failure' });
    r.addTest({ ...t, duration: 1, connectionDuration: 1, result: 'error' });
    const c = r.summary().cycles[0].tests;
    expect([c.total, c.success, c.failures, c.errors]).toEqual([4, 2, 1, 1]);
    expect(c.stps).toBe(1);
    expect(c.errorPercent).toBe(50);
    expect(c.latency.min).toBeCloseTo(20, 0);
    expect(c.latency.max).toBeCloseTo(40, 0);
  });

  it('overall figures merge every cycle', () => {
    const r = run(1);
    for (let i = 0; i < 10; i++) r.addRequest(req({ cycle: 0, cvus: 1, duration: 10 }));
    for (let i = 0; i < 30; i++) r.addRequest(req({ cycle: 1, cvus: 5, duration: 30 }));
    const s = r.summary();
    expect(s.cycles.map((c) => c.requests.total)).toEqual([10, 30]);
    expect(s.overall.requests.total).toBe(40);
    expect(s.overall.requests.rps).toBe(20);
    expect(s.overall.cvus).toBe(5);
    expect(s.overall.requests.latency.p50).toBeCloseTo(30, 0);
  });

  it('caps the number of distinct error kinds', () => {
    const r = run(1);
    for (let i = 0; i < 500; i++) r.addRequest(req({ result: 'error', code: -1, error: `E${i}` }));
    const errors = r.summary().cycles[0].errors;
    expect(Object.keys(errors).length).toBeLessThanOrEqual(51);
    expect(Object.values(errors).reduce((a, b) => a + b, 0)).toBe(500);
    expect(r.summary().errorSamples.length).toBe(20);
  });
});

describe('timeline', () => {
  it('keeps at most 300 buckets however long the run, losing no request', () => {
    const r = run(3600);
    for (let s = 0; s < 3600; s++) r.addRequest(req({ start: T0 + s * 1000 + 1, duration: s % 100 }));
    const points = r.summary().timeline;
    expect(points.length).toBeLessThanOrEqual(300);
    expect(points.reduce((a, p) => a + p.requests, 0)).toBe(3600);
    expect(points[0].width).toBe(16_000);
    expect(points[0].at).toBe(T0);
  });
  it('one bucket per second for short runs, with rps and percentiles', () => {
    const r = run(3);
    for (let i = 0; i < 50; i++) r.addRequest(req({ start: T0 + 1200 + i, duration: 20 }));
    r.addRequest(req({ start: T0 + 2100, result: 'error', code: -1 }));
    const p = r.summary().timeline;
    expect(p.map((x) => x.requests)).toEqual([0, 50, 1]);
    expect(p[1].rps).toBe(50);
    expect(p[2].errors).toBe(1);
    expect(p[1].p95).toBeCloseTo(20, 0);
  });
});

describe('proxy fault timeline', () => {
  it('turns per-exchange faults into per-second counts and keeps mix changes', () => {
    const out: ProxyTimelineEvent[] = [];
    const agg = new FaultAggregator((e) => out.push(e));
    agg.onProxyEvent({ type: 'proxy.mix', proxy: 'db', mix: '100:blackout', at: T0 + 10 });
    for (let i = 0; i < 5; i++) agg.onProxyEvent({ type: 'proxy.fault', proxy: 'db', behavior: 'blackout', at: T0 + 100 + i });
    for (let i = 0; i < 3; i++) agg.onProxyEvent({ type: 'proxy.fault', proxy: 'db', behavior: 'blackout', at: T0 + 1100 + i });
    agg.onProxyEvent({ type: 'proxy.mix', proxy: 'db', mix: '', at: T0 + 1500 });
    agg.flush(T0 + 1999); // the second starting at T0+1000 is not over: kept
    expect(out.length).toBe(3);
    agg.flush();
    expect([...out].sort((a, b) => a.at - b.at)).toEqual([
      { at: T0, proxy: 'db', kind: 'fault', behavior: 'blackout', count: 5 },
      { at: T0 + 10, proxy: 'db', kind: 'mix', mix: '100:blackout' },
      { at: T0 + 1000, proxy: 'db', kind: 'fault', behavior: 'blackout', count: 3 },
      { at: T0 + 1500, proxy: 'db', kind: 'mix', mix: '' },
    ]);
    const r = run(1);
    for (const e of out) r.addProxyEvent(e);
    expect(r.summary().proxyEvents.map((e) => e.at)).toEqual([T0, T0 + 10, T0 + 1000, T0 + 1500]);
  });
});

describe('memory', () => {
  it('stays flat from 10k to 1M requests', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = () => {
      gc();
      return v8.getHeapStatistics().used_heap_size;
    };
    const feed = (n: number) => {
      const before = heap();
      const r = run(60);
      for (let i = 0; i < n; i++) {
        r.addRequest(req({ thread: i % 50, cvus: 50, start: T0 + (i * 60_000) / n, duration: 1 + (i % 997) }));
      }
      const used = heap() - before;
      expect(r.summary().overall.requests.total).toBe(n);
      return used;
    };
    feed(10_000); // warm-up
    const small = feed(10_000);
    const big = feed(1_000_000);
    // 1M kept samples would take hundreds of MB; the aggregates take well under 2 MB.
    expect(big).toBeLessThan(2 * 1024 * 1024);
    expect(big - small).toBeLessThan(512 * 1024);
  });
});
