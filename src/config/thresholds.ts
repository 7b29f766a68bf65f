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
import { didYouMean } from '../text/closest.js';

export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';
/** `window`: judged on each fault window (all of them, or those of one name). */
export type Scope = 'overall' | 'cycle' | 'window';

export type Kind = 'latency' | 'ratio' | 'rate' | 'count' | 'score';

interface MetricDef {
  kind: Kind;
  label: string;
}

/** Canonical metric names; values are in ms (latency), 0..1 (ratio, score), per second, or counts. */
const METRICS: Record<string, MetricDef> = {
  success_rate: { kind: 'ratio', label: 'success rate' },
  error_rate: { kind: 'ratio', label: 'error rate' },
  rps: { kind: 'rate', label: 'requests/s' },
  pps: { kind: 'rate', label: 'successful pages/s' },
  tps: { kind: 'rate', label: 'successful tests/s' },
  min: { kind: 'latency', label: 'min response time' },
  avg: { kind: 'latency', label: 'average response time' },
  max: { kind: 'latency', label: 'max response time' },
  p10: { kind: 'latency', label: 'p10 response time' },
  p50: { kind: 'latency', label: 'median response time' },
  p90: { kind: 'latency', label: 'p90 response time' },
  p95: { kind: 'latency', label: 'p95 response time' },
  p99: { kind: 'latency', label: 'p99 response time' },
  apdex: { kind: 'score', label: 'Apdex' },
  requests: { kind: 'count', label: 'requests' },
  errors: { kind: 'count', label: 'failed requests' },
};


/** Metrics of one fault window (`during.<name>.<metric>`, and `recovery` for every window). */
const WINDOW_METRICS: Record<string, MetricDef> = {
  recovery: { kind: 'latency', label: 'recovery time' },
  success_rate: { kind: 'ratio', label: 'success rate' },
  error_rate: { kind: 'ratio', label: 'error rate' },
  status_2xx: { kind: 'ratio', label: '2xx share' },
  status_3xx: { kind: 'ratio', label: '3xx share' },
  status_4xx: { kind: 'ratio', label: '4xx share' },
  status_5xx: { kind: 'ratio', label: '5xx share' },
  timeouts: { kind: 'ratio', label: 'timeout share' },
  connection_errors: { kind: 'ratio', label: 'connection error share' },
  expected: { kind: 'ratio', label: 'share of error answers as expected' },
  p95: { kind: 'latency', label: 'p95 response time' },
  requests: { kind: 'count', label: 'requests' },
  faults: { kind: 'count', label: 'faults injected' },
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

/** The kind (and so the unit) of a metric, by any of its names. */
export function metricKind(metric: string): Kind | undefined {
  return (METRICS[ALIASES[metric] ?? metric] ?? WINDOW_METRICS[metric])?.kind;
}

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
    const names = scope === 'window' ? WINDOW_METRIC_NAMES : scope === 'cycle' ? METRIC_NAMES : [...METRIC_NAMES, 'recovery', 'during', 'per_cycle'];
    // Aliases count for the suggestion (`mediam` is `median`), not for the list: one name each there.
    const near = didYouMean(metricKey, scope === 'window' ? names : [...names, ...Object.keys(ALIASES)]);
    throw new ThresholdError(path, `unknown threshold metric "${metricKey}"${window ? ` for fault window ${window}` : ''}${near}`, `one of ${names.join(', ')}`);
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
      ctx.addIssue({ code: 'custom', path: e.path, message: e.problem, params: e.hint ? { hint: e.hint } : undefined });
    }
  })
  .describe('pass/fail conditions, e.g. {success_rate: ">= 99%", p95: "< 300ms", p99: "< 1s per cycle"}');

