/**
 * Every request's start, duration and outcome, in the order of their start: what recovery is
 * judged on, request by request (a 250 ms bucket is too coarse for an app back in 30 ms).
 *
 * Memory is bounded: 12 bytes a request, at most MAX_REQUESTS (6 MB). Past that, every other
 * request is dropped and from then on only one in two is kept (then one in four, ...): a uniform
 * sample, so shares and percentiles stay true, only sparser.
 */

const MAX_REQUESTS = 1 << 19;
const FIRST_CAPACITY = 1024;

/** Requests started in a time range, sorted by start. `ms` is negative for a failed request. */
export interface RequestSlice {
  /** Epoch ms. */
  start: Float64Array;
  /** Duration in ms, negative when the request failed (see `failed` and `duration`). */
  ms: Float32Array;
  length: number;
}

export const failed = (ms: number): boolean => ms < 0;
export const duration = (ms: number): number => (ms < 0 ? -ms : ms);

export class RequestLog {
  private start = new Float64Array(FIRST_CAPACITY);
  private ms = new Float32Array(FIRST_CAPACITY);
  private n = 0;
  private stride = 1;
  private seen = 0;
  private sorted = true;

  add(start: number, durationMs: number, ok: boolean): void {
    if (!Number.isFinite(start)) return;
    if (this.seen++ % this.stride !== 0) return;
    if (this.n === this.start.length) this.grow();
    if (this.n > 0 && start < this.start[this.n - 1]) this.sorted = false;
    this.start[this.n] = start;
    // A failure of 0 ms must still read as failed: the sign needs a non-zero value.
    const d = Math.max(0, durationMs);
    this.ms[this.n] = ok ? d : -(d + 1e-6);
    this.n++;
  }

  /** How many requests are kept (after thinning). */
  get size(): number {
    return this.n;
  }

  /** The requests started in [from, to), sorted by start (views, not copies). */
  between(from: number, to: number): RequestSlice {
    this.sort();
    const a = lowerBound(this.start, this.n, from);
    const b = Math.max(a, lowerBound(this.start, this.n, to));
    return { start: this.start.subarray(a, b), ms: this.ms.subarray(a, b), length: b - a };
  }

  private grow(): void {
    if (this.n < MAX_REQUESTS) {
      const size = Math.min(MAX_REQUESTS, this.start.length * 2);
      const start = new Float64Array(size);
      const ms = new Float32Array(size);
      start.set(this.start);
      ms.set(this.ms);
      this.start = start;
      this.ms = ms;
      return;
    }
    // Full: keep every other one, and from now on record half as many.
    this.sort();
    const half = Math.ceil(this.n / 2);
    for (let i = 0; i < half; i++) {
      this.start[i] = this.start[2 * i];
      this.ms[i] = this.ms[2 * i];
    }
    this.n = half;
    this.stride *= 2;
  }

  private sort(): void {
    if (this.sorted) return;
    const order = Array.from({ length: this.n }, (_, i) => i).sort((x, y) => this.start[x] - this.start[y]);
    const start = Float64Array.from(order, (i) => this.start[i]);
    const ms = Float32Array.from(order, (i) => this.ms[i]);
    this.start.set(start);
    this.ms.set(ms);
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
