/**
 * A fine-grained time series of what the load saw (outcome per request, latency) and what the
 * proxies injected (faults per proxy and behavior), in 250 ms buckets keyed by request *start*:
 * the raw material of recovery times and error mapping, which need finer steps than the
 * report's 1 s timeline and any time range, not just whole cycles.
 *
 * Memory is bounded: latencies are counted in LATENCY_BINS log-scale bins 5 % wide (0.1 ms to
 * 100 s; recovery tolerances are far wider), at most MAX_KEYS outcome and fault kinds per
 * bucket, and past MAX_BUCKETS the bucket width doubles and neighbours merge (as the report
 * timeline does): about 1.2 KB per bucket, under 9 MB however long the run.
 */
import { mergePairs } from '../../stats/buckets.js';
import { RequestLog } from './requests.js';

export const BUCKET_MS = 250;
const MAX_BUCKETS = 7200; // half an hour at 250 ms before the first coarsening
const MAX_KEYS = 32;
const LOG_STEP = Math.log(1.05);
const FLOOR_MS = 0.1;
export const LATENCY_BINS = Math.ceil(Math.log(100_000 / FLOOR_MS) / LOG_STEP) + 1;

/** What one request came back as: an HTTP status ("503"), "timeout" or "connection". */
export type OutcomeKey = string;

export interface SeriesBucket {
  requests: number;
  ok: number;
  outcomes: Map<OutcomeKey, number>;
  /** Counts per latency bin (see latencyBin), allocated with the first request. */
  latency?: Uint32Array;
  /** "proxy\u0000behavior" → faults injected. */
  faults: Map<string, number>;
}

/** Everything that happened in a time range, summed over its buckets. */
export interface RangeStats {
  requests: number;
  ok: number;
  outcomes: Record<OutcomeKey, number>;
  /** Faults per proxy, then per behavior. */
  faults: Record<string, Record<string, number>>;
  /** Nearest-rank p95 in ms (within 2 %), undefined with no request. */
  p95: number | undefined;
}

/** The outcome key of a request: its status when a response came, else how it failed. */
export function outcomeKey(code: number, error: string | undefined): OutcomeKey {
  if (code > 0) return String(code);
  return error === 'timeout' ? 'timeout' : 'connection';
}

/** "503" → "5xx"; "timeout" and "connection" are their own class. */
export function outcomeClass(key: OutcomeKey): string {
  return /^[1-5]\d\d$/.test(key) ? `${key[0]}xx` : key;
}

/** Human label: "HTTP 503", "timeouts", "connection errors". */
export function outcomeLabel(key: OutcomeKey): string {
  if (key === 'timeout') return 'timeouts';
  if (key === 'connection') return 'connection errors';
  return /^\d/.test(key) ? `HTTP ${key}` : key;
}

/** Log-scale bin of a duration: its upper edge is never below the value (up to 100 s), so p95 never under-reports. */
export function latencyBin(ms: number): number {
  if (!(ms > FLOOR_MS)) return 0;
  return Math.min(LATENCY_BINS - 1, Math.ceil(Math.log(ms / FLOOR_MS) / LOG_STEP));
}

export function binValueMs(bin: number): number {
  return FLOOR_MS * Math.exp(bin * LOG_STEP);
}

function bump<K>(m: Map<K, number>, k: K, by = 1): void {
  const c = m.get(k);
  if (c !== undefined) m.set(k, c + by);
  else if (m.size < MAX_KEYS) m.set(k, by);
}

const emptyBucket = (): SeriesBucket => ({ requests: 0, ok: 0, outcomes: new Map(), faults: new Map() });

export class MeasureSeries {
  private buckets: SeriesBucket[] = [];
  private widthMs = BUCKET_MS;
  origin?: number;
  /** Each request on its own, for recovery (judged request by request). */
  readonly requests = new RequestLog();

  get width(): number {
    return this.widthMs;
  }

