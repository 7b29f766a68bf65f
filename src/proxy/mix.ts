/**
 * Behavior mixes. Vaurien's `20:delay,10:blackout` and the map `{delay: 20, blackout: 10}` (or
 * `{delay: {percent: 20, sleep: 0.5}}`) mean the same: 20 % delay, 10 % blackout, the remaining
 * 70 % pass through (`dummy`). A Mix is immutable: a live change swaps the whole object.
 */
import { closest } from '../text/closest.js';
import { describeIssue, valueAt } from '../text/zod-words.js';
import type { Action, Behavior, ProtocolInfo } from './plugin.js';
import type { Random } from './random.js';
import { messageOf } from './proxy-errors.js';

export type MixSpec = string | Record<string, number | MixEntrySpec>;
export interface MixEntrySpec {
  percent: number;
  [option: string]: unknown;
}

export interface MixEntry {
  behavior: Behavior;
  percent: number;
  options: Record<string, unknown>;
  /** Per-proxy state of this behavior (see ConnectionContext.state). */
  state: Map<string, unknown>;
  /** The actions of every exchange, when the options decide them (Behavior.fixed). */
  fixed: Action[] | undefined;
}

/**
 * A mix entry (or a toxic's), its fixed actions asked for once. Throws when the behavior's
 * `fixed` does (a plugin's bad action), for the caller to report with the entry's place.
 */
export function mixEntry(behavior: Behavior, percent: number, options: Record<string, unknown>, state: Map<string, unknown>): MixEntry {
  const r = behavior.onExchange ? behavior.fixed?.(options) : undefined;
  const fixed = r === undefined || r === null ? undefined : Array.isArray(r) ? r : [r];
  return { behavior, percent, options, state, fixed };
}

export interface Mix {
  /** Entries with a percentage above 0, plus `dummy` for the remainder. */
  entries: readonly MixEntry[];
  /** Canonical Vaurien form, e.g. `20:delay,10:blackout`. */
  text: string;
}

/** A problem with a mix, with the path of the offending value (for file:line in config errors). */
export class MixError extends Error {
  constructor(message: string, readonly path: (string | number)[] = []) {
    super(message);
    this.name = 'MixError';
  }
}

export type BehaviorRegistry = ReadonlyMap<string, Behavior>;

export interface MixFor {
  /** The mix this one replaces: a behavior whose options stay the same keeps its state. */
  previous?: Mix;
  /** The protocol of the proxy the mix is for, when known: options are checked against it (Behavior.check). */
  protocol?: ProtocolInfo;
}

export function parseMix(spec: MixSpec | undefined, registry: BehaviorRegistry, on: MixFor = {}): Mix {
  const raw = normalise(spec ?? '');
  const entries: MixEntry[] = [];
  let total = 0;
  for (const { name, percent, options, path } of raw) {
    const behavior = registry.get(name);
    if (!behavior) {
      const known = [...registry.keys()].sort();
      throw new MixError(`unknown behavior "${name}"; ${nearOrNot(name, known)} behaviors: ${known.join(', ')}`, path);
    }
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new MixError(`the percentage of "${name}" must be a number from 0 to 100, got ${String(percent)}`, path);
    }
    const parsed = behavior.options.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue.path.length ? `option "${issue.path.join('.')}"` : 'options';
      throw new MixError(`behavior "${name}": ${where}: ${describeIssue(issue, valueAt(options, issue.path))}`, [...path, ...(issue.path as (string | number)[])]);
    }
    const unknown = Object.keys(options).filter((k) => !(k in behavior.options.shape));
    if (unknown.length) {
      const known = Object.keys(behavior.options.shape);
      throw new MixError(
        `behavior "${name}" has no option "${unknown[0]}"; ${known.length ? `${nearOrNot(unknown[0], known)} options: ${known.join(', ')}` : 'it takes no options'}`,
        [...path, unknown[0]],
      );
    }
    const opts = parsed.data as Record<string, unknown>;
    const wrong = pluginCall(name, path, () => on.protocol && behavior.check?.(opts, on.protocol));
    if (wrong) throw new MixError(`behavior "${name}": option "${wrong.option}": ${wrong.problem}`, [...path, wrong.option]);
    total += percent;
    if (percent > 0 || name === 'dummy') {
      entries.push(pluginCall(name, path, () => mixEntry(behavior, percent, opts, carriedState(on.previous, name, opts))));
    }
  }
  if (total > 100 + 1e-9) {
    throw new MixError(`the percentages add up to ${round(total)} %, over 100 %; lower some of them`);
  }
  const explicit = entries.filter((e) => e.behavior.name !== 'dummy');
  const dummy = registry.get('dummy');
  const rest = 100 - explicit.reduce((s, e) => s + e.percent, 0);
  const all = [...explicit];
  if (rest > 1e-9 && dummy) all.push(mixEntry(dummy, rest, {}, new Map()));
  return { entries: all, text: explicit.map((e) => `${round(e.percent)}:${e.behavior.name}`).join(',') || '100:dummy' };
}

