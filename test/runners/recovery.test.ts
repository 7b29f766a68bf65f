/**
 * The recovery verdict on sample series: judged request by request against the baseline's own
 * spread, so a noisy but healthy service reads "recovered" and a service still failing or slow
 * does not; "too soon" when the run ends before a window could be seen. Pure.
 */
import { describe, expect, it } from 'vitest';
import { computeMeasures, recoveryText } from '../../src/runners/measures/index.js';
import { AttributionTracker } from '../../src/runners/measures/attribution.js';
import { DEFAULT_RECOVERY } from '../../src/stats/recovery-options.js';
import { recoveryOf } from '../../src/runners/measures/recovery.js';
import { RequestLog } from '../../src/runners/measures/requests.js';
import { MeasureSeries } from '../../src/runners/measures/series.js';
import type { FaultWindow } from '../../src/runners/measures/windows.js';
import { seededRandom, type Random } from '../../src/proxy/random.js';
import { binomialUpper } from '../../src/stats/binomial.js';

const T0 = 1_700_000_000_000;
const fault: FaultWindow = { name: 'redis_blackout', proxy: 'redis', mix: '100:blackout', source: 'fixture', start: T0 + 10_000, end: T0 + 15_000 };

/** A latency log-normal around `median` ms; sigma 1 is a loaded machine's long tail (p95 5 × the median). */
function noisy(random: Random, median: number, sigma = 1): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * z);
}

interface Phase {
  /** Seconds after T0. */
  from: number;
  to: number;
  /** Share of failed requests. */
  fail: number;
  median: number;
  sigma?: number;
}

/** `rate` requests a second at random times (Poisson), through each phase. */
function series(seed: string, phases: Phase[], rate = 25): MeasureSeries {
  const random = seededRandom(seed);
  const s = new MeasureSeries();
  for (const p of phases) {
    for (let t = p.from * 1000; ; ) {
      t += (-Math.log(1 - random()) * 1000) / rate;
      if (t >= p.to * 1000) break;
      const ok = random() >= p.fail;
      s.addRequest(T0 + t, ok ? noisy(random, p.median, p.sigma) : 1 + random(), ok, ok ? '200' : '503');
    }
  }
  return s;
}

const during: Phase = { from: 10, to: 15, fail: 1, median: 1 };
const SEEDS = Array.from({ length: 40 }, (_, i) => `seed-${i}`);

