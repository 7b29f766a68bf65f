/**
 * Error mapping: what the load test saw during a fault window (status classes, timeouts,
 * connection errors) against what the proxy injected, in one line a reader can act on:
 * "redis_blackout (redis: 100:blackout) → 100 % HTTP 500, expected 503". Pure.
 */
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

const pct = (n: number, d: number) => `${d ? Math.round((100 * n) / d) : 0} %`;

export function windowEffect(series: MeasureSeries, w: FaultWindow, runEnd: number): WindowEffect {
  const end = w.end ?? runEnd;
  const seen = series.range(w.start, end);
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

function headline(requests: number, outcomes: Record<string, number>, expect?: string[]): string {
  if (requests === 0) return '→ no request started during the window';
  const top = Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, n]) => `${pct(n, requests)} ${outcomeLabel(k)}`);
  return `→ ${top.join(', ')}${expect ? `, expected ${expect.join(' or ')}` : ''}`;
}
