/**
 * Recovery time of a fault window: how long after the fault ends until the service is back to
 * its pre-fault self. Pure, over a MeasureSeries.
 *
 * Baseline: the success rate and p95 of the requests started in the `baseline` span before the
 * window (cut at the previous window's end, so a fault is never compared against another).
 * Recovered: the first sliding span of `window` length, starting at or after the fault's end,
 * whose success rate is at least the baseline's minus `successRateTolerance` and whose p95 is at
 * most the baseline's plus max(`p95Tolerance` × baseline, `p95SlackMs`). The slack keeps the
 * millisecond jitter of a fast service from reading as "not recovered". The search stops at the
 * next window's start or the end of the data: then the window is "not recovered".
 */
import { type MeasureSeries } from './series.js';
import type { FaultWindow } from './windows.js';

export interface RecoveryOptions {
  /** Length of the sliding span judged after the fault (ms). */
  windowMs: number;
  /** Allowed drop of the success rate, absolute (0.01 = one percentage point). */
  successRateTolerance: number;
  /** Allowed rise of p95, relative to the baseline (0.2 = +20 %). */
  p95Tolerance: number;
  /** Allowed rise of p95 in ms, when larger than the relative one. */
  p95SlackMs: number;
  /** How far back the baseline reaches before the fault (ms). */
  baselineMs: number;
  /**
   * A sweep's steady state: every window is compared with the first this-many ms of the load
   * (before any fault), not with the span before it, which a previous fault may have shortened.
   */
  steadyStateMs?: number;
}

export const DEFAULT_RECOVERY: RecoveryOptions = {
  windowMs: 2000,
  successRateTolerance: 0.01,
  p95Tolerance: 0.2,
  p95SlackMs: 10,
  baselineMs: 10_000,
};

export type RecoveryStatus = 'recovered' | 'not recovered' | 'ongoing' | 'no baseline';

export interface Recovery {
  status: RecoveryStatus;
  /** Time from the fault's end to the start of the first healthy span (ms), when recovered. */
  ms?: number;
  /** Epoch ms of that start. */
  at?: number;
  baseline?: { requests: number; successRate: number; p95: number };
  /** What a healthy span needed. */
  target?: { successRate: number; p95: number };
  /** Why it is not recovered, for the report ("by the end of the run", "before redis_blackout"). */
  note?: string;
}

export interface RecoveryBounds {
  /** Epoch ms the data stops (the run's end). */
  end: number;
  /** Start of the following window, if any: the search stops there. */
  next?: { name: string; start: number };
  /** End of the previous window, if any: the baseline starts after it. */
  previousEnd?: number;
}

export function recoveryOf(series: MeasureSeries, w: FaultWindow, bounds: RecoveryBounds, o: RecoveryOptions = DEFAULT_RECOVERY): Recovery {
  if (w.end === undefined) return { status: 'ongoing', note: 'the fault was still on when the run ended' };
  const origin = series.span()?.from ?? w.start;
  const [from, to] = o.steadyStateMs !== undefined ? [origin, Math.min(origin + o.steadyStateMs, w.start)] : [Math.max(w.start - o.baselineMs, bounds.previousEnd ?? -Infinity), w.start];
  const base = series.range(from, to);
  if (base.requests === 0 || base.p95 === undefined) {
    return { status: 'no baseline', note: 'no request finished before the fault to compare with' };
  }
  const baseline = { requests: base.requests, successRate: base.ok / base.requests, p95: base.p95 };
  const target = {
    successRate: Math.max(0, baseline.successRate - o.successRateTolerance),
    p95: baseline.p95 + Math.max(baseline.p95 * o.p95Tolerance, o.p95SlackMs),
  };
  const step = series.width;
  // Spans start on bucket edges, so the first one is the first whole bucket after the fault.
  const first = origin + Math.ceil((w.end - origin) / step) * step;
  const stop = Math.min(bounds.end, bounds.next?.start ?? Infinity);
  for (let t = first; t + o.windowMs <= stop + step / 2; t += step) {
    const r = series.range(t, t + o.windowMs);
    if (r.requests === 0 || r.p95 === undefined) continue;
    if (r.ok / r.requests >= target.successRate - 1e-9 && r.p95 <= target.p95) {
      return { status: 'recovered', ms: t - w.end, at: t, baseline, target };
    }
  }
  const note = bounds.next && bounds.next.start < bounds.end ? `before ${bounds.next.name} started` : 'by the end of the run';
  return { status: 'not recovered', baseline, target, note };
}
