/**
 * A log-linear latency histogram in the spirit of HdrHistogram: memory is fixed whatever the
 * number of samples, and any percentile is within ~1.6 % of the true value (64 linear
 * sub-buckets per power of two). Values are capped at 2^32-1. Values are microseconds.
 *
 * Shared by the chaos proxy (exchange latency) and the load runners' results model; it lives
 * here so that neither depends on the other (src/proxy/histogram.ts re-exports it).
 */
const SUB_BUCKET_BITS = 7;
const LINEAR = 1 << SUB_BUCKET_BITS;
const HALF = LINEAR / 2;
const MAX_VALUE = 0xffffffff;
const BUCKETS = LINEAR + (32 - SUB_BUCKET_BITS) * HALF;

/** A percentile read from the histogram is at most this much above the exact value (relative). */
export const PERCENTILE_PRECISION = 1 / HALF;

export interface HistogramSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

/** Sparse, JSON-friendly form: only non-empty buckets, as [index, count] pairs. */
export interface HistogramJSON {
  count: number;
  min: number;
  max: number;
  sum: number;
  buckets: [number, number][];
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  private sum = 0;

  /** `times`: how many samples of this value (runners that only know a distribution). */
  record(value: number, times = 1): void {
    const v = value < 0 ? 0 : value;
    this.counts[indexOf(v)] += times;
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    return this.valueAtRank(Math.max(1, Math.ceil((p / 100) * this.count)));
  }

  /**
   * The value of the rank-th smallest sample (1-based), as the upper edge of its bucket so that
   * percentiles never under-report. Lets callers choose their own percentile definition (the
   * FunkLoad report uses values[int(p·n)], i.e. rank floor(p·n)+1).
   */
  valueAtRank(rank: number): number {
    if (this.count === 0) return 0;
    const r = Math.min(this.count, Math.max(1, rank));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= r) return Math.min(this.max, Math.max(this.min, valueOf(i)));
    }
    return this.max;
  }

  summary(): HistogramSummary {
    return {
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.max,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
    };
  }

  toJSON(): HistogramJSON {
    const buckets: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) buckets.push([i, this.counts[i]]);
    return { count: this.count, min: this.count ? this.min : 0, max: this.max, sum: this.sum, buckets };
  }

  /**
   * The samples recorded between two copies of one histogram (`before` taken first, or none):
   * a live percentile over the last interval from a histogram that only grows.
   */
  static since(before: HistogramJSON | undefined, after: HistogramJSON): Histogram {
    const h = Histogram.fromJSON(after);
    for (const [i, c] of before?.buckets ?? []) if (i >= 0 && i < BUCKETS) h.counts[i] = Math.max(0, h.counts[i] - c);
    h.count = Math.max(0, after.count - (before?.count ?? 0));
    h.sum = Math.max(0, after.sum - (before?.sum ?? 0));
    // The interval's extremes are unknown: bound by the whole run's.
    h.min = h.count ? 0 : Infinity;
    return h;
  }

  static fromJSON(j: HistogramJSON): Histogram {
    const h = new Histogram();
    for (const [i, c] of j.buckets) if (i >= 0 && i < BUCKETS && c > 0) h.counts[i] = c;
    h.count = j.count;
    h.min = j.count ? j.min : Infinity;
    h.max = j.max;
    h.sum = j.sum;
    return h;
  }
}

// Layout: values below LINEAR are their own bucket; above, each power of two is split into
// HALF equal buckets (relative error < 1/HALF).
function indexOf(value: number): number {
  const v = Math.min(MAX_VALUE, Math.floor(value));
  if (v < LINEAR) return v;
  const shift = 31 - Math.clz32(v) - (SUB_BUCKET_BITS - 1);
  return LINEAR + (shift - 1) * HALF + ((v >>> shift) - HALF);
}

function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / HALF) + 1;
  const sub = ((index - LINEAR) % HALF) + HALF;
  // Upper edge of the bucket, so percentiles never under-report.
  return (sub + 1) * 2 ** shift - 1;
}
