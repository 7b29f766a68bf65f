/**
 * Evaluating the pass/fail thresholds of `thresholds:` (parsed in config/thresholds.ts) against a
 * run's summary: overall, per cycle, or per fault window, with the messages the reports print.
 */
import { metricKind, type Op, type Threshold } from '../config/thresholds.js';
import { recoveryText, type WindowMeasure } from './measures/index.js';
import type { RunSummary } from './results.js';
import { interrupted, interruptedWords } from './interrupted.js';
import type { CycleSummary } from './summary.js';

// Only for locust/runner.ts, which another branch is rewriting: import it from config/ once merged.

const lat =
  (k: 'min' | 'avg' | 'max' | 'p10' | 'p50' | 'p90' | 'p95' | 'p99') =>
  (c: CycleSummary): number | undefined =>
    c.requests.latency.count ? c.requests.latency[k] : undefined;

/** A value per canonical metric (config/thresholds.ts names them), in its canonical unit. */
const METRICS: Record<string, (c: CycleSummary) => number | undefined> = {
  success_rate: (c) => c.successRate,
  error_rate: (c) => 1 - c.successRate,
  rps: (c) => c.requests.rps,
  pps: (c) => c.pages.spps,
  tps: (c) => c.tests.stps,
  min: lat('min'),
  avg: lat('avg'),
  max: lat('max'),
  p10: lat('p10'),
  p50: lat('p50'),
  p90: lat('p90'),
  p95: lat('p95'),
  p99: lat('p99'),
  apdex: (c) => (c.requests.total ? c.apdex.score : undefined),
  requests: (c) => c.requests.total,
  errors: (c) => c.requests.total - c.requests.success,
};

const share = (w: WindowMeasure, n: number) => (w.effect.requests ? n / w.effect.requests : undefined);

/** Metrics of one fault window (`during.<name>.<metric>`, and `recovery` for every window). */
const WINDOW_METRICS: Record<string, (w: WindowMeasure) => number | undefined> = {
  recovery: (w) => w.recovery.ms,
  success_rate: (w) => w.effect.successRate,
  error_rate: (w) => (w.effect.successRate === undefined ? undefined : 1 - w.effect.successRate),
  status_2xx: (w) => share(w, w.effect.classes['2xx']),
  status_3xx: (w) => share(w, w.effect.classes['3xx']),
  status_4xx: (w) => share(w, w.effect.classes['4xx']),
  status_5xx: (w) => share(w, w.effect.classes['5xx']),
  timeouts: (w) => share(w, w.effect.classes.timeout),
  connection_errors: (w) => share(w, w.effect.classes.connection),
  expected: (w) => w.effect.expectedShare,
  p95: (w) => w.effect.p95,
  requests: (w) => w.effect.requests,
  faults: (w) => Object.values(w.effect.injected).reduce((a, b) => a + b, 0),
};


export interface CycleVerdict {
  cycle: number;
  cvus: number;
  actual: number | undefined;
  passed: boolean;
}

export interface ThresholdResult {
  threshold: Threshold;
  passed: boolean;
  /** Overall: the run's value. Per cycle: the worst cycle's value. Undefined: nothing measured. */
  actual: number | undefined;
  cycles?: CycleVerdict[];
  /** e.g. "p95 < 300ms: 123.4ms" / "p95 < 300ms per cycle: failed in cycles #2 (20 users: 412.0ms)". */
  message: string;
  /** Short name for a test case: "p95 < 300ms". */
  name: string;
  /**
   * Nothing could be judged, for a reason that is no failure (every fault window it covers ended
   * too soon before the run did to judge recovery): `passed` stays true, reports say SKIP.
   */
  skipped?: boolean;
}

/** The word reports print for a result: PASS, FAIL or SKIP. */
export function verdictWord(v: Pick<ThresholdResult, 'passed' | 'skipped'>): 'PASS' | 'FAIL' | 'SKIP' {
  return v.skipped ? 'SKIP' : v.passed ? 'PASS' : 'FAIL';
}

export function compare(actual: number, op: Op, value: number): boolean {
  // Values come from floating point sums: compare with a relative epsilon.
  const eps = 1e-9 * Math.max(1, Math.abs(value));
  switch (op) {
    case '<':
      return actual < value - eps;
    case '<=':
      return actual <= value + eps;
    case '>':
      return actual > value + eps;
    case '>=':
      return actual >= value - eps;
    case '==':
      return Math.abs(actual - value) <= eps;
    case '!=':
      return Math.abs(actual - value) > eps;
  }
}

export function formatValue(metric: string, v: number | undefined): string {
  if (v === undefined) return 'no data';
  switch (metricKind(metric)) {
    case 'latency':
      return v >= 1000 ? `${(v / 1000).toFixed(3)}s` : `${v.toFixed(1)}ms`;
    case 'ratio':
      return `${(v * 100).toFixed(2)}%`;
    case 'rate':
      return `${v.toFixed(1)}/s`;
    case 'score':
      return v.toFixed(3);
    default:
      return String(v);
  }
}

/** Which of two values is worse for this condition (the one that fails first). */
function worse(op: Op, a: number, b: number): number {
  return op === '<' || op === '<=' ? Math.max(a, b) : op === '>' || op === '>=' ? Math.min(a, b) : a;
}

