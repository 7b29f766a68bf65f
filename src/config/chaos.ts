/**
 * The `chaos:` section of `.marteau.yml`: how each proxy's behavior mix changes over the run.
 * A list of entries (inline, or in a YAML file of the project that `chaos:` names), each one of
 * three shapes on one proxy, timed from the start of the load:
 *
 *   - {proxy: redis, at: 20s, for: 10s, behaviors: "100:blackout"}              a step
 *   - {proxy: redis, at: 40s, for: 20s, ramp: {behavior: delay, from: 0, to: 80}} a ramp
 *   - {proxy: api, at: 0s, for: 30s, behaviors: "100:error", flap: {on: 2s, off: 3s}}
 *
 * or a real fault of a process the engine started (`services:`), on the same timeline:
 *
 *   - {service: db, at: 10s, fault: restart}                stop it (stop_signal, then wait) and start it again
 *   - {service: db, at: 10s, for: 5s, fault: kill}          SIGKILL, started again after `for`
 *   - {service: db, at: 10s, for: 5s, fault: stop}          stop_signal and wait, started again after `for`
 *   - {service: db, at: 10s, for: 3s, fault: freeze}        SIGSTOP, SIGCONT after `for`
 *
 * Everything a run would trip over later is checked here, at its file:line: unknown proxies and
 * behaviors, mixes over 100 %, steps of one proxy that overlap, times past the end of the run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MixError, parseMix, type BehaviorRegistry, type MixSpec } from '../proxy/mix.js';
import type { ProtocolName } from '../proxy/protocol.js';
import { protocolInfo } from '../proxy/protocols/index.js';
import { didYouMean } from '../text/closest.js';
import { errorAt, parseYaml, type ConfigError, type SourceDoc } from './errors.js';
import { innerPath } from './paths.js';
import { mixSpecSchema } from './proxies.js';
import { durationMs, durationSchema, formatDuration } from './units.js';
import { zodToConfigError } from './zod-errors.js';
import { unreadableWords } from '../fs/errors.js';

/** Real faults of a service's processes (the whole process group gets the signal). */
export const SERVICE_FAULTS = ['kill', 'stop', 'freeze', 'restart'] as const;
export type ServiceFaultKind = (typeof SERVICE_FAULTS)[number];

const rampSchema = z
  .object({
    behavior: z.string().describe('the behavior whose percentage changes'),
    from: z.number().min(0).max(100).describe('its percentage at `at`'),
    to: z.number().min(0).max(100).describe('its percentage at the last step, until `at` + `for`'),
    every: durationSchema.optional().describe('how often the percentage changes (default 1s)'),
    options: z.record(z.string(), z.unknown()).optional().describe("the behavior's options, e.g. {sleep: 0.5}"),
  })
  .strict();

const flapSchema = z
  .object({
    on: durationSchema.describe('how long `behaviors` stays in force each time'),
    off: durationSchema.describe('how long the proxy is back to its own mix in between'),
  })
  .strict();

export const chaosEntrySchema = z
  .object({
    name: z.string().regex(/^[\w-]+$/, 'a chaos entry name is letters, digits, _ and -').optional().describe('label on the timeline and in the TUI (default: PROXY-N)'),
    proxy: z.string().optional().describe('name of a proxy declared under `proxies:`'),
    service: z.string().optional().describe('name of a service declared under `services:` (with `fault:`)'),
    // A string checked later: a union's error for a bad enum value would not say which entry.
    fault: z.string().optional().describe('what happens to the service: kill (SIGKILL), stop (its stop_signal, then wait), freeze (SIGSTOP until SIGCONT), restart (stop, then start again)'),
    at: durationSchema.optional().describe('when it starts, counted from the start of the load (default 0)'),
    for: durationSchema.optional().describe('how long it lasts (default: until the run ends)'),
    behaviors: mixSpecSchema.optional().describe('the mix in force (steps and flaps)'),
    ramp: rampSchema.optional(),
    flap: flapSchema.optional(),
  })
  .strict();

export const chaosListSchema = z.array(chaosEntrySchema, { error: 'expected a list of chaos entries ({proxy, at, for, behaviors | ramp | flap})' });

export const chaosSchema = z.union([
  chaosListSchema,
  innerPath.describe('a YAML file in the project holding the list'),
], { error: 'expected a list of chaos entries, or the name of a YAML file in the project holding one' });

export type ChaosShape =
  | { kind: 'step'; behaviors: MixSpec }
  | { kind: 'ramp'; behavior: string; from: number; to: number; everyMs: number; options: Record<string, unknown> }
  | { kind: 'flap'; behaviors: MixSpec; onMs: number; offMs: number };

