/**
 * FunkLoad's report formulas (research note §2.5), pure and shared by the cycle aggregates and the
 * timeline: nearest-rank percentiles (`values[int(p·n)]`), Apdex zones (d < T satisfied, d < 4T
 * tolerating) and its ratings, the per-second peaks behind maxRPS / maxSPPS, and its best cycle
 * and slowest requests.
 */
import type { Histogram } from '../stats/histogram.js';
import type { ApdexRating, ApdexStats, CycleSummary, LatencyStats, StepSummary } from './summary.js';

/** Seconds tracked for per-second peaks, so a hostile or huge input cannot grow memory. */
const MAX_SECONDS_TRACKED = 100_000;

/** FunkLoad's nearest-rank percentile: values[int(p/100·n)] over sorted values (0-based). */
export function funkloadRank(p: number, n: number): number {
  return Math.min(n, Math.floor((p / 100) * n) + 1);
}

const REPORTED_PERCENTILES = [10, 50, 90, 95, 99];

export function latencyStats(h: Histogram): LatencyStats {
  const n = h.count;
  const [p10, p50, p90, p95, p99] = n ? h.valuesAtRanks(REPORTED_PERCENTILES.map((p) => funkloadRank(p, n))).map((us) => us / 1000) : [0, 0, 0, 0, 0];
  return { count: n, min: n ? h.min / 1000 : 0, avg: h.mean / 1000, max: h.max / 1000, p10, p50, p90, p95, p99 };
}

export function apdexRating(score: number): ApdexRating {
  if (score < 0.5) return 'UNACCEPTABLE';
  if (score < 0.7) return 'POOR';
  if (score < 0.85) return 'FAIR';
  if (score < 0.94) return 'Good';
  return 'Excellent';
}

/** Apdex from zone counts: (satisfied + tolerating/2) / total, 0 with no samples (as FunkLoad). */
export function apdexFrom(t: number, satisfied: number, tolerating: number, frustrated: number): ApdexStats {
  const total = satisfied + tolerating + frustrated;
  const score = total ? (satisfied + tolerating / 2) / total : 0;
  return { t, satisfied, tolerating, frustrated, score, rating: apdexRating(score) };
}

/** Counts samples per Apdex zone; T in seconds, durations in ms. */
export class ApdexCounter {
  satisfied = 0;
  tolerating = 0;
  frustrated = 0;
  private readonly tMs: number;
  constructor(readonly t: number) {
    this.tMs = t * 1000;
  }
  add(durationMs: number, times = 1): void {
    if (durationMs < this.tMs) this.satisfied += times;
    else if (durationMs < 4 * this.tMs) this.tolerating += times;
    else this.frustrated += times;
  }
  /** Count `n` already-added samples as failed: frustrated, taken from the best zones first. */
  frustrate(n: number): void {
    const fromSatisfied = Math.min(n, this.satisfied);
    const fromTolerating = Math.min(n - fromSatisfied, this.tolerating);
    this.satisfied -= fromSatisfied;
    this.tolerating -= fromTolerating;
    this.frustrated += fromSatisfied + fromTolerating;
  }
  merge(o: ApdexCounter): void {
    this.satisfied += o.satisfied;
    this.tolerating += o.tolerating;
    this.frustrated += o.frustrated;
  }
  stats(): ApdexStats {
    return apdexFrom(this.t, this.satisfied, this.tolerating, this.frustrated);
  }
}

/** Counts per whole second, for FunkLoad's maxRPS / maxSPPS (bounded number of seconds). */
export class PerSecond {
  private counts = new Map<number, number>();
  add(atMs: number, times = 1): void {
    const s = Math.floor(atMs / 1000);
    const c = this.counts.get(s);
    if (c !== undefined) this.counts.set(s, c + times);
    else if (this.counts.size < MAX_SECONDS_TRACKED) this.counts.set(s, times);
  }
  max(): number {
    let m = 0;
    for (const c of this.counts.values()) if (c > m) m = c;
    return m;
  }
  mergeInto(o: PerSecond): void {
    for (const [s, c] of this.counts) {
      const prev = o.counts.get(s);
      if (prev !== undefined) o.counts.set(s, prev + c);
      else if (o.counts.size < MAX_SECONDS_TRACKED) o.counts.set(s, c);
    }
  }
}

export const toUs = (ms: number) => Math.round(ms * 1000);
export const pct = (bad: number, total: number) => (total ? (100 * bad) / total : 0);

/** FunkLoad's cut-off of its best cycle: a page Apdex rated Good or better. */
const BEST_CYCLE_APDEX = 0.85;

/**
 * fl-build-report's best cycle (ReportRenderRst.getBestCycle): the largest SPPS × page Apdex
 * (FunkLoad's) among the cycles with requests and a page Apdex of 0.85 or more, the first on a
 * tie; else the first cycle that recorded anything.
 */
export function bestCycle(cycles: readonly CycleSummary[]): CycleSummary | undefined {
  let best: CycleSummary | undefined;
  let value = -1;
  for (const c of cycles) {
    if (c.requests.total === 0 || c.pages.apdex.score < BEST_CYCLE_APDEX) continue;
    const v = c.pages.spps * c.pages.apdex.score;
    if (v > value) [best, value] = [c, v];
  }
  return best ?? cycles.find((c) => c.requests.total + c.tests.total > 0);
}

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * fl-build-report's "Slowest requests": the `n` requests (page and response number) of a cycle
 * with the highest average time, in its order: it sorts (avg, page, type, url, description,
 * Apdex) tuples, largest first.
 */
export function slowestSteps(c: CycleSummary, n = 5): StepSummary[] {
  return [...c.steps]
    .sort((a, b) => cmp(b.latency.avg, a.latency.avg) || cmp(b.step, a.step) || cmp(b.type, a.type) || cmp(b.url, a.url) || cmp(b.description, a.description) || cmp(b.apdex.score, a.apdex.score))
    .slice(0, n);
}
