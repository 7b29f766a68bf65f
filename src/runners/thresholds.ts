/**
 * Pass/fail thresholds on a run (`thresholds:` in .marteau.yml), which decide the exit code of
 * `--ci` and become one JUnit test case each:
 *
 *   thresholds:
 *     success_rate: ">= 99%"
 *     p95: "< 300ms"                 # over the whole run
 *     p99: "< 1s per cycle"          # in every cycle
 *     rps: [">= 100", "< 5000"]      # several conditions on one metric
 *     per_cycle: {apdex: ">= 0.85"}  # same as "... per cycle"
 *     recovery: "< 5s"               # every fault window that ended recovered within 5 s
 *     during:                        # during each fault window of that name
 *       redis_blackout: {status_5xx: "< 100%", recovery: "< 10s"}
 *     during.db_down.timeouts: "== 0%"   # the same, in one key
 *
 * Parsing is pure and strict: a bad expression throws a ThresholdError carrying the path of the
 * offending value, which the config loader turns into file:line.
 */
import { z } from 'zod';
import { recoveryText, type WindowMeasure } from './measures/index.js';
import type { RunSummary } from './results.js';
import type { CycleSummary } from './summary.js';

export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';
/** `window`: judged on each fault window (all of them, or those of one name). */
export type Scope = 'overall' | 'cycle' | 'window';

type Kind = 'latency' | 'ratio' | 'rate' | 'count' | 'score';

interface MetricDef {
  kind: Kind;
  label: string;
  get(c: CycleSummary): number | undefined;
}

const lat = (k: 'min' | 'avg' | 'max' | 'p10' | 'p50' | 'p90' | 'p95' | 'p99', label: string): MetricDef => ({
  kind: 'latency',
  label,
  get: (c) => (c.requests.latency.count ? c.requests.latency[k] : undefined),
});

/** Canonical metric names; values are in ms (latency), 0..1 (ratio, score), per second, or counts. */
const METRICS: Record<string, MetricDef> = {
  success_rate: { kind: 'ratio', label: 'success rate', get: (c) => c.successRate },
  error_rate: { kind: 'ratio', label: 'error rate', get: (c) => 1 - c.successRate },
  rps: { kind: 'rate', label: 'requests/s', get: (c) => c.requests.rps },
  pps: { kind: 'rate', label: 'successful pages/s', get: (c) => c.pages.spps },
  tps: { kind: 'rate', label: 'successful tests/s', get: (c) => c.tests.stps },
  min: lat('min', 'min response time'),
  avg: lat('avg', 'average response time'),
  max: lat('max', 'max response time'),
  p10: lat('p10', 'p10 response time'),
  p50: lat('p50', 'median response time'),
  p90: lat('p90', 'p90 response time'),
  p95: lat('p95', 'p95 response time'),
  p99: lat('p99', 'p99 response time'),
  apdex: { kind: 'score', label: 'Apdex', get: (c) => (c.requests.total ? c.apdex.score : undefined) },
  requests: { kind: 'count', label: 'requests', get: (c) => c.requests.total },
  errors: { kind: 'count', label: 'failed requests', get: (c) => c.requests.total - c.requests.success },
};

const share = (w: WindowMeasure, n: number) => (w.effect.requests ? n / w.effect.requests : undefined);

/** Metrics of one fault window (`during.<name>.<metric>`, and `recovery` for every window). */
const WINDOW_METRICS: Record<string, { kind: Kind; label: string; get(w: WindowMeasure): number | undefined }> = {
  recovery: { kind: 'latency', label: 'recovery time', get: (w) => w.recovery.ms },
  success_rate: { kind: 'ratio', label: 'success rate', get: (w) => w.effect.successRate },
  error_rate: { kind: 'ratio', label: 'error rate', get: (w) => (w.effect.successRate === undefined ? undefined : 1 - w.effect.successRate) },
  status_2xx: { kind: 'ratio', label: '2xx share', get: (w) => share(w, w.effect.classes['2xx']) },
  status_3xx: { kind: 'ratio', label: '3xx share', get: (w) => share(w, w.effect.classes['3xx']) },
  status_4xx: { kind: 'ratio', label: '4xx share', get: (w) => share(w, w.effect.classes['4xx']) },
  status_5xx: { kind: 'ratio', label: '5xx share', get: (w) => share(w, w.effect.classes['5xx']) },
  timeouts: { kind: 'ratio', label: 'timeout share', get: (w) => share(w, w.effect.classes.timeout) },
  connection_errors: { kind: 'ratio', label: 'connection error share', get: (w) => share(w, w.effect.classes.connection) },
  expected: { kind: 'ratio', label: 'share of error answers as expected', get: (w) => w.effect.expectedShare },
  p95: { kind: 'latency', label: 'p95 response time', get: (w) => w.effect.p95 },
  requests: { kind: 'count', label: 'requests', get: (w) => w.effect.requests },
  faults: { kind: 'count', label: 'faults injected', get: (w) => Object.values(w.effect.injected).reduce((a, b) => a + b, 0) },
};

