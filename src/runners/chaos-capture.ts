/**
 * The chaos side of a runner whose samples arrive after the load (FunkLoad's XML, Locust's
 * per-request buckets) or never (a command): what the proxies did while the load ran, kept
 * until the results model exists, then handed to it the way builtin hands it live (fault
 * timeline, per-fault times for error mapping and attribution, fault windows, service events),
 * so recovery and attribution are computed by the same code for every runner.
 *
 * Memory is bounded: at most MAX_RAW fault and exchange times are kept (a blackout under heavy
 * load may make millions); past that the attribution is partial, as the live tracker's is.
 */
import type { TimelineEvent } from '../core/events.js';
import type { RecoveryOptions } from '../stats/recovery-options.js';
import { faultWindows, type FaultWindow } from './measures/index.js';
import { BUCKET_MS } from './measures/series.js';
import type { ProxyEventLike, ProxyEventSource } from './proxy-events.js';
import { fixtureEvents, serviceEvents } from './proxy-timeline.js';
import { FaultAggregator } from './fault-aggregator.js';
import type { ProxyTimelineEvent, RunResults } from './results.js';

const MAX_RAW = 1_000_000;

/** A fault (`behavior` set) or a completed exchange, at epoch ms. */
export type RawProxyEvent = [at: number, proxy: string, behavior?: string];

/** What the proxies and services did during a load: serialisable, so a job's record can keep it. */
export interface ChaosRecord {
  loadStart: number;
  /** The report's fault timeline: behavior changes, faults per second, service faults. */
  events: ProxyTimelineEvent[];
  /** Every fault and exchange, in time order (up to MAX_RAW). */
  raw: RawProxyEvent[];
  dropped: number;
  windows: FaultWindow[];
  recovery?: RecoveryOptions;
}

export class ChaosCapture {
  /** The proxy timeline so far (behavior changes and faults per second). */
  readonly events: ProxyTimelineEvent[];
  private readonly raw: RawProxyEvent[] = [];
  private readonly faults: FaultAggregator;
  private readonly sources: ProxyEventSource[];
  private dropped = 0;
  private loadStart: number | undefined;

  /** Start listening: `timeline` is the job's so far (fixtures applied before the load). */
  constructor(proxies: Iterable<ProxyEventSource>, timeline: readonly TimelineEvent[]) {
    this.events = fixtureEvents(timeline);
    this.faults = new FaultAggregator((e) => this.events.push(e));
    this.sources = [...proxies];
    for (const p of this.sources) p.on('event', this.listener);
  }

  private readonly listener = (e: ProxyEventLike): void => {
    this.faults.onProxyEvent(e);
    if (e.type !== 'proxy.fault' && e.type !== 'proxy.exchange') return;
    if (this.raw.length >= MAX_RAW) this.dropped++;
    // The tools time their requests on the wall clock; an exchange is timed as it is emitted.
    else this.raw.push(e.type === 'proxy.fault' ? [e.at, e.proxy, e.behavior] : [Date.now(), e.proxy]);
  };

  /** The load starts now (the first call counts): fault windows and times read from here. */
  started(at = Date.now()): void {
    this.loadStart ??= at;
  }

  /** Emit the fault counts of the seconds that are over (call it every second or so). */
  flush(now = Date.now()): void {
    this.faults.flush(now);
  }

  /** Stop listening (the load is over); emits the pending fault counts. */
  stop(): void {
    for (const p of this.sources.splice(0)) p.off('event', this.listener);
    this.faults.flush();
  }

  /** Stop, and what happened, with the fault windows of the job's final timeline. */
  record(timeline: readonly TimelineEvent[], recovery?: RecoveryOptions): ChaosRecord {
    this.stop();
    const loadStart = this.loadStart ?? Date.now();
    return {
      loadStart,
      events: [...this.events, ...serviceEvents(timeline)],
      raw: this.raw,
      dropped: this.dropped,
      windows: faultWindows(timeline, loadStart),
      ...(recovery ? { recovery } : {}),
    };
  }
}

/**
 * Hand a record to a results model before its requests are added (attribution joins each request
 * with the faults already known), anchored at the load start so a fault before the first request
 * counts. Returns warnings for the job log.
 */
export function applyChaos(results: RunResults, rec: ChaosRecord): string[] {
  results.series.origin ??= Math.floor(rec.loadStart / BUCKET_MS) * BUCKET_MS;
  for (const e of rec.events) results.addProxyEvent(e);
  for (const [at, proxy, behavior] of rec.raw) {
    if (behavior !== undefined) results.addFault(proxy, behavior, at);
    else results.addExchange(proxy, at);
  }
  results.faultWindows = rec.windows;
  if (rec.recovery) results.recoveryOptions = rec.recovery;
  return rec.dropped ? [`${rec.dropped} proxy events past the first ${MAX_RAW} were not kept: attribution counts are lower bounds`] : [];
}