export interface ChaosEntry {
  name: string;
  proxy: string;
  atMs: number;
  /** undefined: until the run ends. */
  forMs?: number;
  shape: ChaosShape;
}

/** A real fault of a service the engine started (`{service, fault}`). */
export interface ServiceFaultEntry {
  name: string;
  service: string;
  fault: ServiceFaultKind;
  atMs: number;
  /** kill/stop: how long it stays down; freeze: how long it stays frozen; undefined: until the run ends (restart: never set). */
  forMs?: number;
}

export type ChaosItem = ChaosEntry | ServiceFaultEntry;

export function isServiceFault(e: ChaosItem): e is ServiceFaultEntry {
  return 'service' in e;
}

/** How long the load runs, and how that was worked out (for error messages). */
export interface RunLength {
  ms: number;
  why: string;
  /** Only the `timeout` bounds the run (the runner cannot tell its length): the load may end sooner. */
  byTimeout?: boolean;
  /** The least the load lasts (each cycle also starts a program): for the timeout, not for chaos times. */
  atLeast?: boolean;
}

export interface ChaosContext {
  projectDir: string;
  /** The protocol of each proxy entries may name (their mixes' options are checked against it). */
  proxies: ReadonlyMap<string, ProtocolName>;
  /** `services:` names, which `{service, fault}` entries may name. */
  serviceNames?: ReadonlySet<string>;
  behaviors: BehaviorRegistry;
  runLength: RunLength;
  /** Reads a project file (the engine reads its snapshot of it instead). */
  readProjectFile?: (relPath: string) => string;
}

export const CHAOS_HINT = 'e.g. chaos: [{proxy: db, at: 10s, for: 5s, behaviors: "100:blackout"}]';
const DEFAULT_RAMP_EVERY_MS = 1000;

/**
 * The validated entries of `chaos:` (`value` is what the schema accepted), or a ConfigError
 * pointing into .marteau.yml or into the file it names.
 */
export function parseChaos(src: SourceDoc, value: z.infer<typeof chaosSchema>, ctx: ChaosContext): ChaosItem[] {
  if (typeof value !== 'string') return checkEntries(src, ['chaos'], value, ctx);
  const file = value;
  if (path.isAbsolute(file) || file.split(/[\\/]+/).includes('..')) {
    throw errorAt(src, ['chaos'], 'must be a relative path inside the project (no leading /, no ..)', CHAOS_HINT);
  }
  let text: string;
  try {
    text = (ctx.readProjectFile ?? ((p) => readFileSync(path.join(ctx.projectDir, p), 'utf8')))(file);
  } catch (e) {
    throw errorAt(src, ['chaos'], `cannot read ${file}: ${unreadableWords(e)}`, 'name a YAML file of the project holding the list of chaos entries');
  }
  const inner = parseYaml(path.join(ctx.projectDir, file), text);
  const data = inner.doc.toJS() as unknown;
  const parsed = chaosListSchema.safeParse(data ?? []);
  if (!parsed.success) throw zodToConfigError(inner, data, parsed.error, { knownKeys: knownChaosKeys, hint: () => CHAOS_HINT });
  return checkEntries(inner, [], parsed.data, ctx);
}

export function knownChaosKeys(p: readonly (string | number)[]): readonly string[] | undefined {
  const last = p[p.length - 1];
  if (typeof last === 'number') return Object.keys(chaosEntrySchema.shape);
  if (last === 'ramp') return Object.keys(rampSchema.shape);
  if (last === 'flap') return Object.keys(flapSchema.shape);
  return undefined;
}