export const WINDOW_METRIC_NAMES = Object.keys(WINDOW_METRICS);

const ALIASES: Record<string, string> = {
  requests_per_second: 'rps',
  spps: 'pps',
  pages_per_second: 'pps',
  stps: 'tps',
  tests_per_second: 'tps',
  mean: 'avg',
  median: 'p50',
  med: 'p50',
  failures: 'errors',
  failed: 'errors',
};

export const METRIC_NAMES = Object.keys(METRICS);

export interface Threshold {
  metric: string;
  op: Op;
  /** In the metric's canonical unit (ms, 0..1, /s, count). */
  value: number;
  scope: Scope;
  /** Scope `window`: the windows of this name only (all windows when absent). */
  window?: string;
  /** The expression as written, for messages and test names. */
  expr: string;
  path: (string | number)[];
}

export class ThresholdError extends Error {
  constructor(readonly path: (string | number)[], readonly problem: string, readonly hint?: string) {
    super(`${path.join('.')}: ${problem}${hint ? ` (${hint})` : ''}`);
    this.name = 'ThresholdError';
  }
}

const EXPR = /^\s*(<=|>=|==|!=|=|<|>)\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*([a-zµ%/]+)?\s*(?:(per|each|every)\s+cycle)?\s*$/i;

const HINTS: Record<Kind, string> = {
  latency: 'e.g. "< 300ms", "<= 1.5s" (no unit means ms)',
  ratio: 'e.g. ">= 99%" or ">= 0.99"',
  rate: 'e.g. ">= 100" or ">= 100/s"',
  count: 'e.g. "< 10"',
  score: 'an Apdex score between 0 and 1, e.g. ">= 0.85"',
};

/** Parse one expression for one metric. Pure; throws ThresholdError with `path`. */
export function parseThreshold(metricKey: string, expr: unknown, path: (string | number)[], scope: Scope = 'overall', window?: string): Threshold {
  const metric = scope === 'window' ? metricKey : (ALIASES[metricKey] ?? metricKey);
  const def = scope === 'window' ? WINDOW_METRICS[metric] : METRICS[metric];
  if (!def) {
    const names = scope === 'window' ? WINDOW_METRIC_NAMES : [...METRIC_NAMES, 'recovery', 'during'];
    throw new ThresholdError(path, `unknown threshold metric "${metricKey}"${window ? ` for fault window ${window}` : ''}`, `one of ${names.join(', ')}`);
  }
  const text = typeof expr === 'number' ? `>= ${expr}` : expr;
  if (typeof text !== 'string') {
    throw new ThresholdError(path, `expected an expression string, got ${expr === null ? 'null' : typeof expr}`, HINTS[def.kind]);
  }
  const m = EXPR.exec(text);
  if (!m) throw new ThresholdError(path, `cannot read threshold "${text}"`, `an operator, a number and a unit: ${HINTS[def.kind]}`);
  const op = (m[1] === '=' ? '==' : m[1]) as Op;
  let value = Number(m[2]);
  const unit = (m[3] ?? '').toLowerCase();
  if (m[4] && scope === 'window') throw new ThresholdError(path, `"${text}": a fault window's threshold cannot be per cycle`, 'drop "per cycle"');
  const sc: Scope = m[4] ? 'cycle' : scope;
  const bad = (why: string) => new ThresholdError(path, `${why} in "${text}"`, HINTS[def.kind]);
  switch (def.kind) {
    case 'latency':
      if (unit === 's') value *= 1000;
      else if (unit === 'us' || unit === 'µs') value /= 1000;
      else if (unit !== '' && unit !== 'ms') throw bad(`"${unit}" is not a time unit (ms, s, us)`);
      if (value < 0) throw bad('a negative time');
      break;
    case 'ratio':
      if (unit === '%') value /= 100;
      else if (unit !== '') throw bad(`"${unit}" is not a unit for a rate (use %)`);
      else if (value > 1) value /= 100; // "99" reads as 99 %
      if (value < 0 || value > 1) throw bad('a rate outside 0..100%');
      break;
    case 'rate':
      if (unit !== '' && unit !== '/s' && unit !== 'rps') throw bad(`"${unit}" is not a unit for a throughput (none or /s)`);
      if (value < 0) throw bad('a negative throughput');
      break;
    case 'count':
      if (unit !== '') throw bad(`a count takes no unit, found "${unit}"`);
      if (!Number.isInteger(value) || value < 0) throw bad('a count must be a whole number ≥ 0');
      break;
    case 'score':
      if (unit !== '') throw bad(`an Apdex score takes no unit, found "${unit}"`);
      if (value < 0 || value > 1) throw bad('an Apdex score outside 0..1');
      break;
  }
  return { metric, op, value, scope: sc, ...(window !== undefined ? { window } : {}), expr: text.trim(), path };
}

