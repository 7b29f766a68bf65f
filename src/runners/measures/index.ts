/**
 * The chaos measures of a run, computed once at its end from the fine series, the fault windows
 * and the attribution counts: for each window its recovery time and error mapping, plus the
 * attribution table. Pure; the results model stores the inputs, reports read the output.
 */
import type { Attribution } from './attribution.js';
import { windowEffect, type WindowEffect } from './effects.js';
import type { RecoveryOptions } from '../../stats/recovery-options.js';
import { recoveryOf, type Recovery } from './recovery.js';
import type { MeasureSeries } from './series.js';
import type { FaultWindow } from './windows.js';

export { AttributionTracker, attributionLine, type Attribution } from './attribution.js';
export { OUTCOME_CLASSES, pct, type WindowEffect } from './effects.js';
export type { Recovery } from './recovery.js';
export { MeasureSeries, outcomeKey } from './series.js';
export { faultWindows, type FaultWindow } from './windows.js';

export interface WindowMeasure extends FaultWindow {
  recovery: Recovery;
  effect: WindowEffect;
}

export interface Measures {
  windows: WindowMeasure[];
  attribution: Attribution;
  recoveryOptions: RecoveryOptions;
}

export function computeMeasures(series: MeasureSeries, windows: readonly FaultWindow[], attribution: Attribution, options: RecoveryOptions, runEnd: number): Measures {
  const sorted = [...windows].sort((a, b) => a.start - b.start);
  const out = sorted.map((w, i): WindowMeasure => {
    // Any later window (on any proxy) ends the search: its effect is not this one's recovery; one
    // still in force when this one ends (a fixture under it) leaves nothing to judge.
    const end = w.end ?? Infinity;
    const inForce = sorted.find((x) => x !== w && x.start < end && (x.end ?? Infinity) > end);
    const later = sorted.slice(i + 1).find((x) => x.start >= end);
    const next = inForce ? { name: inForce.name, start: end, inForce: true } : later && { name: later.name, start: later.start };
    // The baseline is what came before the faults in force up to this one's start: one that
    // follows another without a gap (a ramp after a blackout) or runs over one has nothing of its own.
    let baselineEnd = w.start;
    for (let x = under(sorted, w, baselineEnd); x; x = under(sorted, w, baselineEnd)) baselineEnd = x.start;
    const previousEnd = sorted
      .map((x) => x.end ?? Infinity)
      .filter((e) => e <= baselineEnd)
      .reduce<number | undefined>((m, e) => (m === undefined || e > m ? e : m), undefined);
    return {
      ...w,
      recovery: recoveryOf(series, w, { end: runEnd, next, previousEnd, ...(baselineEnd < w.start ? { baselineEnd } : {}) }, options),
      effect: windowEffect(series, w, runEnd),
    };
  });
  return { windows: out, attribution, recoveryOptions: options };
}

/** A window other than `w` begun before `at` and not ended before it. */
function under(windows: readonly FaultWindow[], w: FaultWindow, at: number): FaultWindow | undefined {
  return windows.find((x) => x !== w && x.start < at && (x.end ?? Infinity) >= at);
}

/** "recovered in 1.25s", "not recovered by the end of the run", "too soon to judge: the run ended ...". */
export function recoveryText(r: Recovery): string {
  if (r.status === 'recovered') return `recovered in ${(r.ms! / 1000).toFixed(2)}s`;
  if (!r.note) return r.status;
  if (r.status === 'too soon') return `too soon to judge: ${r.note}`;
  return r.status === 'not recovered' ? `not recovered ${r.note}` : `${r.status}: ${r.note}`;
}

/** "redis_blackout (redis: 100:blackout, 10.0s) → 100 % HTTP 500, expected 503; recovered in 0.75s". */
export function windowLine(w: WindowMeasure): string {
  const len = w.end !== undefined ? `, ${((w.end - w.start) / 1000).toFixed(1)}s` : '';
  const what = w.kind === 'service' ? `service ${w.proxy}` : w.proxy;
  // A window tuned by hand went through several mixes: the last is the one that ended it.
  return `${w.name} (${what}: ${w.mix}${w.lastMix ? ` → ${w.lastMix}` : ''}${len}) ${w.effect.headline}; ${recoveryText(w.recovery)}`;
}