function checkEntries(src: SourceDoc, prefix: (string | number)[], list: z.infer<typeof chaosListSchema>, ctx: ChaosContext): ChaosItem[] {
  const fail = (i: number, p: (string | number)[], problem: string, hint?: string): ConfigError => errorAt(src, [...prefix, i, ...p], problem, hint);
  const perProxy = new Map<string, number>();
  const entries = list.map((e, i): ChaosItem => {
    if (e.service !== undefined || e.fault !== undefined) return serviceFault(e, i, fail, ctx, perProxy);
    if (e.proxy === undefined) throw fail(i, [], 'say which proxy (`proxy: NAME`) or which service (`service: NAME` with `fault:`) this entry changes', CHAOS_HINT);
    const protocol = ctx.proxies.get(e.proxy);
    if (protocol === undefined) {
      throw fail(i, ['proxy'], `unknown proxy "${e.proxy}"${didYouMean(e.proxy, [...ctx.proxies.keys()])}`, ctx.proxies.size ? `proxies declared in this config: ${[...ctx.proxies.keys()].join(', ')}` : 'declare it under `proxies:` (listen, upstream, protocol)');
    }
    const n = (perProxy.get(e.proxy) ?? 0) + 1;
    perProxy.set(e.proxy, n);
    const mixAt = (spec: MixSpec, p: (string | number)[]) => {
      try {
        parseMix(spec, ctx.behaviors, { protocol: protocolInfo(protocol) });
      } catch (err) {
        if (err instanceof MixError) throw fail(i, [...p, ...err.path], err.message, 'Vaurien form "20:delay,10:error" or a map {delay: 20}');
        throw err;
      }
    };
    const atMs = e.at === undefined ? 0 : durationMs(e.at);
    const forMs = e.for === undefined ? undefined : durationMs(e.for);
    if (forMs === 0) throw fail(i, ['for'], 'must be more than 0', 'leave `for` out to last until the run ends');
    let shape: ChaosShape;
    if (e.ramp) {
      if (e.behaviors !== undefined || e.flap) throw fail(i, ['ramp'], 'a ramp changes one behavior on its own: remove `behaviors`/`flap` from this entry, or split it in two entries');
      if (forMs === undefined) throw fail(i, ['ramp'], 'a ramp needs `for`: how long it takes to go from `from` to `to`');
      const everyMs = e.ramp.every === undefined ? DEFAULT_RAMP_EVERY_MS : durationMs(e.ramp.every);
      if (everyMs <= 0 || everyMs > forMs) throw fail(i, ['ramp', 'every'], `must be more than 0 and at most \`for\` (${formatDuration(forMs)})`);
      const options = e.ramp.options ?? {};
      if ('percent' in options) throw fail(i, ['ramp', 'options', 'percent'], 'the percentage comes from `from` and `to`');
      for (const pct of [e.ramp.from, e.ramp.to]) mixAt({ [e.ramp.behavior]: { ...options, percent: pct } }, ['ramp']);
      shape = { kind: 'ramp', behavior: e.ramp.behavior, from: e.ramp.from, to: e.ramp.to, everyMs, options };
    } else if (e.behaviors === undefined) {
      throw fail(i, [], 'say what happens: `behaviors: "100:blackout"` (a step, or with `flap:`) or `ramp: {behavior, from, to}`', CHAOS_HINT);
    } else {
      mixAt(e.behaviors as MixSpec, ['behaviors']);
      if (e.flap) {
        const onMs = durationMs(e.flap.on);
        const offMs = durationMs(e.flap.off);
        if (onMs <= 0) throw fail(i, ['flap', 'on'], 'must be more than 0');
        if (offMs <= 0) throw fail(i, ['flap', 'off'], 'must be more than 0');
        shape = { kind: 'flap', behaviors: e.behaviors as MixSpec, onMs, offMs };
      } else {
        shape = { kind: 'step', behaviors: e.behaviors as MixSpec };
      }
    }
    checkEnd(atMs, forMs, ctx.runLength, (p, m, h) => fail(i, p, m, h));
    return { name: e.name ?? `${e.proxy}-${n}`, proxy: e.proxy, atMs, forMs, shape };
  });
  const names = new Map<string, number>();
  entries.forEach((e, i) => {
    const first = names.get(e.name);
    if (first !== undefined) throw fail(i, ['name'], `the name "${e.name}" is already used by entry ${first + 1}`, 'give each entry its own name');
    names.set(e.name, i);
  });
  // One proxy (or service) follows one entry at a time: two at once would leave which wins to chance.
  entries.forEach((a, i) => {
    const aEnd = spanEnd(a);
    entries.slice(0, i).forEach((b) => {
      if (targetOf(b) !== targetOf(a)) return;
      const bEnd = spanEnd(b);
      if (a.atMs < bEnd && b.atMs < aEnd) {
        throw fail(i, ['at'], `overlaps "${b.name}" on ${targetOf(a)} (${window(b)} and ${window(a)})`, Number.isFinite(bEnd) && bEnd > a.atMs
          ? `start this one at ${formatDuration(bEnd)} or later, or shorten "${b.name}"`
          : `give "${b.name}" a \`for\` that ends by ${formatDuration(a.atMs)}`);
      }
    });
  });
  return entries;
}

/** A restart takes as long as the service needs to be ready: for overlaps, a moment. */
function spanEnd(e: ChaosItem): number {
  return isServiceFault(e) && e.fault === 'restart' ? e.atMs + 1 : e.atMs + (e.forMs ?? Infinity);
}

function targetOf(e: ChaosItem): string {
  return isServiceFault(e) ? `service ${e.service}` : `proxy ${e.proxy}`;
}

type Fail = (i: number, p: (string | number)[], problem: string, hint?: string) => ConfigError;

