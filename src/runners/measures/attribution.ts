/**
 * Attribution: which proxy faults happened while each request was in flight, folded at once
 * into counts per (proxy, behavior), so a report can say "38 of 40 failed or slow requests
 * overlapped a blackout on redis". Memory is bounded: only the faults of the last `horizonMs`
 * are kept (a request cannot have started earlier than its timeout), at most MAX_PER_KIND per
 * kind (older ones are dropped and the result says it is partial), and never per-request lists.
 */

const MAX_PER_KIND = 200_000;

export interface AttributionRow {
  proxy: string;
  behavior: string;
  /** Faults of this kind injected while requests were recorded. */
  faults: number;
  /** Recorded requests in flight during at least one such fault. */
  overlapped: number;
  failed: number;
  /** Successful but slow (not satisfied by Apdex T). */
  slow: number;
}

export interface Attribution {
  requests: number;
  failed: number;
  slow: number;
  /** Slow-or-failed requests that overlapped no fault at all. */
  unexplained: number;
  slowMs: number;
  rows: AttributionRow[];
  /** Some faults were dropped to bound memory: counts are lower bounds. */
  partial: boolean;
}

interface Kind {
  proxy: string;
  behavior: string;
  times: number[];
  head: number;
  row: AttributionRow;
}

export class AttributionTracker {
  private kinds = new Map<string, Kind>();
  private requests = 0;
  private failed = 0;
  private slow = 0;
  private unexplained = 0;
  private partial = false;

  constructor(readonly slowMs: number, private readonly horizonMs = 300_000) {}

  fault(proxy: string, behavior: string, at: number): void {
    const key = `${proxy}\u0000${behavior}`;
    let k = this.kinds.get(key);
    if (!k) {
      k = { proxy, behavior, times: [], head: 0, row: { proxy, behavior, faults: 0, overlapped: 0, failed: 0, slow: 0 } };
      this.kinds.set(key, k);
    }
    k.row.faults++;
    // Events of one proxy come in time order; a late one is placed where it belongs.
    let i = k.times.length;
    while (i > k.head && k.times[i - 1] > at) i--;
    k.times.splice(i, 0, at);
    if (k.times.length - k.head > MAX_PER_KIND) {
      k.head++;
      this.partial = true;
    }
  }

  /** A finished request, [start, start + durationMs] in epoch ms. */
  request(start: number, durationMs: number, ok: boolean): void {
    const end = start + durationMs;
    const slow = ok && durationMs >= this.slowMs;
    this.requests++;
    if (!ok) this.failed++;
    if (slow) this.slow++;
    let any = false;
    for (const k of this.kinds.values()) {
      this.prune(k, end - this.horizonMs);
      // Fault times are whole ms (Date.now()): widen the request to whole ms too.
      if (countBetween(k.times, k.head, Math.floor(start), Math.ceil(end)) === 0) continue;
      any = true;
      k.row.overlapped++;
      if (!ok) k.row.failed++;
      if (slow) k.row.slow++;
    }
    if (!any && (slow || !ok)) this.unexplained++;
  }

  result(): Attribution {
    const rows = [...this.kinds.values()].map((k) => ({ ...k.row })).sort((a, b) => b.failed + b.slow - (a.failed + a.slow) || b.overlapped - a.overlapped);
    return { requests: this.requests, failed: this.failed, slow: this.slow, unexplained: this.unexplained, slowMs: this.slowMs, rows, partial: this.partial };
  }

  private prune(k: Kind, before: number): void {
    while (k.head < k.times.length && k.times[k.head] < before) k.head++;
    // Compact now and then, so the dropped prefix does not keep its memory.
    if (k.head > 4096 && k.head * 2 > k.times.length) {
      k.times = k.times.slice(k.head);
      k.head = 0;
    }
  }
}

/** How many sorted values in times[head..] fall in [from, to]. */
export function countBetween(times: readonly number[], head: number, from: number, to: number): number {
  return lowerBound(times, head, to + 1) - lowerBound(times, head, from);
}

function lowerBound(a: readonly number[], lo: number, v: number): number {
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "38 of 40 failed or slow requests overlapped a blackout on redis". */
export function attributionLine(a: Attribution, r: AttributionRow): string {
  const bad = a.failed + a.slow;
  const hit = r.failed + r.slow;
  return `${hit} of ${bad} failed or slow requests overlapped a ${r.behavior} on ${r.proxy} (${r.failed} failed, ${r.slow} slow; ${r.overlapped} requests overlapped one in all)`;
}