/** What leads a list of the known names: `did you mean "delay"? Known` for a near miss, else `known`. */
function nearOrNot(word: string, known: readonly string[]): string {
  const near = closest(word, known);
  return near ? `did you mean "${near}"? Known` : 'known';
}

/** A call into a behavior's own code (check, fixed): what it throws is reported at the entry's place. */
function pluginCall<T>(name: string, path: (string | number)[], call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw new MixError(`behavior "${name}": ${messageOf(err)}`, path);
  }
}

/** Draw one entry: a single random number against cumulative percentages. */
export function draw(mix: Mix, random: Random): MixEntry {
  const x = random() * 100;
  let acc = 0;
  for (const e of mix.entries) {
    acc += e.percent;
    if (x < acc) return e;
  }
  return mix.entries[mix.entries.length - 1];
}

interface RawEntry {
  name: string;
  percent: number;
  options: Record<string, unknown>;
  path: (string | number)[];
}

function normalise(spec: MixSpec): RawEntry[] {
  if (typeof spec === 'string') {
    if (spec.trim() === '') return [];
    return spec.split(',').map((part, i) => {
      const m = /^\s*(\d+(?:\.\d+)?)\s*:\s*([A-Za-z_][\w-]*)\s*$/.exec(part);
      if (!m) {
        throw new MixError(`"${part.trim()}" is not PERCENT:NAME (e.g. 20:delay,10:blackout)`, [i]);
      }
      return { name: m[2], percent: Number(m[1]), options: {}, path: [i] };
    });
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new MixError('a mix is either "PERCENT:NAME,..." or a map of behavior names to percentages');
  }
  return Object.entries(spec).map(([name, value]) => {
    if (typeof value === 'number') return { name, percent: value, options: {}, path: [name] };
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const { percent, ...options } = value as MixEntrySpec;
      if (typeof percent !== 'number') {
        throw new MixError(`behavior "${name}" needs "percent: N" next to its options`, [name]);
      }
      return { name, percent, options, path: [name] };
    }
    throw new MixError(`behavior "${name}": expected a percentage or {percent, ...options}`, [name]);
  });
}

function carriedState(previous: Mix | undefined, name: string, options: Record<string, unknown>): Map<string, unknown> {
  const old = previous?.entries.find((e) => e.behavior.name === name);
  if (old && JSON.stringify(old.options) === JSON.stringify(options)) return old.state;
  return new Map();
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A mix as a spec that parses back to the same mix (options included). */
export function specOfMix(mix: Mix): Record<string, MixEntrySpec> {
  const spec: Record<string, MixEntrySpec> = {};
  for (const e of mix.entries) {
    if (e.behavior.name === 'dummy') continue;
    const prev = spec[e.behavior.name];
    spec[e.behavior.name] = { ...e.options, percent: (prev?.percent ?? 0) + e.percent };
  }
  return spec;
}
