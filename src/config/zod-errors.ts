/**
 * Turns a zod validation failure into a ConfigError at the right file:line:col (one per problem,
 * up to a few), worded for a person editing YAML: what is wrong, what was expected, and a nearby
 * key when one was misspelt.
 */
import type { z } from 'zod';
import { closest, didYouMean } from '../text/closest.js';
import { describeIssue, valueAt } from '../text/zod-words.js';
import { ConfigErrors } from './config-error.js';
import { errorAt, locate, type ConfigError, type SourceDoc } from './errors.js';

/** For the CLI's own did-you-mean (unknown commands), which loads this module when it needs one. */
export { closest };

type Issue = z.core.$ZodIssue;

export interface IssueContext {
  /** Known keys of the map at `path` (for "did you mean"). */
  knownKeys?: (path: readonly (string | number)[]) => readonly string[] | undefined;
  /** A hint for the key at `path`. */
  hint?: (path: readonly (string | number)[]) => string | undefined;
}

export function zodToConfigError(src: SourceDoc, data: unknown, error: z.ZodError, ctx: IssueContext = {}): ConfigError {
  // Each problem in the order a reader meets it, top to bottom in the file.
  const issues = withoutMisspeltMissing(error.issues.flatMap(fromUnion).flatMap(perKey), data, ctx).sort((a, b) => position(src, a) - position(src, b));
  const errors: ConfigError[] = [];
  for (const issue of issues) {
    const e = issueError(src, data, issue, ctx);
    if (!errors.some((o) => o.message === e.message)) errors.push(e);
  }
  return errors.length === 1 ? errors[0] : new ConfigErrors(errors);
}

function issueError(src: SourceDoc, data: unknown, issue: Issue, ctx: IssueContext): ConfigError {
  const path = issue.path as (string | number)[];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const known = ctx.knownKeys?.(path) ?? [];
    return errorAt(
      src,
      [...path, key],
      `unknown key "${key}"${didYouMean(key, nearFirst(known, valueAt(data, path)))}`,
      known.length ? `known keys here: ${known.join(', ')}` : ctx.hint?.(path),
      true,
    );
  }
  if (issue.code === 'invalid_key') {
    // A map key broke its rule (e.g. an env name with a space): point at the key itself.
    const inner = issue.issues[0]?.message ?? 'invalid key';
    return errorAt(src, path, inner, ctx.hint?.(path), true);
  }
  const actual = valueAt(data, path);
  // A schema's own check may carry its hint (`params.hint`): it knows the expression it read.
  const own = issue.code === 'custom' ? (issue.params as { hint?: unknown } | undefined)?.hint : undefined;
  const hint = typeof own === 'string' ? own : ctx.hint?.(path);
  if (actual === undefined && isMissing(issue)) {
    const key = path[path.length - 1];
    return errorAt(src, path.slice(0, -1), `missing required key "${String(key)}"`, hint);
  }
  return errorAt(src, path, describeIssue(issue, actual), hint);
}

/**
 * The issues of the one alternative of a union that the value has the shape of: zod reports a
 * union that fails as a whole, so a typo deep inside a list of chaos entries (`ramp: {behaviour:
 * ...}`) or a sweep's options read 'chaos: unexpected value a list'. The alternatives that
 * failed at their top on the type (a string where a list was given) are not what was meant;
 * when just one is left, its issues are the mistakes, at their own keys.
 */
function fromUnion(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const fitting = issue.errors
    .map((branch) => branch.flatMap(fromUnion))
    .filter((branch) => !branch.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_union')));
  if (fitting.length !== 1) return [issue];
  return fitting[0].map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
}

/** One issue per unknown key: zod gives one for all the unknown keys of a map. */
function perKey(issue: Issue): Issue[] {
  return issue.code === 'unrecognized_keys' && issue.keys.length > 1 ? issue.keys.map((k) => ({ ...issue, keys: [k] })) : [issue];
}

/**
 * Without the required keys reported missing where the same map has an unknown key spelt like
 * them (`upstrem:` for `upstream:`): the misspelling is the one mistake, shown with its fix.
 */
function withoutMisspeltMissing(issues: Issue[], data: unknown, ctx: IssueContext): Issue[] {
  return issues.filter((missing) => {
    if (!isMissing(missing) || missing.path.length === 0 || valueAt(data, missing.path as (string | number)[]) !== undefined) return true;
    const parent = missing.path.slice(0, -1);
    const key = String(missing.path[missing.path.length - 1]);
    const known = nearFirst(ctx.knownKeys?.(parent as (string | number)[]) ?? [key], valueAt(data, parent as (string | number)[]));
    return !issues.some((u) => u.code === 'unrecognized_keys' && samePath(u.path, parent) && u.keys.some((k) => closest(k, known) === key));
  });
}

/** A value required and not given: its type's check (a duration is a union of number and string) fails on nothing. */
function isMissing(issue: Issue): boolean {
  return issue.code === 'invalid_type' || issue.code === 'invalid_union';
}

/**
 * The known keys of a map, those it lacks first: `flap: {on: 1s, of: 1s}` means `off`, not the
 * `on` already there, though both are one letter away.
 */
function nearFirst(known: readonly string[], map: unknown): readonly string[] {
  const given = map !== null && typeof map === 'object' ? Object.keys(map) : [];
  return [...known.filter((k) => !given.includes(k)), ...known.filter((k) => given.includes(k))];
}

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function position(src: SourceDoc, issue: Issue): number {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  const { line, col } = locate(src, path as (string | number)[], issue.code === 'unrecognized_keys');
  return (line ?? 0) * 10_000 + (col ?? 0);
}
