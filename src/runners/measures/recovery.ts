/**
 * Recovery time of a fault window: how long after the fault ends until the service is back to
 * its pre-fault self, judged request by request against the service's own baseline. Pure, over
 * a MeasureSeries' request log.
 *
 * Baseline: the requests that started and finished in the `baseline` span before the fault (cut
 * at the previous window's end, so a fault is never compared with another; a sweep uses its
 * steady-state lead instead). From them: the failure rate, and the median and p95 of the
 * successful ones. A request is *slow* when it takes longer than the baseline's p95 plus a
 * margin: the largest of `p95_tolerance` × p95, `p95_slack`, and the baseline's own spread
 * (p95 − median). A noisy service (a loaded machine) gets a wider margin than a steady one.
 *
 * Recovered at the first request after the fault's end that succeeded, was not slow, and opens a
 * `window` of requests that looks like the baseline: a failure share no higher than the
 * baseline's plus `success_rate_tolerance`, and no more slow requests than a 5 % share (what a
 * p95 leaves above it) would give by chance, by a one-sided binomial test. A few slow requests
 * in a short window therefore do not read as "not recovered"; a service still failing one
 * request in five, or several times slower, does. The recovery time runs from the fault's end
 * to that request.
 *
 * The search stops at the next window's start or the end of the run. When less than `window` is
 * left after the fault, or only the last, shorter span looks healthy, the verdict is "too soon":
 * the run ended before recovery could be judged, which is not a failure to recover.
 */
import { DEFAULT_RECOVERY, type RecoveryOptions } from '../../stats/recovery-options.js';
import { binomialUpper } from '../../stats/binomial.js';
import { duration, failed, nearestRank, type RequestSlice } from './requests.js';
import type { MeasureSeries } from './series.js';
import type { FaultWindow } from './windows.js';

/** The share of a baseline's requests allowed above its p95, by definition of a p95. */
const SLOW_SHARE = 0.05;
/**
 * Level of the slow-request test: a healthy window reads as slow by chance at most this often.
 * That only moves the verdict a few requests later (the next window is tried), whereas a lenient
 * test, tried on every request after the fault, would sooner or later take one lucky window of
 * a still-slow service for healthy: the strict side is the safe one.
 */
const ALPHA = 0.2;

export type RecoveryStatus = 'recovered' | 'not recovered' | 'too soon' | 'ongoing' | 'no baseline';

export interface Recovery {
  status: RecoveryStatus;
  /** Time from the fault's end to the first request of the healthy window (ms), when recovered. */
  ms?: number;
  /** Epoch ms of that request. */
  at?: number;
  baseline?: { requests: number; successRate: number; p95: number; p50?: number };
  /**
   * What a healthy window needed: a success rate consistent with `successRate` and a request
   * counted slow above `p95` ms (the baseline's p95 plus the margin).
   */
  target?: { successRate: number; p95: number };
  /** Why it is not recovered or not judged ("by the end of the run", "before redis_blackout"). */
  note?: string;
}

export interface RecoveryBounds {
  /** Epoch ms the data stops (the run's end). */
  end: number;
  /** Start of the following window, if any: the search stops there (`inForce`: one begun before this one ended, at that end). */
  next?: { name: string; start: number; inForce?: boolean };
  /** End of the previous window, if any: the baseline starts after it. */
  previousEnd?: number;
  /** Where the baseline ends when not at the window's start: the start of the faults it follows without a gap. */
  baselineEnd?: number;
}

