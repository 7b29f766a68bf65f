/**
 * `chaos: sweep` in .marteau.yml (or `marteau-tui sweep`): instead of a hand-written schedule,
 * one that takes each backend of the project through each fault kind in turn under steady load,
 * with a recovery gap after each, so one run answers "what do users get when X is down / slow /
 * answering errors / restarted, and does the app come back?". Pure: the same backends, options
 * and seed give the same schedule, which is what makes a sweep replayable.
 *
 *   chaos: sweep
 *   chaos:
 *     sweep: {step: 3s, gap: 4s, only: [redis], backends: {redis: {expect: 5xx, within: 1s}}}
 *
 * Backends: every proxy (down = 100 % blackout, slow = 100 % delay, errors = 100 % the
 * protocol's own error), and every service the app under test depends on (a service the load
 * does not target and that names no proxy) gets one real process fault. A proxy pointing at
 * such a service is one backend with it: its row has both kinds of cells.
 */
import { z } from 'zod';
import { seededRandom } from '../proxy/random.js';
import { SERVICE_FAULTS, type ChaosEntry, type ServiceFaultEntry, type ServiceFaultKind } from './chaos.js';
import { errorAt, type SourceDoc } from './errors.js';
import { expectList, expectSchema } from './recovery.js';
import { serviceVars, type ServiceSpec } from './services.js';
import { durationMs, durationSchema } from './units.js';

import { SWEEP_KINDS, type SweepKind } from './sweep-kinds.js';

export { SWEEP_KINDS, type SweepKind };

const backendSchema = z
  .object({
    expect: expectSchema.optional().describe('what users should get while it fails, besides a success (default "5xx")'),
    within: durationSchema.optional().describe('how fast (p95) users must get that answer (default 1s)'),
  })
  .strict();

export const sweepOptionsSchema = z
  .object({
    step: durationSchema.optional().describe('how long each fault lasts (default 3s)'),
    gap: durationSchema.optional().describe('steady load after each fault, for the app to recover (default 4s)'),
    lead: durationSchema.optional().describe('steady load before the first fault: the baseline (default 3s)'),
    slow: durationSchema.optional().describe('the delay of the `slow` fault (default 2s)'),
    faults: z.array(z.enum(SWEEP_KINDS)).min(1).optional().describe('which fault kinds (default all: down, slow, errors, process)'),
    process: z.enum(SERVICE_FAULTS).optional().describe('the real fault of a service backend (default kill, started again after `step`)'),
    only: z.array(z.string()).min(1).optional().describe('sweep only these backends (proxy or service names)'),
    backends: z.record(z.string(), backendSchema).optional().describe('per backend: what users should get while it fails'),
    steady_state: z
      .object({
        success_rate: z.union([z.number().min(0).max(1), z.string().regex(/^\s*\d+(?:\.\d+)?\s*%\s*$/, 'a percentage, e.g. "99%"')]).optional().describe('at least this share of requests succeed (default 99%)'),
        p95: durationSchema.optional().describe('and p95 is at most this (default: no bound)'),
      })
      .strict()
      .optional()
      .describe('the hypothesis checked on the lead before any fault (unmet: no fault, exit 3) and on the end of the last gap'),
  })
  .strict();

export type SweepOptionsInput = z.infer<typeof sweepOptionsSchema>;

/** One cell of the matrix: a backend through one fault, and what users should get meanwhile. */
export interface SweepCell {
  /** The fault window's name (`<backend>-<kind>`). */
  name: string;
  backend: string;
  kind: SweepKind;
  /** What is hit: a proxy (faked) or a service's processes (real). */
  target: { proxy: string } | { service: string; fault: ServiceFaultKind };
  /** For people: "100 % blackout", "SIGKILL, started again after 3s". */
  fault: string;
  atMs: number;
  forMs: number;
  /** Besides success (2xx/3xx), the answers that meet the expectation ("5xx", "503", "timeout"...). */
  expect: string[];
  withinMs: number;
}

