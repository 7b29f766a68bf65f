/**
 * Samples a set of proxies at a steady pace into an immutable snapshot with per-second rates and
 * short histories (sparklines), so views redraw from one object however fast events arrive.
 */
import { Histogram, type HistogramJSON } from '../stats/histogram.js';
import type { Proxy, ProxyStats } from './proxy.js';

/**
 * What a monitor reads from a proxy: its counters, and its latencies when it is in this process.
 * One another process runs says when its counters were taken (`at`, ms: its rates are over the
 * writer's interval, not the monitor's) and who runs it (`elsewhere`, in words).
 */
export type Monitored = Pick<Proxy, 'stats'> & Partial<Pick<Proxy, 'latencyBuckets'>> & { at?: number; elsewhere?: string };

export interface ProxyView {
  stats: ProxyStats;
  /** Exchanges per second over the last sample period. */
  rate: number;
  /** Faults per second per behavior over the last sample period. */
  faultRates: Record<string, number>;
  /** Exchanges/s of the last samples, oldest first. */
  history: readonly number[];
  /** Faults/s (all behaviors but dummy) of the last samples, oldest first. */
  faultHistory: readonly number[];
  /** Share of the last sample period's exchanges that a behavior acted on, 0-100, oldest first. */
  faultPercentHistory: readonly number[];
  /** 95th percentile exchange latency of each sample period (ms; the whole run's for remote proxies), oldest first. */
  p95History: readonly number[];
  /** Latest of each of the two histories above. */
  faultPercent: number;
  p95: number;
  /** The latency buckets at this sample, to difference at the next. */
  buckets?: HistogramJSON;
  /** When its counters were taken, and who runs it: see Monitored. */
  at?: number;
  elsewhere?: string;
}

export interface MonitorSnapshot {
  at: number;
  proxies: readonly ProxyView[];
}

const HISTORY = 60;

export class ProxyMonitor {
  private snapshot: MonitorSnapshot = { at: 0, proxies: [] };
  private readonly listeners = new Set<() => void>();
  private timer?: NodeJS.Timeout;
  private lastAt = 0;

  constructor(private readonly source: () => Iterable<Monitored>, private readonly intervalMs = 500) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  getSnapshot = (): MonitorSnapshot => this.snapshot;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Take a sample now (also used by tests and after a user action, for an instant redraw). */
  sample(): void {
    const now = performance.now();
    const seconds = this.lastAt ? (now - this.lastAt) / 1000 : 0;
    this.lastAt = now;
    const before = new Map(this.snapshot.proxies.map((p) => [p.stats.name, p]));
    const proxies = [...this.source()].map((proxy): ProxyView => {
      const stats = proxy.stats();
      const prev = before.get(stats.name);
      // Counters taken once a second elsewhere, sampled here twice: the same ones are no new period.
      if (proxy.at !== undefined && prev?.at === proxy.at) return prev;
      const span = proxy.at !== undefined && prev?.at !== undefined ? (proxy.at - prev.at) / 1000 : seconds;
      const per = (a: number, b: number) => (span > 0 ? Math.max(0, a - b) / span : 0);
      const rate = prev ? per(stats.exchanges, prev.stats.exchanges) : 0;
      const faultRates: Record<string, number> = {};
      let faults = 0;
      // Every exchange draws one behavior (dummy when none acts): their sum is the exchanges drawn,
      // the fair base for a fault share (an error reply made by the proxy never reaches `exchanges`).
      let drawn = 0;
      for (const [name, n] of Object.entries(stats.behaviors)) {
        const r = prev ? per(n, prev.stats.behaviors[name] ?? 0) : 0;
        drawn += r;
        if (name === 'dummy') continue;
        faultRates[name] = r;
        faults += r;
      }
      const faultPercent = drawn > 0 ? (faults / drawn) * 100 : 0;
      const buckets = proxy.latencyBuckets?.();
      // Only what ended in this period, when the buckets are at hand; a remote proxy's whole run otherwise.
      const p95 = buckets ? (buckets.count > (prev?.buckets?.count ?? 0) ? Histogram.since(prev?.buckets, buckets).percentile(95) / 1000 : 0) : stats.latency.p95;
      return {
        stats,
        rate,
        faultRates,
        history: [...(prev?.history ?? []), rate].slice(-HISTORY),
        faultHistory: [...(prev?.faultHistory ?? []), faults].slice(-HISTORY),
        faultPercentHistory: [...(prev?.faultPercentHistory ?? []), faultPercent].slice(-HISTORY),
        p95History: [...(prev?.p95History ?? []), p95].slice(-HISTORY),
        faultPercent,
        p95,
        buckets,
        ...(proxy.at !== undefined && { at: proxy.at }),
        ...(proxy.elsewhere && { elsewhere: proxy.elsewhere }),
      };
    });
    this.snapshot = { at: Date.now(), proxies };
    for (const l of this.listeners) l();
  }
}
