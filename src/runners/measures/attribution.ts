/**
 * Attribution: which proxied exchanges and faults happened while each request was in flight,
 * folded at once into counts per proxy and per (proxy, behavior), so a report can say "38 of 40
 * failed or slow requests overlapped a blackout on redis" and how many went through redis at
 * all. Memory is bounded: only the events of the last `horizonMs` are kept (a request cannot
 * have started earlier than its timeout), at most MAX_PER_LIST per list (older ones are dropped
 * and the result says it is partial), and never per-request lists.
 */

const MAX_PER_LIST = 200_000;

/** Requests that had at least one event of a kind in flight, and how they ended. */
export interface Overlap {
  /** Recorded requests in flight during at least one such event. */
  overlapped: number;
  failed: number;
  /** Successful but slow (not satisfied by Apdex T). */
  slow: number;
}

export interface AttributionRow extends Overlap {
  proxy: string;
  behavior: string;
  /** Faults of this kind injected while requests were recorded. */
  faults: number;
}

/** Per proxy: requests during which at least one exchange through it completed. */
export interface ProxyOverlap extends Overlap {
  proxy: string;
  exchanges: number;
}

export interface Attribution {
  requests: number;
  failed: number;
  slow: number;
  /** Slow-or-failed requests that overlapped no fault at all. */
  unexplained: number;
  slowMs: number;
  rows: AttributionRow[];
  proxies: ProxyOverlap[];
  /** Some events were dropped to bound memory: counts are lower bounds. */
  partial: boolean;
}

/** Event times of one kind, sorted, with the expired prefix skipped. */
class TimeList {
  private times: number[] = [];
  private head = 0;
  total = 0;

  /** Returns false when the oldest time had to be dropped to stay bounded. */
  add(at: number): boolean {
    this.total++;
    // Events come in time order; a late one is placed where it belongs.
    let i = this.times.length;
    while (i > this.head && this.times[i - 1] > at) i--;
    this.times.splice(i, 0, at);
    if (this.times.length - this.head <= MAX_PER_LIST) return true;
    this.head++;
    return false;
  }

  prune(before: number): void {
    while (this.head < this.times.length && this.times[this.head] < before) this.head++;
    // Compact now and then, so the dropped prefix does not keep its memory.
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  /** Whether a time falls in [from, to]. */
  any(from: number, to: number): boolean {
    return countBetween(this.times, this.head, from, to) > 0;
  }
}

interface Tracked<R extends Overlap> {
  list: TimeList;
  row: R;
}

export class AttributionTracker {
  private faults = new Map<string, Tracked<AttributionRow>>();
  private exchanges = new Map<string, Tracked<ProxyOverlap>>();
  private requests = 0;
  private failed = 0;
  private slow = 0;
  private unexplained = 0;
  private partial = false;

  constructor(readonly slowMs: number, private readonly horizonMs = 300_000) {}

  fault(proxy: string, behavior: string, at: number): void {
    const key = `${proxy}\u0000${behavior}`;
    let t = this.faults.get(key);
    if (!t) this.faults.set(key, (t = { list: new TimeList(), row: { proxy, behavior, faults: 0, overlapped: 0, failed: 0, slow: 0 } }));
    t.row.faults++;
    if (!t.list.add(at)) this.partial = true;
  }

  /** An exchange through `proxy` completed at `at`. */
  exchange(proxy: string, at: number): void {
    let t = this.exchanges.get(proxy);
    if (!t) this.exchanges.set(proxy, (t = { list: new TimeList(), row: { proxy, exchanges: 0, overlapped: 0, failed: 0, slow: 0 } }));
    t.row.exchanges++;
    if (!t.list.add(at)) this.partial = true;
  }

  /**
   * A finished request, [start, start + durationMs] in epoch ms; `startSpanMs` when its start is
   * only known to within that many ms after `start` (a tool's counts by start bucket).
   */
  request(start: number, durationMs: number, ok: boolean, startSpanMs = 0): void {
    const slow = ok && durationMs >= this.slowMs;
    this.requests++;
    if (!ok) this.failed++;
    if (slow) this.slow++;
    const from = start;
    const to = start + startSpanMs + durationMs;
    const hit = (t: Tracked<Overlap>): boolean => {
      t.list.prune(to - this.horizonMs);
      if (!t.list.any(from, to)) return false;
      t.row.overlapped++;
      if (!ok) t.row.failed++;
      if (slow) t.row.slow++;
      return true;
    };
    let faulted = false;
    for (const t of this.faults.values()) faulted = hit(t) || faulted;
    for (const t of this.exchanges.values()) hit(t);
    if (!faulted && (slow || !ok)) this.unexplained++;
  }

  result(): Attribution {
    const rows = [...this.faults.values()].map((t) => ({ ...t.row })).sort((a, b) => b.failed + b.slow - (a.failed + a.slow) || b.overlapped - a.overlapped);
    const proxies = [...this.exchanges.values()].map((t) => ({ ...t.row })).sort((a, b) => a.proxy.localeCompare(b.proxy));
    return { requests: this.requests, failed: this.failed, slow: this.slow, unexplained: this.unexplained, slowMs: this.slowMs, rows, proxies, partial: this.partial };
  }
}

/** How many sorted values in times[head..] fall in [from, to]. */
export function countBetween(times: readonly number[], head: number, from: number, to: number): number {
  return firstIndex(times, head, (t) => t > to) - firstIndex(times, head, (t) => t >= from);
}

/** The first index from `lo` where the (monotonic) predicate holds, or the length. */
function firstIndex(a: readonly number[], lo: number, holds: (t: number) => boolean): number {
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (holds(a[mid])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** "38 of 40 failed or slow requests overlapped a blackout on redis". */
export function attributionLine(a: Attribution, r: AttributionRow): string {
  const bad = a.failed + a.slow;
  const hit = r.failed + r.slow;
  // 'an error', 'an abort': the behaviors are nouns a sentence reads.
  const article = /^[aeiou]/i.test(r.behavior) ? 'an' : 'a';
  return `${hit} of ${bad} failed or slow requests overlapped ${article} ${r.behavior} on ${r.proxy} (${r.failed} failed, ${r.slow} slow; ${r.overlapped} requests overlapped one in all)`;
}
