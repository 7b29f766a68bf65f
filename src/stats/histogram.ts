/**
 * A latency histogram with HdrHistogram's layout (the one hdr-histogram-js and autocannon use):
 * values below 2·10^d are counted exactly, above that each power of two is split into equal
 * sub-buckets, so any percentile is within 10^-d of the true value (d significant digits).
 * Reports use d = 3 (within 0.1 %: FunkLoad's millisecond print rounding up to half a second);
 * the per-second timeline uses d = 2. Values are microseconds, capped at 2^32-1.
 *
 * Written here rather than taken from hdr-histogram-js: recording is an index computation and
 * one array increment, 4-5 times cheaper than that library's JS histogram and 2 times cheaper
 * than its WebAssembly one (bench/histogram.ts), and runners record every request several
 * times. The counts array grows to the largest value seen, so memory follows the value range
 * (~64 KB for d = 3 up to 100 ms), never the number of samples. Same layout and precision:
 * histograms of one precision merge exactly, across cycles and nodes.
 *
 * Shared by the chaos proxy (exchange latency) and the load runners' results model; it lives
 * here so that neither depends on the other.
 */
const MAX_VALUE = 0xffffffff;

export type SignificantDigits = 2 | 3;

/** How far above the exact value a percentile may be (relative), per precision. */
export function percentilePrecision(digits: SignificantDigits): number {
  return 1 / layout(digits).half;
}

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
  digits?: SignificantDigits;
  count: number;
  min: number;
  max: number;
  sum: number;
  buckets: [number, number][];
}

interface Layout {
  /** log2 of the sub-bucket count: 2·10^d rounded up to a power of two. */
  bits: number;
  linear: number;
  half: number;
  /** Counts needed for values up to MAX_VALUE. */
  length: number;
}

const LAYOUTS = new Map<SignificantDigits, Layout>();
function layout(digits: SignificantDigits): Layout {
  let l = LAYOUTS.get(digits);
  if (!l) {
    const bits = Math.ceil(Math.log2(2 * 10 ** digits));
    const linear = 1 << bits;
    const half = linear / 2;
    l = { bits, linear, half, length: linear + (32 - bits) * half };
    LAYOUTS.set(digits, l);
  }
  return l;
}

/** The precision of the report tables' percentiles (see the README). */
export const PERCENTILE_PRECISION = percentilePrecision(3);

export class Histogram {
  private readonly l: Layout;
  // The layout's figures as own fields: record() is the hot path.
  private readonly bits: number;
  private readonly linear: number;
  private readonly half: number;
  private counts: Float64Array;
  count = 0;
  min = Infinity;
  max = 0;
  private sum = 0;

  constructor(readonly digits: SignificantDigits = 3) {
    this.l = layout(digits);
    this.bits = this.l.bits;
    this.linear = this.l.linear;
    this.half = this.l.half;
    this.counts = new Float64Array(this.linear);
  }

  /** `times`: how many samples of this value (runners that only know a distribution). */
  record(value: number, times = 1): void {
    const v = value < 0 ? 0 : value;
    let i: number;
    if (v < this.linear) i = v | 0;
    else {
      // Same index as HdrHistogram's countsArrayIndex (see indexOf).
      const w = v >= MAX_VALUE ? MAX_VALUE : Math.floor(v);
      const shift = 31 - Math.clz32(w) - (this.bits - 1);
      i = this.linear + (shift - 1) * this.half + ((w >>> shift) - this.half);
    }
    if (i >= this.counts.length) this.grow(i);
    this.counts[i] += times;
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  merge(other: Histogram): void {
    if (other.digits !== this.digits) throw new Error(`cannot merge a ${other.digits}-digit histogram into a ${this.digits}-digit one`);
    if (other.counts.length > this.counts.length) this.grow(other.counts.length - 1);
    const c = other.counts;
    for (let i = 0; i < c.length; i++) if (c[i]) this.counts[i] += c[i];
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
    return this.valuesAtRanks([rank])[0];
  }

  /** valueAtRank for several ranks in ascending order, in one pass over the counts. */
  valuesAtRanks(ranks: readonly number[]): number[] {
    const out: number[] = [];
    if (this.count === 0) return ranks.map(() => 0);
    let seen = 0;
    let i = 0;
    for (const rank of ranks) {
      const r = Math.min(this.count, Math.max(1, rank));
      while (i < this.counts.length && seen + this.counts[i] < r) seen += this.counts[i++];
      out.push(i < this.counts.length ? Math.min(this.max, Math.max(this.min, valueOf(this.l, i))) : this.max);
    }
    return out;
  }

  summary(): HistogramSummary {
    const [p50, p90, p95, p99] = [50, 90, 95, 99].map((p) => this.percentile(p));
    return { count: this.count, min: this.count ? this.min : 0, max: this.max, mean: this.mean, p50, p90, p95, p99 };
  }

  toJSON(): HistogramJSON {
    const buckets: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) buckets.push([i, this.counts[i]]);
    return { digits: this.digits, count: this.count, min: this.count ? this.min : 0, max: this.max, sum: this.sum, buckets };
  }

  /**
   * The samples recorded between two copies of one histogram (`before` taken first, or none):
   * a live percentile over the last interval from a histogram that only grows.
   */
  static since(before: HistogramJSON | undefined, after: HistogramJSON): Histogram {
    const h = Histogram.fromJSON(after);
    for (const [i, c] of before?.buckets ?? []) if (i >= 0 && i < h.counts.length) h.counts[i] = Math.max(0, h.counts[i] - c);
    h.count = Math.max(0, after.count - (before?.count ?? 0));
    h.sum = Math.max(0, after.sum - (before?.sum ?? 0));
    // The interval's extremes are unknown: bound by the whole run's.
    h.min = h.count ? 0 : Infinity;
    return h;
  }

  static fromJSON(j: HistogramJSON): Histogram {
    const h = new Histogram(j.digits ?? 3);
    for (const [i, c] of j.buckets) {
      if (!(i >= 0 && i < h.l.length && c > 0)) continue;
      if (i >= h.counts.length) h.grow(i);
      h.counts[i] = c;
    }
    h.count = j.count;
    h.min = j.count ? j.min : Infinity;
    h.max = j.max;
    h.sum = j.sum;
    return h;
  }

  /** Room up to the end of the power of two that holds `index`. */
  private grow(index: number): void {
    const half = this.l.half;
    const next = new Float64Array(Math.min(this.l.length, (Math.floor(index / half) + 1) * half));
    next.set(this.counts);
    this.counts = next;
  }
}

// Values below `linear` are their own bucket; above, each power of two is split into `half`
// equal buckets (relative error < 1/half): record() computes the index inline, valueOf inverts it.
function valueOf(l: Layout, index: number): number {
  if (index < l.linear) return index;
  const shift = Math.floor((index - l.linear) / l.half) + 1;
  const sub = ((index - l.linear) % l.half) + l.half;
  // Upper edge of the bucket, so percentiles never under-report.
  return (sub + 1) * 2 ** shift - 1;
}
