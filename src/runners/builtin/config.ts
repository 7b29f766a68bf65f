/**
 * The builtin runner's config section, as a zod schema the engine embeds in the .marteau.yml
 * schema. Keys and meanings are FunkLoad's `[bench]` ones (seconds), so a FunkLoad user reads a
 * marteau config without a dictionary:
 *
 *   cycles: [5, 10, 20]      # or "5:10:20", concurrent virtual users per cycle
 *   duration: 10             # recording time per cycle
 *   startup_delay: 0.01      # between two user starts
 *   sleep_time: 0.2          # pause between two runs of the scenario by one user
 *   sleep_time_min: 0        # random pause after each page: min + (max-min)·random()
 *   sleep_time_max: 0.5
 *   cycle_time: 1            # pause after each cycle
 *   base_url: http://127.0.0.1:8000
 *   scenario:
 *     - {get: /, expect: 200}
 *     - {post: /cart, json: {item: 1}, expect: [200, 201]}
 */
import { z } from 'zod';
import { httpUrlSchema } from '../../config/http-url.js';
import { secondsSchema } from '../../config/units.js';
import { closest } from '../../text/closest.js';
import { DEFAULT_APDEX_T } from '../results.js';

export const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** FunkLoad's default ok_codes: what a step expects when it says nothing. */
export const DEFAULT_OK_CODES = [200, 301, 302, 303, 307];

// Limits that keep a config typo from becoming a runaway run.
export const LIMITS = {
  maxUsers: 10_000,
  maxCycles: 100,
  maxDuration: 24 * 3600,
  maxSteps: 100,
  maxSleep: 3600,
};

/** Seconds as FunkLoad gives them (`0.5`), or with a unit as every other duration key (`500ms`, `2m`). */
const seconds = (max: number, positive = false) => secondsSchema({ max, positive });
const status = z.number().int().min(100).max(599);

/** Apdex T, for every runner that reports one (builtin, funkload, locust). */
export const apdexTSchema = seconds(600, true).default(DEFAULT_APDEX_T).describe('Apdex T: seconds (FunkLoad default 1.5), or with a unit (500ms)');

export const cyclesSchema = z
  .union([
    z.array(z.number().int().min(1).max(LIMITS.maxUsers)).min(1).max(LIMITS.maxCycles),
    z.number().int().min(1).max(LIMITS.maxUsers).transform((n) => [n]),
    z.string().transform((s, ctx) => {
      // FunkLoad's colon list, "10:20:30".
      const parts = s.split(':').map((p) => p.trim());
      if (!parts.every((p) => /^\d+$/.test(p))) {
        ctx.addIssue({ code: 'custom', message: `cycles "${s}" is not a colon list of user counts, e.g. "5:10:20"` });
        return z.NEVER;
      }
      const n = parts.map(Number);
      if (n.some((x) => x < 1 || x > LIMITS.maxUsers) || n.length > LIMITS.maxCycles) {
        ctx.addIssue({ code: 'custom', message: `cycles: each count must be 1..${LIMITS.maxUsers}, at most ${LIMITS.maxCycles} cycles` });
        return z.NEVER;
      }
      return n;
    }),
  ], { error: `expected the users of each cycle: a list such as [5, 10, 20] or FunkLoad's "5:10:20" (1..${LIMITS.maxUsers} users, at most ${LIMITS.maxCycles} cycles)` })
  .describe('concurrent virtual users per cycle: a list [5, 10, 20] or FunkLoad\'s "5:10:20"');

const path = z.string().min(1).optional();
const stepShape = {
  get: path,
  post: path,
  put: path,
  patch: path,
  delete: path,
  head: path,
  options: path,
  method: z.string().optional(),
  path,
  headers: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).optional(),
  body: z.string().optional(),
  json: z.unknown().optional(),
  expect: z.union([status, z.array(status).min(1)]).optional(),
  description: z.string().optional(),
  name: z.string().optional(),
};

/** The keys a scenario step may have, for "did you mean" and the list the error shows. */
export const STEP_KEYS: readonly string[] = Object.keys(stepShape);

/** The keys allowed at a path of the builtin runner's own sections (a scenario step's), for the loader's hints. */
export function builtinKnownKeysAt(p: readonly (string | number)[]): readonly string[] | undefined {
  return p.length === 2 && p[0] === 'scenario' && typeof p[1] === 'number' ? STEP_KEYS : undefined;
}