export interface SweepPlan {
  seed: string;
  stepMs: number;
  gapMs: number;
  leadMs: number;
  /** The delay of a `slow` cell. */
  slowMs: number;
  /** The steady state the load must show before the first fault and after the last. */
  steady: SteadyRules;
  /** From the start of the load to the end of the last gap. */
  lengthMs: number;
  cells: SweepCell[];
  /** Every backend and the kinds it cannot have (a service without a proxy: no down/slow/errors). */
  backends: { name: string; service?: string; proxy?: string }[];
  kinds: SweepKind[];
}

const DEFAULTS = { stepMs: 3000, gapMs: 4000, leadMs: 3000, slowMs: 2000, withinMs: 1000 };

export interface SweepInputs {
  proxies: readonly { name: string }[];
  /** Each proxy's upstream as written (before `${...}` expansion). */
  rawUpstreams: Readonly<Record<string, string>>;
  services: readonly ServiceSpec[];
  /** base_url as written: the service it names is the app under test, not a backend. */
  rawBaseUrl: string;
}

/** The schedule of a sweep; a ConfigError at `chaos.sweep...` for what cannot be swept. */
export function planSweep(src: SourceDoc, opts: SweepOptionsInput, inputs: SweepInputs, seed: string, at: (string | number)[]): SweepPlan {
  const refers = (text: string, service: string) => Object.keys(serviceVars(service, 0)).some((v) => text.includes(`\${${v}}`));
  const deps = inputs.services.filter((s) => !s.afterProxies && !refers(inputs.rawBaseUrl, s.name));
  const backends: SweepPlan['backends'] = inputs.proxies.map((p) => ({ name: p.name, proxy: p.name, service: deps.find((s) => refers(inputs.rawUpstreams[p.name] ?? '', s.name))?.name }));
  for (const s of deps) if (!backends.some((b) => b.service === s.name)) backends.push({ name: s.name, service: s.name });
  const names = new Set(backends.flatMap((b) => [b.name, ...(b.service ? [b.service] : [])]));
  for (const [i, o] of (opts.only ?? []).entries()) {
    if (!names.has(o)) throw errorAt(src, [...at, 'only', i], `"${o}" is not a backend of this project`, backends.length ? `backends: ${backends.map((b) => b.name).join(', ')}` : 'declare proxies or services');
  }
  for (const b of Object.keys(opts.backends ?? {})) {
    if (!names.has(b)) throw errorAt(src, [...at, 'backends', b], `"${b}" is not a backend of this project`, `backends: ${backends.map((x) => x.name).join(', ')}`);
  }
  const chosen = backends.filter((b) => !opts.only || opts.only.includes(b.name) || (b.service !== undefined && opts.only.includes(b.service)));
  if (!chosen.length) throw errorAt(src, at, 'nothing to sweep: no proxy and no backend service', 'put the backends behind `proxies:`, or start them as `services:`');
  const kinds = opts.faults ?? [...SWEEP_KINDS];
  const ms = (v: z.infer<typeof durationSchema> | undefined, d: number) => (v === undefined ? d : durationMs(v));
  const stepMs = ms(opts.step, DEFAULTS.stepMs);
  const gapMs = ms(opts.gap, DEFAULTS.gapMs);
  const leadMs = ms(opts.lead, DEFAULTS.leadMs);
  const slowMs = ms(opts.slow, DEFAULTS.slowMs);
  for (const [k, v] of [['step', stepMs], ['gap', gapMs], ['lead', leadMs], ['slow', slowMs]] as const) {
    if (v <= 0) throw errorAt(src, [...at, k], 'must be more than 0');
  }
  const process = opts.process ?? 'kill';
  const cells: Omit<SweepCell, 'atMs' | 'forMs'>[] = [];
  for (const b of chosen) {
    const own = opts.backends?.[b.name] ?? (b.service ? opts.backends?.[b.service] : undefined);
    const expect = own?.expect === undefined ? ['5xx'] : expectList(own.expect);
    const withinMs = own?.within === undefined ? DEFAULTS.withinMs : durationMs(own.within);
    const base = { backend: b.name, expect, withinMs };
    for (const kind of kinds) {
      if (kind === 'process') {
        if (b.service) cells.push({ ...base, name: `${b.name}-${process}`, kind, target: { service: b.service, fault: process }, fault: processText(process, stepMs) });
      } else if (b.proxy) {
        cells.push({ ...base, name: `${b.name}-${kind}`, kind, target: { proxy: b.proxy }, fault: kind === 'down' ? '100 % blackout' : kind === 'slow' ? `100 % delay ${slowMs / 1000}s` : "100 % the protocol's error" });
      }
    }
  }
  if (!cells.length) throw errorAt(src, [...at, 'faults'], `none of these fault kinds applies to ${chosen.map((b) => b.name).join(', ')}`, 'down, slow and errors need a proxy; process needs a service');
  // The seed orders the steps: a replay with it runs the same schedule.
  const random = seededRandom(`sweep/${seed}`);
  for (let i = cells.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [cells[i], cells[j]] = [cells[j], cells[i]];
  }
  // A service brought back still has to start (PostgreSQL: crash recovery): its gap is doubled.
  let t = leadMs;
  const timed = cells.map((c) => {
    const at = t;
    t += stepMs + (c.kind === 'process' ? 2 * gapMs : gapMs);
    return { ...c, atMs: at, forMs: stepMs };
  });
  return {
    seed,
    stepMs,
    gapMs,
    leadMs,
    slowMs,
    steady: steadyRules(opts.steady_state),
    lengthMs: t,
    cells: timed,
    backends: chosen,
    kinds,
  };
}

