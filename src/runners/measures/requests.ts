/**
 * Every request's start, duration and outcome, in the order of their start: what recovery and a
 * fault window's effect are judged on, request by request (a 250 ms bucket is too coarse for an
 * app back in 30 ms, or for a database that restarts in 0.2 s).
 *
 * Memory is bounded: 14 bytes a request, at most MAX_REQUESTS (7 MB). Past that, every other
 * request is dropped and from then on only one in two is kept (then one in four, ...): a uniform
 * sample, so shares and percentiles stay true, only sparser; each request kept then stands for
 * `weight` requests.
 */

const MAX_REQUESTS = 1 << 19;
const FIRST_CAPACITY = 1024;
/** Distinct outcome keys kept (HTTP statuses, "timeout", ...); any further one reads as OTHER. */
const MAX_OUTCOMES = 1024;
const OTHER = 'other';

/** Requests started in a time range, sorted by start. `ms` is negative for a failed request. */
export interface RequestSlice {
  /** Epoch ms. */
  start: Float64Array;
  /** Duration in ms, negative when the request failed (see `failed` and `duration`). */
  ms: Float32Array;
  /** Each request's outcome key, as an index into `outcomes`. */
  outcome: Uint16Array;
  /** The outcome keys by index. */
  outcomes: readonly string[];
  length: number;
}

export const failed = (ms: number): boolean => ms < 0;
export const duration = (ms: number): number => (ms < 0 ? -ms : ms);

/** Nearest-rank percentile of sorted values (FunkLoad's rank floor(p·n)+1). */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class RequestLog {
  private start = new Float64Array(FIRST_CAPACITY);
  private ms = new Float32Array(FIRST_CAPACITY);
  private outcome = new Uint16Array(FIRST_CAPACITY);
  private readonly keys: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  private n = 0;
  private stride = 1;
  private seen = 0;
  private sorted = true;

  /** `outcome`: what the request came back as (an HTTP status, "timeout", "connection"). */
  add(start: number, durationMs: number, ok: boolean, outcome: string): void {
    if (!Number.isFinite(start)) return;
    if (this.seen++ % this.stride !== 0) return;
    if (this.n === this.start.length) this.grow();
    if (this.n > 0 && start < this.start[this.n - 1]) this.sorted = false;
    this.start[this.n] = start;
    // A failure of 0 ms must still read as failed: the sign needs a non-zero value.
    const d = Math.max(0, durationMs);
    this.ms[this.n] = ok ? d : -(d + 1e-6);
    this.outcome[this.n] = this.keyOf(outcome);
    this.n++;
  }

  /** How many requests are kept (after thinning). */
  get size(): number {
    return this.n;
  }

  /** How many requests each one kept stands for: 1 until the log was thinned. */
  get weight(): number {
    return this.stride;
  }

  /** The requests started in [from, to), sorted by start (views, not copies). */
  between(from: number, to: number): RequestSlice {
    this.sort();
    const a = lowerBound(this.start, this.n, from);
    const b = Math.max(a, lowerBound(this.start, this.n, to));
    return { start: this.start.subarray(a, b), ms: this.ms.subarray(a, b), outcome: this.outcome.subarray(a, b), outcomes: this.keys, length: b - a };
  }

  private keyOf(key: string): number {
    let i = this.keyIndex.get(key);
    if (i === undefined) {
      if (this.keys.length >= MAX_OUTCOMES - 1 && key !== OTHER) return this.keyOf(OTHER);
      i = this.keys.length;
      this.keys.push(key);
      this.keyIndex.set(key, i);
    }
    return i;
  }

  private grow(): void {
    if (this.n < MAX_REQUESTS) {
      const size = Math.min(MAX_REQUESTS, this.start.length * 2);
      const start = new Float64Array(size);
      const ms = new Float32Array(size);
      const outcome = new Uint16Array(size);
      start.set(this.start);
      ms.set(this.ms);
      outcome.set(this.outcome);
      this.start = start;
      this.ms = ms;
      this.outcome = outcome;
      return;
    }
    // Full: keep every other one, and from now on record half as many.
    this.sort();
    const half = Math.ceil(this.n / 2);
    for (let i = 0; i < half; i++) {
      this.start[i] = this.start[2 * i];
      this.ms[i] = this.ms[2 * i];
      this.outcome[i] = this.outcome[2 * i];
    }
    this.n = half;
    this.stride *= 2;
  }

  private sort(): void {
    if (this.sorted) return;
    const order = Array.from({ length: this.n }, (_, i) => i).sort((x, y) => this.start[x] - this.start[y]);
    const start = Float64Array.from(order, (i) => this.start[i]);
    const ms = Float32Array.from(order, (i) => this.ms[i]);
    const outcome = Uint16Array.from(order, (i) => this.outcome[i]);
    this.start.set(start);
    this.ms.set(ms);
    this.outcome.set(outcome);
    this.sorted = true;
  }
}

/** First index in sorted values[0, n) whose value is >= x. */
function lowerBound(values: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