  addRequest(start: number, durationMs: number, ok: boolean, key: OutcomeKey): void {
    this.requests.add(start, durationMs, ok, key);
    const b = this.bucketAt(start);
    if (!b) return;
    b.requests++;
    if (ok) b.ok++;
    bump(b.outcomes, key);
    (b.latency ??= new Uint32Array(LATENCY_BINS))[latencyBin(durationMs)]++;
  }

  addFault(at: number, proxy: string, behavior: string): void {
    const b = this.bucketAt(at);
    if (b) bump(b.faults, `${proxy}\u0000${behavior}`);
  }

  /**
   * Sum of the buckets inside [from, to) (epoch ms); with `overlapping`, of every bucket that
   * overlaps it (for faults, which must not be missed at a window's edges).
   */
  range(from: number, to: number, overlapping = false): RangeStats {
    const out: RangeStats = { requests: 0, ok: 0, outcomes: {}, faults: {}, p95: undefined };
    if (this.origin === undefined || to <= from) return out;
    const latency = new Float64Array(LATENCY_BINS);
    const inner = overlapping ? Math.floor : Math.ceil;
    const first = Math.max(0, inner((from - this.origin) / this.widthMs));
    const last = Math.min(this.buckets.length, (overlapping ? Math.ceil : Math.floor)((to - this.origin) / this.widthMs));
    for (let i = first; i < last; i++) {
      const b = this.buckets[i];
      out.requests += b.requests;
      out.ok += b.ok;
      for (const [k, c] of b.outcomes) out.outcomes[k] = (out.outcomes[k] ?? 0) + c;
      if (b.latency) for (let j = 0; j < LATENCY_BINS; j++) latency[j] += b.latency[j];
      for (const [k, c] of b.faults) {
        const [proxy, behavior] = k.split('\u0000');
        const p = (out.faults[proxy] ??= {});
        p[behavior] = (p[behavior] ?? 0) + c;
      }
    }
    out.p95 = percentileOfBins(latency, 95, out.requests);
    return out;
  }

  /** Time of the first and after the last bucket (epoch ms), or undefined when empty. */
  span(): { from: number; to: number } | undefined {
    if (this.origin === undefined || this.buckets.length === 0) return undefined;
    return { from: this.origin, to: this.origin + this.buckets.length * this.widthMs };
  }

  private bucketAt(at: number): SeriesBucket | undefined {
    if (!Number.isFinite(at)) return undefined;
    this.origin ??= Math.floor(at / BUCKET_MS) * BUCKET_MS;
    let i = Math.floor((at - this.origin) / this.widthMs);
    if (i < 0) return undefined; // before the series began (a fault seen ahead of the first request)
    for (let guard = 0; i >= MAX_BUCKETS && guard < 40; guard++) {
      this.coarsen();
      i = Math.floor((at - this.origin) / this.widthMs);
    }
    if (i >= MAX_BUCKETS) return undefined;
    while (this.buckets.length <= i) this.buckets.push(emptyBucket());
    return this.buckets[i];
  }

  private coarsen(): void {
    this.buckets = mergePairs(this.buckets, (a, b) => {
      a.requests += b.requests;
      a.ok += b.ok;
      for (const [k, c] of b.outcomes) bump(a.outcomes, k, c);
      if (b.latency) {
        const into = (a.latency ??= new Uint32Array(LATENCY_BINS));
        for (let j = 0; j < LATENCY_BINS; j++) into[j] += b.latency[j];
      }
      for (const [k, c] of b.faults) bump(a.faults, k, c);
    });
    this.widthMs *= 2;
  }
}

/** Nearest-rank percentile (FunkLoad's rank floor(p·n)+1) over latency bin counts, in ms. */
export function percentileOfBins(bins: ArrayLike<number>, p: number, n: number): number | undefined {
  if (n <= 0) return undefined;
  const rank = Math.min(n, Math.floor((p / 100) * n) + 1);
  let seen = 0;
  for (let bin = 0; bin < bins.length; bin++) {
    seen += bins[bin];
    if (seen >= rank) return binValueMs(bin);
  }
  return undefined;
}