export interface SteadyRules {
  successRate: number;
  p95Ms?: number;
  /** Where the rules come from: `steady_state:`, the job's `thresholds:` (when no steady_state), or the default. */
  source: 'steady_state' | 'thresholds' | 'default';
}

export const DEFAULT_STEADY_SUCCESS_RATE = 0.99;

function steadyRules(s: SweepOptionsInput['steady_state']): SteadyRules {
  const rate = s?.success_rate === undefined ? DEFAULT_STEADY_SUCCESS_RATE : typeof s.success_rate === 'number' ? s.success_rate : Number.parseFloat(s.success_rate) / 100;
  return { successRate: rate, ...(s?.p95 === undefined ? {} : { p95Ms: durationMs(s.p95) }), source: s ? 'steady_state' : 'default' };
}

/** Whether a span of the load meets the steady state, and if not why ("success rate 80.0 % < 99 %"). */
export function steadyVerdict(r: { requests: number; ok: number; p95?: number }, rules: SteadyRules): { ok: boolean; successRate?: number; p95Ms?: number; why?: string } {
  if (!r.requests) return { ok: false, why: 'no request finished' };
  const successRate = r.ok / r.requests;
  const why: string[] = [];
  if (successRate < rules.successRate - 1e-9) why.push(`success rate ${(100 * successRate).toFixed(1)} % < ${(100 * rules.successRate).toFixed(1)} %`);
  if (rules.p95Ms !== undefined && r.p95 !== undefined && r.p95 > rules.p95Ms) why.push(`p95 ${Math.round(r.p95)}ms > ${rules.p95Ms}ms`);
  // Rules taken from `thresholds:` would puzzle a reader who wrote no steady_state: say so.
  const from = rules.source === 'thresholds' ? ' (steady state from thresholds:)' : '';
  return { ok: why.length === 0, successRate, ...(r.p95 === undefined ? {} : { p95Ms: r.p95 }), ...(why.length ? { why: `${why.join(', ')}${from}` } : {}) };
}

