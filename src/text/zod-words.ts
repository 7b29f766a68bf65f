/**
 * zod's validation issues worded for a person (a config file's editor, an API's caller): what
 * was expected and what was given, without zod's own phrasing.
 */
import type { z } from 'zod';
import { didYouMean } from './closest.js';

/** A zod issue in words for a person: zod's own messages ("Too small: expected number to be >=0") read as code. */
export function describeIssue(issue: z.core.$ZodIssue, actual: unknown): string {
  // A message written in a schema (`{ error: ... }`, refine) already says it best.
  if (issue.message && !/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(issue.expected)}, got ${describeValue(actual)}`;
    case 'invalid_value':
      // A misspelt word of a list (`protocol: htpt`) gets its fix, as a misspelt key does.
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(actual)}${typeof actual === 'string' ? didYouMean(actual, issue.values.filter((v): v is string => typeof v === 'string')) : ''}`;
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

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a map';
}

/** The value at `path` inside `data`; undefined where the path leads nowhere. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}