/**
 * Parse a whole `thresholds:` section: metric → expression, or a list of expressions, plus an
 * optional `per_cycle:` map of the same shape.
 */
export function parseThresholds(raw: unknown, path: (string | number)[] = ['thresholds']): Threshold[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ThresholdError(path, 'expected a map of metric: expression', 'e.g. {success_rate: ">= 99%", p95: "< 300ms"}');
  }
  const out: Threshold[] = [];
  const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const add = (key: string, v: unknown, at: (string | number)[], scope: Scope, window?: string) => {
    if (Array.isArray(v)) {
      if (v.length === 0) throw new ThresholdError(at, 'an empty list of expressions');
      v.forEach((e, i) => out.push(parseThreshold(key, e, [...at, i], scope, window)));
    } else out.push(parseThreshold(key, v, at, scope, window));
  };
  const during = (windowName: string, v: unknown, at: (string | number)[]) => {
    if (!isMap(v)) throw new ThresholdError(at, `expected a map of metric: expression for fault window ${windowName}`, 'e.g. {status_5xx: "< 100%", recovery: "< 5s"}');
    for (const [key, e] of Object.entries(v)) add(key, e, [...at, key], 'window', windowName);
  };
  const section = (obj: Record<string, unknown>, base: (string | number)[], scope: Scope) => {
    for (const [key, v] of Object.entries(obj)) {
      if (key === 'per_cycle' && scope === 'overall') {
        if (!isMap(v)) throw new ThresholdError([...base, key], 'expected a map of metric: expression');
        section(v, [...base, key], 'cycle');
      } else if (key === 'during' && scope === 'overall') {
        if (!isMap(v)) throw new ThresholdError([...base, key], 'expected a map of fault window: {metric: expression}', 'e.g. during: {redis_blackout: {status_5xx: "< 100%"}}');
        for (const [name, m] of Object.entries(v)) during(name, m, [...base, key, name]);
      } else if (key.startsWith('during.') && scope === 'overall') {
        // during.<window>.<metric>: the window name may not hold a dot, the metric never does.
        const rest = key.slice('during.'.length);
        const dot = rest.lastIndexOf('.');
        if (dot <= 0 || dot === rest.length - 1) throw new ThresholdError([...base, key], `cannot read "${key}"`, 'write during.<fault window>.<metric>, e.g. during.redis_blackout.status_5xx');
        add(rest.slice(dot + 1), v, [...base, key], 'window', rest.slice(0, dot));
      } else if (key === 'recovery' && scope === 'overall') {
        add(key, v, [...base, key], 'window');
      } else add(key, v, [...base, key], scope);
    }
  };
  section(raw as Record<string, unknown>, path, 'overall');
  return out;
}

/**
 * A zod schema for the section, for embedding in the .marteau.yml schema: the value stays as
 * written, and every bad expression becomes an issue at its own path.
 */
export const thresholdsSchema = z
  .record(z.string(), z.unknown())
  .superRefine((v, ctx) => {
    try {
      parseThresholds(v, []);
    } catch (e) {
      if (!(e instanceof ThresholdError)) throw e;
      ctx.addIssue({ code: 'custom', path: e.path, message: e.hint ? `${e.problem}; ${e.hint}` : e.problem });
    }
  })
  .describe('pass/fail conditions, e.g. {success_rate: ">= 99%", p95: "< 300ms", p99: "< 1s per cycle"}');

// ---------------------------------------------------------------------------------------------
// Evaluation

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
  const kind = (METRICS[ALIASES[metric] ?? metric] ?? WINDOW_METRICS[metric])?.kind;
  switch (kind) {
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
  const def = METRICS[t.metric];
  const scoped = t.scope === 'cycle' && !/cycle\s*$/i.test(t.expr) ? `${t.expr} per cycle` : t.expr;
  const name = `${t.metric} ${scoped}`.replace(/\s+/g, ' ');
  if (t.scope === 'overall') {
    const actual = def.get(summary.overall);
    // Nothing measured (e.g. no request finished) cannot prove a condition: it fails.
    const passed = actual !== undefined && compare(actual, t.op, t.value);
    return { threshold: t, passed, actual, name, message: `${name}: ${formatValue(t.metric, actual)}${passed ? '' : ' (failed)'}` };
  }
  const cycles: CycleVerdict[] = summary.cycles.map((c) => {
    const actual = def.get(c);
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
  const def = WINDOW_METRICS[t.metric];
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
    const actual = def.get(w);
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

export function evaluateThresholds(ts: Threshold[], summary: RunSummary): ThresholdResult[] {
  return ts.map((t) => evaluateThreshold(t, summary));
}