export interface ScenarioStep {
  method: Uppercase<HttpMethod>;
  /** Path (joined to base_url) or absolute http(s) URL. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  expect: number[];
  description: string;
}

export const stepSchema = z
  .strictObject(stepShape)
  .transform((s, ctx): ScenarioStep => {
    const given = HTTP_METHODS.filter((m) => s[m] !== undefined);
    let method: string | undefined;
    let path: string | undefined;
    if (given.length > 1) {
      ctx.addIssue({ code: 'custom', message: `a step has one method, found ${given.join(' and ')}` });
      return z.NEVER;
    }
    if (given.length === 1) {
      method = given[0];
      path = s[given[0]];
      if (s.method !== undefined || s.path !== undefined) {
        ctx.addIssue({ code: 'custom', message: `use either "${given[0]}: <path>" or "method:"/"path:", not both` });
        return z.NEVER;
      }
    } else {
      method = s.method?.toLowerCase();
      path = s.path;
    }
    if (!method || !path) {
      // `{gt: /}`: the misspelt key, reported with its fix, is the one mistake.
      const misspelt = ctx.issues.some((i) => i.code === 'unrecognized_keys' && i.keys.some((k) => closest(k, [...HTTP_METHODS, 'method', 'path']) !== undefined));
      if (misspelt) return z.NEVER;
      ctx.addIssue({ code: 'custom', message: 'a step needs a method and a path, e.g. {get: /items} or {method: PUT, path: /items/1}' });
      return z.NEVER;
    }
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      ctx.addIssue({ code: 'custom', path: ['method'], message: `unknown method "${s.method}"; one of ${HTTP_METHODS.join(', ')}` });
      return z.NEVER;
    }
    if (!path.startsWith('/') && !/^https?:\/\//i.test(path)) {
      ctx.addIssue({ code: 'custom', path: [given[0] ?? 'path'], message: `path "${path}" must start with / or be an http(s) URL` });
      return z.NEVER;
    }
    if (s.body !== undefined && s.json !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give "body" or "json", not both' });
      return z.NEVER;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.headers ?? {})) headers[k.toLowerCase()] = v;
    let body = s.body;
    if (s.json !== undefined) {
      body = JSON.stringify(s.json);
      headers['content-type'] ??= 'application/json';
    }
    const expect = s.expect === undefined ? DEFAULT_OK_CODES : Array.isArray(s.expect) ? s.expect : [s.expect];
    return {
      method: method.toUpperCase() as Uppercase<HttpMethod>,
      path,
      headers,
      body,
      expect,
      description: s.description ?? s.name ?? `${method.toUpperCase()} ${path}`,
    };
  });

export const builtinConfigSchema = z
  .object({
    cycles: cyclesSchema.default([1]),
    duration: seconds(LIMITS.maxDuration).default(10).describe('recording time per cycle: seconds, or with a unit (30s, 2m); default 10'),
    startup_delay: seconds(LIMITS.maxSleep).default(0.01).describe('pause between two user starts: seconds, or with a unit (10ms); default 0.01'),
    sleep_time: seconds(LIMITS.maxSleep).default(0).describe('pause between two runs of the scenario by one user: seconds, or with a unit (500ms); default 0'),
    sleep_time_min: seconds(LIMITS.maxSleep).default(0).describe('minimum random pause after each page: seconds, or with a unit'),
    sleep_time_max: seconds(LIMITS.maxSleep).default(0).describe('maximum random pause after each page: seconds, or with a unit'),
    cycle_time: seconds(LIMITS.maxSleep).default(0).describe('pause after each cycle: seconds, or with a unit'),
    base_url: httpUrlSchema('base_url').optional().describe('server under test; scenario paths are joined to it'),
    url: httpUrlSchema('url').optional().describe('alias of base_url (FunkLoad [main] url)'),
    scenario: z.array(stepSchema).min(1).max(LIMITS.maxSteps).describe('HTTP steps one virtual user runs in order'),
    apdex_t: apdexTSchema,
    // Not `timeout`: that key is the whole job's limit.
    request_timeout: seconds(3600, true).default(30).describe('how long a request may take before it counts as an error: seconds, or with a unit (5s, 500ms); default 30'),
  })
  .superRefine((c, ctx) => {
    if (typeof c.sleep_time_max === 'number' && typeof c.sleep_time_min === 'number' && c.sleep_time_max < c.sleep_time_min) {
      ctx.addIssue({ code: 'custom', path: ['sleep_time_max'], message: 'sleep_time_max is below sleep_time_min' });
    }
    if (c.base_url && c.url && c.base_url !== c.url) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'base_url and url are the same setting; keep one' });
    }
    // Refinements also run over partly invalid input: look before touching.
    const needsBase = Array.isArray(c.scenario) && c.scenario.some((s) => typeof s?.path === 'string' && s.path.startsWith('/'));
    if (needsBase && !c.base_url && !c.url) {
      ctx.addIssue({ code: 'custom', path: ['base_url'], message: 'scenario paths start with / but no base_url is set' });
    }
  });

export type BuiltinConfig = z.output<typeof builtinConfigSchema>;
