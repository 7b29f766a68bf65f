/**
 * A sweep's steady state taken from the job's `thresholds:` when it has no `steady_state:` (the
 * issue's "thresholds, or steady_state: rules"): the whole-run bounds on success (success_rate,
 * error_rate) and on p95 become the hypothesis checked before the first fault and after the
 * last. What the thresholds do not bound keeps the default (99 % success, no p95 bound);
 * per-cycle and per-window thresholds say nothing of the steady load and are left out. Pure.
 */
import type { SteadyRules, SweepPlan } from '../config/sweep.js';
import type { Threshold } from '../config/thresholds.js';

export function steadyFromThresholds(rules: SteadyRules, thresholds: readonly Threshold[]): SteadyRules {
  if (rules.source === 'steady_state') return rules;
  const below = (t: Threshold) => t.op === '<' || t.op === '<=';
  const above = (t: Threshold) => t.op === '>' || t.op === '>=';
  let successRate: number | undefined;
  let p95Ms: number | undefined;
  for (const t of thresholds) {
    if (t.scope !== 'overall') continue;
    const rate = t.metric === 'success_rate' && above(t) ? t.value : t.metric === 'error_rate' && below(t) ? 1 - t.value : undefined;
    // Several bounds: the strictest holds.
    if (rate !== undefined) successRate = Math.max(successRate ?? 0, rate);
    if (t.metric === 'p95' && below(t)) p95Ms = Math.min(p95Ms ?? Infinity, t.value);
  }
  if (successRate === undefined && p95Ms === undefined) return rules;
  return { successRate: successRate ?? rules.successRate, ...(p95Ms !== undefined ? { p95Ms } : rules.p95Ms !== undefined ? { p95Ms: rules.p95Ms } : {}), source: 'thresholds' };
}

/** The plan with its steady state resolved against the job's thresholds. */
export function sweepWithThresholds(plan: SweepPlan | undefined, thresholds: readonly Threshold[]): SweepPlan | undefined {
  return plan && { ...plan, steady: steadyFromThresholds(plan.steady, thresholds) };
}