function serviceFault(e: z.infer<typeof chaosEntrySchema>, i: number, fail: Fail, ctx: ChaosContext, counts: Map<string, number>): ServiceFaultEntry {
  const services = ctx.serviceNames ?? new Set<string>();
  if (e.service === undefined) throw fail(i, ['fault'], '`fault:` is for a service: add `service: NAME`', 'a proxy entry says what happens with `behaviors:` or `ramp:` instead');
  if (e.proxy !== undefined) throw fail(i, ['proxy'], 'an entry changes one proxy or one service: remove `proxy:` or `service:`, or split it in two entries');
  if (!services.has(e.service)) {
    throw fail(i, ['service'], `unknown service "${e.service}"${didYouMean(e.service, [...services])}`, services.size ? `services declared in this config: ${[...services].join(', ')}` : 'declare it under `services:` (the engine can only fault a process it started)');
  }
  if (e.fault === undefined) throw fail(i, [], `say what happens to service ${e.service}: \`fault: ${SERVICE_FAULTS.join(' | ')}\``);
  const fault = e.fault as ServiceFaultKind;
  if (!SERVICE_FAULTS.includes(fault)) throw fail(i, ['fault'], `unknown fault "${e.fault}"${didYouMean(e.fault, SERVICE_FAULTS)}`, `one of ${SERVICE_FAULTS.join(', ')}`);
  for (const k of ['behaviors', 'ramp', 'flap'] as const) {
    if (e[k] !== undefined) throw fail(i, [k], `\`${k}\` is for a proxy; a service entry says what happens with \`fault:\``);
  }
  const atMs = e.at === undefined ? 0 : durationMs(e.at);
  const forMs = e.for === undefined ? undefined : durationMs(e.for);
  if (forMs === 0) throw fail(i, ['for'], 'must be more than 0', 'leave `for` out to last until the run ends');
  if (fault === 'restart' && forMs !== undefined) throw fail(i, ['for'], 'a restart starts the service again at once: it has no `for`', 'use `fault: stop` with `for:` to keep it down for a while');
  checkEnd(atMs, forMs, ctx.runLength, (p, m, h) => fail(i, p, m, h));
  const key = `service ${e.service}`;
  const n = (counts.get(key) ?? 0) + 1;
  counts.set(key, n);
  return { name: e.name ?? `${e.service}-${fault}-${n}`, service: e.service, fault, atMs, ...(forMs === undefined ? {} : { forMs }) };
}

/**
 * A change timed at or past the end of the run would never happen, or be cut short: an error at
 * its `at` or `for`, for chaos entries and fixtures alike.
 */
export function checkEnd(atMs: number, forMs: number | undefined, end: RunLength, fail: (p: string[], problem: string, hint?: string) => ConfigError): void {
  if (atMs >= end.ms) throw fail(['at'], `starts at ${formatDuration(atMs)}, at or past the end of the run (${formatDuration(end.ms)}: ${end.why})`, 'start it earlier, or lengthen the run');
  if (forMs !== undefined && atMs + forMs > end.ms) {
    throw fail(['for'], `ends at ${formatDuration(atMs + forMs)}, past the end of the run (${formatDuration(end.ms)}: ${end.why})`, `shorten it to ${formatDuration(end.ms - atMs)} or less, or leave \`for\` out to last until the end`);
  }
}

/**
 * A load known to last as long as its `timeout:` or longer always ends timed out, after the whole
 * wait: refused at load. The suggestion leaves room for what comes around the load (copying,
 * starting the users' agents, stopping them, the reports): a tenth of it, a minute at least.
 */
export function checkTimeout(end: RunLength, timeoutMs: number, timeoutGiven: boolean, fail: (problem: string, hint: string) => ConfigError): void {
  if (end.byTimeout || end.ms < timeoutMs) return;
  const minutes = Math.ceil((end.ms + Math.max(60_000, end.ms / 10)) / 60_000);
  throw fail(
    `the load lasts ${end.atLeast ? 'at least ' : ''}${formatDuration(end.ms)} (${end.why}), ${end.ms === timeoutMs ? 'as long as' : 'longer than'} ${timeoutGiven ? 'the' : 'the default'} timeout of ${formatDuration(timeoutMs)}: the job would always end timed out`,
    `${timeoutGiven ? 'raise it' : 'set timeout:'} to at least the load and a margin for setup and reports, e.g. timeout: ${minutes}m, or shorten the load`,
  );
}

function window(e: ChaosItem): string {
  if (isServiceFault(e) && e.fault === 'restart') return `restart at ${formatDuration(e.atMs)}`;
  return `${formatDuration(e.atMs)}–${e.forMs === undefined ? 'end' : formatDuration(e.atMs + e.forMs)}`;
}
