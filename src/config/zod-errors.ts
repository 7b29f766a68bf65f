/**
 * Turns a zod validation failure into one ConfigError at the right file:line:col, worded for a
 * person editing YAML: what is wrong, what was expected, and a nearby key when one was misspelt.
 */
import type { z } from 'zod';
import { errorAt, locate, type ConfigError, type SourceDoc } from './errors.js';

type Issue = z.core.$ZodIssue;

export interface IssueContext {
  /** Known keys of the map at `path` (for "did you mean"). */
  knownKeys?: (path: readonly (string | number)[]) => readonly string[] | undefined;
  /** A hint for the key at `path`. */
  hint?: (path: readonly (string | number)[]) => string | undefined;
}

export function zodToConfigError(src: SourceDoc, data: unknown, error: z.ZodError, ctx: IssueContext = {}): ConfigError {
  // Report the problem a reader meets first, top to bottom in the file.
  const issues = [...error.issues].sort((a, b) => position(src, a) - position(src, b));
  const issue = misspeltInstead(issues, data, ctx) ?? issues[0];
  const path = issue.path as (string | number)[];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const known = ctx.knownKeys?.(path) ?? [];
    const near = closest(key, known);
    return errorAt(
      src,
      [...path, key],
      `unknown key "${key}"${near ? `; did you mean "${near}"?` : ''}${more}`,
      known.length ? `known keys here: ${known.join(', ')}` : ctx.hint?.(path),
      true,
    );
  }
  if (issue.code === 'invalid_key') {
    // A map key broke its rule (e.g. an env name with a space): point at the key itself.
    const inner = issue.issues[0]?.message ?? 'invalid key';
    return errorAt(src, path, `${inner}${more}`, ctx.hint?.(path), true);
  }
  const actual = valueAt(data, path);
  // A schema's own check may carry its hint (`params.hint`): it knows the expression it read.
  const own = issue.code === 'custom' ? (issue.params as { hint?: unknown } | undefined)?.hint : undefined;
  const hint = typeof own === 'string' ? own : ctx.hint?.(path);
  if (actual === undefined && issue.code === 'invalid_type') {
    const key = path[path.length - 1];
    return errorAt(src, path.slice(0, -1), `missing required key "${String(key)}"${more}`, hint);
  }
  return errorAt(src, path, `${describeIssue(issue, actual)}${more}`, hint);
}

/**
 * A required key reported missing where the same map has an unknown key spelt like it
 * (`upstrem:` for `upstream:`): the misspelling is the mistake to point at, on its own line.
 */
function misspeltInstead(issues: Issue[], data: unknown, ctx: IssueContext): Issue | undefined {
  for (const missing of issues) {
    if (missing.code !== 'invalid_type' || missing.path.length === 0 || valueAt(data, missing.path as (string | number)[]) !== undefined) continue;
    const parent = missing.path.slice(0, -1);
    const key = String(missing.path[missing.path.length - 1]);
    const known = ctx.knownKeys?.(parent as (string | number)[]) ?? [key];
    const typo = issues.find(
      (u) => u.code === 'unrecognized_keys' && samePath(u.path, parent) && u.keys.some((k) => closest(k, known) === key),
    );
    if (typo?.code === 'unrecognized_keys') return { ...typo, keys: typo.keys.filter((k) => closest(k, known) === key) };
  }
  return undefined;
}

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function describeIssue(issue: Issue, actual: unknown): string {
  // A message written in a schema (`{ error: ... }`, refine) already says it best.
  if (issue.message && !/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(issue.expected)}, got ${describeValue(actual)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(actual)}`;
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `too short: at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'entries' : 'characters'}`
        : `must be ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}, got ${describeValue(actual)}`;
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `too long: at most ${String(issue.maximum)} ${issue.origin === 'array' ? 'entries' : 'characters'}`
        : `must be ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}, got ${describeValue(actual)}`;
    case 'invalid_union':
      return `unexpected value ${describeValue(actual)}`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  const names: Record<string, string> = {
    int: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    array: 'a list',
    object: 'a map',
    record: 'a map',
  };
  return names[expected] ?? expected;
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a map';
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function position(src: SourceDoc, issue: Issue): number {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  const { line, col } = locate(src, path as (string | number)[], issue.code === 'unrecognized_keys');
  return (line ?? 0) * 10_000 + (col ?? 0);
}

/** The known key closest to a misspelt one (edit distance <= 2), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
