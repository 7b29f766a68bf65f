/**
 * Throughput and latency against time, at most MAX_TIMELINE_BUCKETS buckets. When a run outgrows
 * them, the bucket width doubles and neighbours merge, so memory stays fixed.
 */
import { mergePairs } from '../stats/buckets.js';
import { Histogram } from '../stats/histogram.js';
import { latencyStats, toUs } from './formulas.js';
import type { TimelinePoint } from './summary.js';

const MAX_TIMELINE_BUCKETS = 300;

/** Chart points need less than the tables' precision; 300 buckets of it would cost ~20 MB. */
const TIMELINE_DIGITS = 2;

interface Bucket {
  requests: number;
  errors: number;
  cvus: number;
  hist?: Histogram;
}

export class Timeline {
  private buckets: Bucket[] = [];
  private width = 1000;
  origin?: number;

  add(at: number, durationMs: number, ok: boolean, cvus: number): void {
    const b = this.bucket(at);
    if (!b) return;
    b.requests++;
    if (!ok) b.errors++;
    if (cvus > b.cvus) b.cvus = cvus;
    (b.hist ??= new Histogram(TIMELINE_DIGITS)).record(toUs(durationMs));
  }

  /** Many requests of one moment at once: `durations` are [ms, count] pairs. */
  addMany(at: number, cvus: number, errors: number, durations: readonly (readonly [number, number])[]): void {
    const b = this.bucket(at);
    if (!b) return;
    for (const [ms, c] of durations) {
      b.requests += c;
      (b.hist ??= new Histogram(TIMELINE_DIGITS)).record(toUs(ms), c);
    }
    b.errors += errors;
    if (cvus > b.cvus) b.cvus = cvus;
  }

  /** Start the axis at `at`'s whole second, unless samples already placed it. */
  anchor(at: number): void {
    if (this.buckets.length === 0) this.origin = Math.floor(at / 1000) * 1000;
  }

  private bucket(at: number): Bucket | undefined {
    if (this.origin === undefined) this.origin = Math.floor(at / 1000) * 1000;
    let i = Math.max(0, Math.floor((at - this.origin) / this.width));
    // Bounded: each coarsening halves the index; 2^40 ms covers any run.
    for (let guard = 0; i >= MAX_TIMELINE_BUCKETS && guard < 40; guard++) {
      this.coarsen();
      i = Math.max(0, Math.floor((at - this.origin) / this.width));
    }
    if (i >= MAX_TIMELINE_BUCKETS) return undefined;
    while (this.buckets.length <= i) this.buckets.push({ requests: 0, errors: 0, cvus: 0 });
    return this.buckets[i];
  }

  private coarsen(): void {
    this.buckets = mergePairs(this.buckets, (a, b) => {
      a.requests += b.requests;
      a.errors += b.errors;
      a.cvus = Math.max(a.cvus, b.cvus);
      if (b.hist) a.hist ? a.hist.merge(b.hist) : (a.hist = b.hist);
    });
    this.width *= 2;
  }

  points(): TimelinePoint[] {
    const origin = this.origin ?? 0;
    return this.buckets.map((b, i) => {
      const h = b.hist;
      const l = h ? latencyStats(h) : undefined;
      return {
        at: origin + i * this.width,
        width: this.width,
        cvus: b.cvus,
        requests: b.requests,
        errors: b.errors,
        rps: b.requests / (this.width / 1000),
        avg: l?.avg ?? 0,
        p50: l?.p50 ?? 0,
        p95: l?.p95 ?? 0,
        p99: l?.p99 ?? 0,
        max: l?.max ?? 0,
      };
    });
  }
}