describe('recovery, request by request', () => {
  it('a noisy but healthy service reads "recovered" at once, whatever the draw', () => {
    for (const seed of SEEDS) {
      const s = series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, during, { from: 15, to: 30, fail: 0, median: 5 }]);
      const r = recoveryOf(s, fault, { end: T0 + 30_000 });
      expect(r.status, seed).toBe('recovered');
      // The first requests after the fault are healthy: back within the first half second.
      expect(r.ms!, seed).toBeLessThan(500);
      // The margin follows the baseline's own spread (p95 − median), far above a fixed 10 ms.
      expect(r.target!.p95 - r.baseline!.p95, seed).toBeGreaterThanOrEqual(r.baseline!.p95 - r.baseline!.p50!);
    }
  });

  it('the old rule (window p95 within baseline p95 + 10 ms) called some of these same draws not recovered', () => {
    // Why the rule changed: on this noise a fixed slack misreads healthy spans.
    const misread = SEEDS.filter((seed) => {
      const s = series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, during, { from: 15, to: 30, fail: 0, median: 5 }]);
      const base = s.range(T0, T0 + 10_000).p95!;
      return s.range(T0 + 15_000, T0 + 17_000).p95! > base + 10;
    });
    expect(misread.length).toBeGreaterThan(0);
  });

  it('a steady, fast service is judged just as finely: back 330 ms after the fault', () => {
    const s = new MeasureSeries();
    for (let t = 0; t < 30_000; t += 10) {
      const failing = t >= 10_000 && t < 15_330;
      s.addRequest(T0 + t, failing ? 1 : 2 + (t % 30) / 10, !failing, failing ? '503' : '200');
    }
    expect(recoveryOf(s, fault, { end: T0 + 30_000 })).toMatchObject({ status: 'recovered', ms: 330 });
  });

  it('a service still failing one request in five, or still much slower, is not recovered', () => {
    for (const seed of SEEDS.slice(0, 20)) {
      const failing = series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, during, { from: 15, to: 30, fail: 0.2, median: 5 }]);
      expect(recoveryOf(failing, fault, { end: T0 + 30_000 }), seed).toMatchObject({ status: 'not recovered', note: 'by the end of the run' });
      // A steady service four times slower (its cache still cold, say).
      const steady = { fail: 0, median: 5, sigma: 0.2 };
      const slow = series(seed, [{ from: 0, to: 10, ...steady }, during, { from: 15, to: 30, ...steady, median: 20 }]);
      expect(recoveryOf(slow, fault, { end: T0 + 30_000 }).status, seed).toBe('not recovered');
      // A noisy one must be further off to be told from its own noise: ten times slower.
      const noisySlow = series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, during, { from: 15, to: 30, fail: 0, median: 50 }]);
      expect(recoveryOf(noisySlow, fault, { end: T0 + 30_000 }).status, seed).toBe('not recovered');
    }
  });

  it('a baseline that already fails some requests is the bar: the same failure rate after is recovered', () => {
    for (const seed of SEEDS.slice(0, 20)) {
      const s = series(seed, [{ from: 0, to: 10, fail: 0.1, median: 5 }, during, { from: 15, to: 30, fail: 0.1, median: 5 }]);
      const r = recoveryOf(s, fault, { end: T0 + 30_000 });
      expect(r.status, seed).toBe('recovered');
      expect(r.baseline!.successRate, seed).toBeLessThan(0.97);
    }
  });

  it('compares with the steady state of the load when asked (a sweep), not the span before', () => {
    // The span before this fault is a previous fault's slow tail; the steady state is healthy.
    const phases = [
      { from: 0, to: 5, fail: 0, median: 5 },
      { from: 5, to: 10, fail: 0, median: 50 },
      during,
      { from: 15, to: 30, fail: 0, median: 50 },
    ];
    const s = series('steady', phases);
    expect(recoveryOf(s, fault, { end: T0 + 30_000 }).status).toBe('recovered');
    expect(recoveryOf(s, fault, { end: T0 + 30_000 }, { ...DEFAULT_RECOVERY, steadyStateMs: 5000 }).status).toBe('not recovered');
  });
});

describe('too soon to judge', () => {
  const healthy = (seed: string, end: number) => series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, during, { from: 15, to: end, fail: 0, median: 5 }]);

  it('when the run ends less than a window after the fault, even for a service back at once', () => {
    const r = recoveryOf(healthy('a', 16), fault, { end: T0 + 16_000 });
    expect(r).toMatchObject({ status: 'too soon', note: 'the run ended 1s after the fault, less than the 2s recovery window' });
    expect(recoveryText(r)).toBe('too soon to judge: the run ended 1s after the fault, less than the 2s recovery window');
    // A window that fits: judged.
    expect(recoveryOf(healthy('a', 17.5), fault, { end: T0 + 17_500 }, { ...DEFAULT_RECOVERY, windowMs: 1000 }).status).toBe('recovered');
  });

  it('when the next fault starts less than a window after this one ends', () => {
    const s = healthy('b', 30);
    expect(recoveryOf(s, fault, { end: T0 + 30_000, next: { name: 'db_down', start: T0 + 15_500 } })).toMatchObject({
      status: 'too soon',
      note: 'db_down started 0.50s after the fault, less than the 2s recovery window',
    });
  });

  it('when the service came back only in the last, shorter span', () => {
    // Failing 3.8 s after the fault, then healthy: the run ends 5 s after the fault, 1.2 s later.
    const s = series('c', [{ from: 0, to: 10, fail: 0, median: 5 }, { from: 10, to: 18.8, fail: 1, median: 1 }, { from: 18.8, to: 20, fail: 0, median: 5 }]);
    const r = recoveryOf(s, fault, { end: T0 + 20_000 });
    expect(r.status).toBe('too soon');
    expect(r.note).toMatch(/^back like the baseline 3\.8\ds after the fault, but the run ended before the 2s recovery window confirmed it$/);
    // A service still failing all along is not "too soon": it had the time and did not recover.
    const stuck = series('c', [{ from: 0, to: 10, fail: 0, median: 5 }, { from: 10, to: 20, fail: 1, median: 1 }]);
    expect(recoveryOf(stuck, fault, { end: T0 + 20_000 }).status).toBe('not recovered');
    // Nor is one failing half its requests in that last span.
    for (const seed of SEEDS.slice(0, 20)) {
      const half = series(seed, [{ from: 0, to: 10, fail: 0, median: 5 }, { from: 10, to: 18.8, fail: 1, median: 1 }, { from: 18.8, to: 20, fail: 0.5, median: 5 }]);
      expect(recoveryOf(half, fault, { end: T0 + 20_000 }).status, seed).toBe('not recovered');
    }
  });

  it('computeMeasures passes the next window and the run end through', () => {
    const s = healthy('d', 30);
    const second: FaultWindow = { ...fault, name: 'db_down', proxy: 'db', start: T0 + 16_000, end: T0 + 18_000 };
    const m = computeMeasures(s, [second, fault], new AttributionTracker(1500).result(), DEFAULT_RECOVERY, T0 + 19_000);
    expect(m.windows.map((w) => [w.name, w.recovery.status])).toEqual([
      ['redis_blackout', 'too soon'],
      ['db_down', 'too soon'],
    ]);
  });
});

