/**
 * Records a job's chaos proxies on a run's timeline while the load runs: each behavior change,
 * and the faults per second (FaultAggregator), so the report draws them under the same time
 * axis as throughput and latency. Knows nothing of the engine: a proxy is anything that emits
 * `event` with the proxy's event objects.
 */
import { changeReason, type TimelineEvent } from '../core/events.js';
import { FaultAggregator } from './fault-aggregator.js';
import type { ProxyEventLike, ProxyEventSource } from './proxy-events.js';
import type { ProxyTimelineEvent, RunResults } from './results.js';

export interface ProxyRecorder {
  /** Emit the fault counts of the seconds that are over (call it every second or so). */
  flush(now: number): void;
  /** Detach from the proxies and emit what is pending. */
  stop(): void;
}

/**
 * Start recording. `events`: behavior changes known already (fixtures applied before the load);
 * `also`: another sink of every timeline event (e.g. a result file being written).
 */
export function recordProxies(
  results: RunResults,
  o: {
    proxies?: Iterable<ProxyEventSource>;
    events?: readonly ProxyTimelineEvent[];
    also?: (e: ProxyTimelineEvent) => void;
    /** Every raw proxy event too (e.g. per-fault times for attribution). */
    onEvent?: (e: ProxyEventLike) => void;
  },
): ProxyRecorder {
  const record = (e: ProxyTimelineEvent) => {
    results.addProxyEvent(e);
    o.also?.(e);
  };
  for (const e of o.events ?? []) record(e);
  const faults = new FaultAggregator(record);
  const listener = (e: ProxyEventLike) => {
    faults.onProxyEvent(e);
    o.onEvent?.(e);
  };
  const sources = [...(o.proxies ?? [])];
  for (const p of sources) p.on('event', listener);
  return {
    flush: (now) => faults.flush(now),
    stop() {
      for (const p of sources) p.off('event', listener);
      faults.flush();
    },
  };
}

/** The job's behavior changes so far (fixtures applied before the load...), as timeline events. */
export function fixtureEvents(timeline: readonly TimelineEvent[]): ProxyTimelineEvent[] {
  return timeline.filter((t) => t.kind === 'mix').map((t) => ({ at: t.at, proxy: t.proxy, kind: 'mix' as const, mix: t.mix, reason: changeReason(t) }));
}

/** The real faults of services (no proxy emits them), for the report's fault timeline. */
export function serviceEvents(timeline: readonly TimelineEvent[]): ProxyTimelineEvent[] {
  return timeline
    .filter((t) => t.kind === 'service')
    .map((t) => ({ at: t.at, proxy: `service ${t.proxy}`, kind: 'mix' as const, mix: t.mix || 'up', reason: `${changeReason(t)}` }));
}