export function recoveryOf(series: MeasureSeries, w: FaultWindow, bounds: RecoveryBounds, o: RecoveryOptions = DEFAULT_RECOVERY): Recovery {
  if (w.end === undefined) return { status: 'ongoing', note: 'the fault was still on when the run ended' };
  const log = series.requests;
  const first = log.between(-Infinity, Infinity).start[0] ?? w.start;
  const baseEnd = bounds.baselineEnd ?? w.start;
  const [from, to] = o.steadyStateMs !== undefined ? [first, Math.min(first + o.steadyStateMs, baseEnd)] : [Math.max(baseEnd - o.baselineMs, bounds.previousEnd ?? -Infinity), baseEnd];
  const base = baselineOf(log.between(from, to), baseEnd, o);
  if (!base) return { status: 'no baseline', note: 'no request finished before the fault to compare with' };
  const { baseline, target } = base;
  const stop = Math.min(bounds.end, bounds.next?.start ?? Infinity);
  const cut = bounds.next && bounds.next.start < bounds.end ? bounds.next : undefined;
  const left = stop - w.end;
  const windowText = `the ${seconds(o.windowMs)} recovery window`;
  if (left < o.windowMs) {
    if (cut?.inForce) return { status: 'too soon', baseline, target, note: `${cut.name} was still in force when it ended` };
    const why = cut ? `${cut.name} started ${seconds(Math.max(0, left))} after the fault` : `the run ended ${seconds(Math.max(0, left))} after the fault`;
    return { status: 'too soon', baseline, target, note: `${why}, less than ${windowText}` };
  }
  const limits = { failureRate: 1 - baseline.successRate, tolerance: o.successRateTolerance, slowMs: target.p95 };
  const found = firstHealthy(log.between(w.end, stop), stop, o.windowMs, limits);
  if (found?.whole) return { status: 'recovered', ms: found.at - w.end, at: found.at, baseline, target };
  if (found) {
    const why = cut ? `${cut.name} started` : 'the run ended';
    return { status: 'too soon', baseline, target, note: `back like the baseline ${seconds(found.at - w.end)} after the fault, but ${why} before ${windowText} confirmed it` };
  }
  return { status: 'not recovered', baseline, target, note: cut ? `before ${cut.name} started` : 'by the end of the run' };
}

/** The baseline of the requests that finished before the fault started, or undefined with none. */
function baselineOf(r: RequestSlice, faultStart: number, o: RecoveryOptions): Required<Pick<Recovery, 'baseline' | 'target'>> | undefined {
  const okMs: number[] = [];
  let requests = 0;
  for (let i = 0; i < r.length; i++) {
    const ms = duration(r.ms[i]);
    if (r.start[i] + ms > faultStart) continue; // touched by the fault
    requests++;
    if (!failed(r.ms[i])) okMs.push(ms);
  }
  if (requests === 0) return undefined;
  okMs.sort((a, b) => a - b);
  const successRate = okMs.length / requests;
  const targetRate = Math.max(0, successRate - o.successRateTolerance);
  // With no success at all there is no latency to come back to: only the success rate counts.
  if (okMs.length === 0) return { baseline: { requests, successRate, p95: Infinity }, target: { successRate: targetRate, p95: Infinity } };
  const p95 = nearestRank(okMs, 95);
  const p50 = nearestRank(okMs, 50);
  const margin = Math.max(p95 * o.p95Tolerance, o.p95SlackMs, p95 - p50);
  return { baseline: { requests, successRate, p95, p50 }, target: { successRate: targetRate, p95: p95 + margin } };
}

interface Limits {
  /** The baseline's failure rate, and how much more a healthy window may have (absolute). */
  failureRate: number;
  tolerance: number;
  /** A successful request slower than this is slow. */
  slowMs: number;
}

/**
 * The first request from which a `windowMs` span of requests looks like the baseline; `whole`
 * false when only the last span, cut short by `stop`, does (see `cleanTail`).
 */
function firstHealthy(r: RequestSlice, stop: number, windowMs: number, l: Limits): { at: number; whole: boolean } | undefined {
  const isSlow = (i: number) => !failed(r.ms[i]) && r.ms[i] > l.slowMs;
  const failureLimit = Math.min(1, l.failureRate + l.tolerance);
  let j = 0;
  let bad = 0;
  let slow = 0;
  for (let i = 0; i < r.length; i++) {
    const end = r.start[i] + windowMs;
    for (; j < r.length && r.start[j] < end; j++) {
      if (failed(r.ms[j])) bad++;
      else if (isSlow(j)) slow++;
    }
    const n = j - i;
    if (!failed(r.ms[i]) && !isSlow(i)) {
      if (end <= stop) {
        if (bad <= failureLimit * n + 1e-9 && slow <= binomialUpper(n, SLOW_SHARE, ALPHA)) return { at: r.start[i], whole: true };
      } else if (stop - r.start[i] >= windowMs / 2 && bad <= Math.floor(l.failureRate * n) && slow <= Math.floor(SLOW_SHARE * n)) {
        // The last span is too short for the test to tell a partial recovery from noise: it
        // says "too soon" only when it is at least half a window and no worse than the baseline.
        return { at: r.start[i], whole: false };
      }
    }
    if (failed(r.ms[i])) bad--;
    else if (isSlow(i)) slow--;
  }
  return undefined;
}

/** "2s" for a whole setting, "0.96s" for a measured time (never a rounded "1.0s" next to "1s"). */
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)}s`;