export function evaluateThreshold(t: Threshold, summary: RunSummary): ThresholdResult {
  if (t.scope === 'window') return evaluateWindowThreshold(t, summary);
  const get = METRICS[t.metric];
  const scoped = t.scope === 'cycle' && !/cycle\s*$/i.test(t.expr) ? `${t.expr} per cycle` : t.expr;
  const name = `${t.metric} ${scoped}`.replace(/\s+/g, ' ');
  if (t.scope === 'overall') {
    const actual = get(summary.overall);
    // Nothing measured (e.g. no request finished) cannot prove a condition: it fails.
    const passed = actual !== undefined && compare(actual, t.op, t.value);
    return { threshold: t, passed, actual, name, message: `${name}: ${formatValue(t.metric, actual)}${passed ? '' : ' (failed)'}` };
  }
  const cycles: CycleVerdict[] = summary.cycles.map((c) => {
    const actual = get(c);
    return { cycle: c.cycle, cvus: c.cvus, actual, passed: actual !== undefined && compare(actual, t.op, t.value) };
  });
  const measured = cycles.filter((c) => c.actual !== undefined).map((c) => c.actual!);
  const actual = measured.length ? measured.reduce((a, b) => worse(t.op, a, b)) : undefined;
  const failed = cycles.filter((c) => !c.passed);
  const passed = cycles.length > 0 && failed.length === 0;
  const detail = passed
    ? `worst ${formatValue(t.metric, actual)}`
    : cycles.length === 0
      ? 'no cycle ran (failed)'
      : `failed in ${failed.map((c) => `cycle #${c.cycle} (${c.cvus} users: ${formatValue(t.metric, c.actual)})`).join(', ')}`;
  return { threshold: t, passed, actual, cycles, name, message: `${name}: ${detail}` };
}

/**
 * A window threshold holds in every window it covers. `recovery` over all windows skips those
 * still on at the end (nothing to recover from yet); naming a window judges it whatever its state.
 * A recovery the run ended too soon to judge is no failure: it is named, and skipped.
 */
function evaluateWindowThreshold(t: Threshold, summary: RunSummary): ThresholdResult {
  const get = WINDOW_METRICS[t.metric];
  const name = `${t.window ? `during.${t.window}.` : ''}${t.metric} ${t.expr}`.replace(/\s+/g, ' ');
  const all = summary.measures?.windows ?? [];
  const covered = t.window ? all.filter((w) => w.name === t.window) : all.filter((w) => w.recovery.status !== 'ongoing');
  const at = (w: WindowMeasure) => `${w.name} at ${((w.start - summary.info.start) / 1000).toFixed(1)}s`;
  const tooSoon = t.metric === 'recovery' ? covered.filter((w) => w.recovery.status === 'too soon') : [];
  const windows = covered.filter((w) => !tooSoon.includes(w));
  const notJudged = tooSoon.length ? `not judged: ${tooSoon.map((w) => `${at(w)} (${recoveryText(w.recovery)})`).join(', ')}` : '';
  if (windows.length === 0 && tooSoon.length) return { threshold: t, passed: true, skipped: true, actual: undefined, name, message: `${name}: ${notJudged}` };
  if (windows.length === 0) {
    const why = t.window ? `no fault window ${t.window} in this run` : 'no fault window ended during the run';
    return { threshold: t, passed: false, actual: undefined, name, message: `${name}: ${why} (failed)` };
  }
  const judged = windows.map((w) => {
    const actual = get(w);
    return { w, actual, passed: actual !== undefined && compare(actual, t.op, t.value) };
  });
  const measured = judged.filter((j) => j.actual !== undefined).map((j) => j.actual!);
  const actual = measured.length ? measured.reduce((a, b) => worse(t.op, a, b)) : undefined;
  const failed = judged.filter((j) => !j.passed);
  const value = (j: (typeof judged)[number]) => (t.metric === 'recovery' && j.actual === undefined ? recoveryText(j.w.recovery) : formatValue(t.metric, j.actual));
  const detail = failed.length
    ? `failed for ${failed.map((j) => `${at(j.w)} (${value(j)})`).join(', ')}`
    : windows.length === 1
      ? value(judged[0])
      : `worst ${formatValue(t.metric, actual)} over ${windows.length} windows`;
  return { threshold: t, passed: failed.length === 0, actual, name, message: `${name}: ${detail}${notJudged ? `; ${notJudged}` : ''}` };
}

/**
 * A run stopped from outside the test (a cancel, the engine's stop) is judged by none of its
 * thresholds: its figures are of the part that ran, and a PASS printed after 'Aborted' read as if
 * the run had been judged whole. Each says so and is skipped (SKIP in every report); the measured
 * value stays for the reader.
 */
export function evaluateThresholds(ts: Threshold[], summary: RunSummary): ThresholdResult[] {
  const judged = ts.map((t) => evaluateThreshold(t, summary));
  if (!interrupted(summary)) return judged;
  const why = interruptedWords(summary);
  return judged.map((v) => ({ threshold: v.threshold, passed: true, skipped: true, actual: v.actual, name: v.name, message: `${v.name}: not judged: ${why}` }));
}
