/**
 * Error mapping: what the load test saw during a fault window (status classes, timeouts,
 * connection errors) against what the proxy injected, in one line a reader can act on:
 * "redis_blackout (redis: 100:blackout) → 100 % HTTP 500, expected 503". Pure.
 *
 * The requests are those started inside the window, to the millisecond (the request log): a
 * window shorter than the series' 250 ms buckets (a database that restarts in 0.2 s) still
 * shows what its requests got.
 */
import { duration, failed, nearestRank, type RequestSlice } from './requests.js';
import { outcomeClass, outcomeLabel, type MeasureSeries } from './series.js';
import { meetsExpect, type FaultWindow } from './windows.js';

export const OUTCOME_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'timeout', 'connection'] as const;
export type OutcomeClass = (typeof OUTCOME_CLASSES)[number];

export interface WindowEffect {
  requests: number;
  success: number;
  successRate: number | undefined;
  p95: number | undefined;
  /** Requests per outcome key ("500", "timeout", ...) and per class. */
  outcomes: Record<string, number>;
  classes: Record<OutcomeClass, number>;
  /** Faults the window's proxy injected during it, per behavior. */
  injected: Record<string, number>;
  /** Share of the error answers (not 2xx/3xx) that are what `expect` says; undefined: no expect or no error. */
  expectedShare?: number;
  /** e.g. "→ 100 % HTTP 500, expected 503". */
  headline: string;
}

/** A share as a whole percentage that never reads as all or none when it is neither ("<1 %", ">99 %"). */
export function pct(n: number, d: number): string {
  const p = d ? Math.round((100 * n) / d) : 0;
  if (p === 0 && n > 0) return '<1 %';
  if (p === 100 && n < d) return '>99 %';
  return `${p} %`;
}

export function windowEffect(series: MeasureSeries, w: FaultWindow, runEnd: number): WindowEffect {
  const end = w.end ?? runEnd;
  const seen = requestsIn(series.requests.between(w.start, end), series.requests.weight);
  // A service's fault is the real thing: no proxy counted it (a proxy may share the name).
  const injected = w.kind === 'service' ? {} : (series.range(w.start, end, true).faults[w.proxy] ?? {});
  const classes = Object.fromEntries(OUTCOME_CLASSES.map((c) => [c, 0])) as Record<OutcomeClass, number>;
  for (const [k, n] of Object.entries(seen.outcomes)) {
    const c = outcomeClass(k);
    if (c in classes) classes[c as OutcomeClass] += n;
  }
  // Pages the fault did not touch still answer 2xx/3xx: only the error answers are judged.
  const errors = Object.entries(seen.outcomes).filter(([k]) => !/^[23]xx$/.test(outcomeClass(k)));
  const errorCount = errors.reduce((s, [, n]) => s + n, 0);
  const expectedShare = w.expect && errorCount ? errors.reduce((s, [k, n]) => s + (meetsExpect(k, w.expect!) ? n : 0), 0) / errorCount : undefined;
  return {
    requests: seen.requests,
    success: seen.ok,
    successRate: seen.requests ? seen.ok / seen.requests : undefined,
    p95: seen.p95,
    outcomes: seen.outcomes,
    classes,
    injected,
    ...(expectedShare !== undefined ? { expectedShare } : {}),
    headline: headline(seen.requests, seen.outcomes, w.expect),
  };
}

/** What the requests of a slice got, each counted `weight` times (a thinned log). */
function requestsIn(r: RequestSlice, weight: number): { requests: number; ok: number; outcomes: Record<string, number>; p95: number | undefined } {
  const outcomes: Record<string, number> = {};
  const ms = new Float64Array(r.length);
  let ok = 0;
  for (let i = 0; i < r.length; i++) {
    const key = r.outcomes[r.outcome[i]];
    outcomes[key] = (outcomes[key] ?? 0) + weight;
    if (!failed(r.ms[i])) ok += weight;
    ms[i] = duration(r.ms[i]);
  }
  ms.sort();
  return { requests: r.length * weight, ok, outcomes, p95: r.length ? nearestRank(ms, 95) : undefined };
}

function headline(requests: number, outcomes: Record<string, number>, expect?: string[]): string {
  if (requests === 0) return '→ no request started during the window';
  const top = Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, n]) => `${pct(n, requests)} ${outcomeLabel(k)}`);
  return `→ ${top.join(', ')}${expect ? `, expected ${expect.join(' or ')}` : ''}`;
}
