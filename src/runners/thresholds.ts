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
 *
 * Parsing is pure and strict: a bad expression throws a ThresholdError carrying the path of the
 * offending value, which the config loader turns into file:line.
 */
import { z } from 'zod';
import type { CycleSummary, RunSummary } from './results.js';

export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type Scope = 'overall' | 'cycle';

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
  apdex: { kind: 'score', label: 'Apdex', get: (c) => (c.requests.total ? c.requests.apdex.score : undefined) },
  requests: { kind: 'count', label: 'requests', get: (c) => c.requests.total },
  errors: { kind: 'count', label: 'failed requests', get: (c) => c.requests.total - c.requests.success },
};

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
export function parseThreshold(metricKey: string, expr: unknown, path: (string | number)[], scope: Scope = 'overall'): Threshold {
  const metric = ALIASES[metricKey] ?? metricKey;
  const def = METRICS[metric];
  if (!def) {
    throw new ThresholdError(path, `unknown threshold metric "${metricKey}"`, `one of ${METRIC_NAMES.join(', ')}`);
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
  return { metric, op, value, scope: sc, expr: text.trim(), path };
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
  const section = (obj: Record<string, unknown>, base: (string | number)[], scope: Scope) => {
    for (const [key, v] of Object.entries(obj)) {
      if (key === 'per_cycle' && scope === 'overall') {
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ThresholdError([...base, key], 'expected a map of metric: expression');
        section(v as Record<string, unknown>, [...base, key], 'cycle');
        continue;
      }
      if (Array.isArray(v)) {
        if (v.length === 0) throw new ThresholdError([...base, key], 'an empty list of expressions');
        v.forEach((e, i) => out.push(parseThreshold(key, e, [...base, key, i], scope)));
      } else out.push(parseThreshold(key, v, [...base, key], scope));
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
  const kind = METRICS[ALIASES[metric] ?? metric]?.kind;
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

export function evaluateThresholds(ts: Threshold[], summary: RunSummary): ThresholdResult[] {
  return ts.map((t) => evaluateThreshold(t, summary));
}