function processText(f: ServiceFaultKind, stepMs: number): string {
  const s = `${stepMs / 1000}s`;
  if (f === 'restart') return 'restart (stop, start again)';
  if (f === 'freeze') return `SIGSTOP for ${s}`;
  return `${f === 'kill' ? 'SIGKILL' : 'stop'}, started again after ${s}`;
}

/** The plan as `chaos:` entries the players run. */
export function sweepEntries(plan: SweepPlan): { chaos: ChaosEntry[]; serviceFaults: ServiceFaultEntry[] } {
  const chaos: ChaosEntry[] = [];
  const serviceFaults: ServiceFaultEntry[] = [];
  for (const c of plan.cells) {
    if ('service' in c.target) {
      serviceFaults.push({ name: c.name, service: c.target.service, fault: c.target.fault, atMs: c.atMs, ...(c.target.fault === 'restart' ? {} : { forMs: c.forMs }) });
      continue;
    }
    const behaviors = c.kind === 'down' ? '100:blackout' : c.kind === 'slow' ? { delay: { percent: 100, sleep: plan.slowMs / 1000 } } : '100:error';
    chaos.push({ name: c.name, proxy: c.target.proxy, atMs: c.atMs, forMs: c.forMs, shape: { kind: 'step', behaviors } });
  }
  return { chaos, serviceFaults };
}

/** `chaos:` as a sweep: `sweep`, or `{sweep: {...}}`; undefined for a list or a file name. */
export function sweepOptionsOf(chaos: unknown): SweepOptionsInput | undefined {
  if (chaos === 'sweep') return {};
  if (chaos && typeof chaos === 'object' && !Array.isArray(chaos) && 'sweep' in chaos) return (chaos as { sweep: SweepOptionsInput | null }).sweep ?? {};
  return undefined;
}

/** What of a config a sweep sets (a subset of MarteauConfig, kept here so config/marteau.ts stays small). */
export interface SweptConfig {
  runner: string;
  proxies: readonly { name: string }[];
  services: readonly ServiceSpec[];
  cycles?: number[];
  durationMs?: number;
  chaos: ChaosEntry[];
  serviceFaults: ServiceFaultEntry[];
  recovery: { windowMs: number; baselineMs: number; steadyStateMs?: number };
  raw: Record<string, unknown>;
  sweep?: SweepPlan;
}

/**
 * Turn a config with `chaos: sweep` into the run that sweeps: its schedule, and a load of one
 * cycle (the first cycle's users) lasting as long as the schedule. Recovery is judged on 1 s
 * spans against the steady state of the lead (before any fault), unless `recovery:` says otherwise.
 */
export function applySweep(src: SourceDoc, opts: SweepOptionsInput, rawData: Record<string, unknown>, config: SweptConfig, seed: string, recoverySet: { window: boolean; baseline: boolean }): void {
  const at = typeof rawData.chaos === 'string' ? ['chaos'] : ['chaos', 'sweep'];
  if (config.runner !== 'builtin') throw errorAt(src, ['chaos'], `a sweep runs the builtin runner's load, not "${config.runner}"`, 'use runner: builtin with a scenario: for the sweep');
  const rawProxies = (rawData.proxies ?? {}) as Record<string, { upstream?: unknown }>;
  const rawUpstreams = Object.fromEntries(Object.entries(rawProxies).map(([k, v]) => [k, String(v?.upstream ?? '')]));
  const plan = planSweep(src, opts, { proxies: config.proxies, rawUpstreams, services: config.services, rawBaseUrl: String(rawData.base_url ?? '') }, seed, at);
  const users = config.cycles?.[0] ?? 1;
  config.cycles = [users];
  config.durationMs = plan.lengthMs;
  config.raw = { ...config.raw, cycles: [users], duration: plan.lengthMs / 1000, cycle_time: 0 };
  Object.assign(config, sweepEntries(plan));
  if (!recoverySet.window) config.recovery.windowMs = Math.min(1000, plan.gapMs);
  if (!recoverySet.baseline) config.recovery.steadyStateMs = plan.leadMs;
  config.sweep = plan;
}