describe('the request log', () => {
  it('answers a time range in start order, whatever order requests were added in', () => {
    const log = new RequestLog();
    for (const t of [5, 1, 3, 2, 4]) log.add(T0 + t, t, t !== 3, t !== 3 ? '200' : '503');
    const r = log.between(T0 + 2, T0 + 5);
    expect([...r.start].map((t) => t - T0)).toEqual([2, 3, 4]);
    expect([...r.ms].map((ms) => ms < 0)).toEqual([false, true, false]);
    expect([...r.outcome].map((i) => r.outcomes[i])).toEqual(['200', '503', '200']);
  });

  it('stays bounded on a long run: past its size it keeps a uniform half', () => {
    const log = new RequestLog();
    const random = seededRandom('log');
    const n = 1_200_000;
    for (let i = 0; i < n; i++) {
      const ok = random() >= 0.1;
      log.add(T0 + i, 1, ok, ok ? '200' : '503');
    }
    expect(log.size).toBeLessThanOrEqual(1 << 19);
    expect(log.size).toBeGreaterThanOrEqual(n / 4);
    const r = log.between(-Infinity, Infinity);
    let failures = 0;
    for (let i = 0; i < r.length; i++) if (r.ms[i] < 0) failures++;
    // Every other request kept, then one in four: the failure share is still one in ten.
    expect(failures / r.length).toBeCloseTo(0.1, 2);
    let served503 = 0;
    for (let i = 0; i < r.length; i++) if (r.outcomes[r.outcome[i]] === '503') served503++;
    expect(served503).toBe(failures);
    // Each request kept stands for `weight`: the count of the whole run, within one weight.
    expect(Math.abs(r.length * log.weight - n)).toBeLessThanOrEqual(log.weight);
  });
});

describe('the binomial bound', () => {
  it('matches exact tails, and the normal approximation where it is used', () => {
    // Binomial(20, 0.05): P(X > 3) = 0.0159 <= 5 %, P(X > 2) = 0.0755 > 5 %.
    expect(binomialUpper(20, 0.05, 0.05)).toBe(3);
    // Binomial(20, 0.01): P(X > 1) = 0.0169 <= 5 %, P(X > 0) = 0.182.
    expect(binomialUpper(20, 0.01, 0.05)).toBe(1);
    expect(binomialUpper(20, 0, 0.05)).toBe(0);
    expect(binomialUpper(20, 1, 0.05)).toBe(20);
    // Large n: mean 500, sd 21.8; 500 + 1.645 × 21.8 = 535.9.
    expect(binomialUpper(10_000, 0.05, 0.05)).toBe(536);
  });
});
