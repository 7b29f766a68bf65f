/**
 * The Behaviors pane's editing rules, as pure functions: a mix as editable rows, and the mix
 * after a change. The sum never passes 100 %: a raise takes at most what `dummy` has left.
 */
import type { Mix, MixEntrySpec, MixSpec } from '../proxy/mix.js';

export interface MixRow {
  name: string;
  percent: number;
  options: Record<string, unknown>;
}

/** Vaurien's behaviors (bar dummy, the pass-through), listed first: the ones people reach for. */
const CLASSIC = ['delay', 'error', 'hang', 'blackout', 'abort', 'transient'];

/** Nothing to tune: Vaurien's `dummy` (the pass-through) and Toxiproxy's `noop`, the same. */
const PASS_THROUGH = new Set(['dummy', 'noop']);

/** Vaurien's classic set first, then the rest by name. */
export function behaviorOrder(names: readonly string[]): string[] {
  const rank = (n: string) => (CLASSIC.includes(n) ? CLASSIC.indexOf(n) : CLASSIC.length);
  return names.filter((n) => !PASS_THROUGH.has(n)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Rows for every tunable behavior, in a stable order, 0 % for those not in the mix. */
export function mixRows(mix: Mix, behaviorNames: readonly string[]): MixRow[] {
  const inMix = new Map(mix.entries.map((e) => [e.behavior.name, e]));
  return behaviorOrder(behaviorNames)
    .map((name) => {
      const e = inMix.get(name);
      return { name, percent: e?.percent ?? 0, options: e ? { ...e.options } : {} };
    });
}

/** What passes untouched. */
export function remainder(rows: readonly MixRow[]): number {
  return Math.max(0, 100 - rows.reduce((s, r) => s + r.percent, 0));
}

/** Rows after moving `name` by `delta` points, clamped to 0..(its share + the remainder). */
export function adjust(rows: readonly MixRow[], name: string, delta: number): MixRow[] {
  const free = remainder(rows);
  return rows.map((r) => (r.name === name ? { ...r, percent: Math.max(0, Math.min(r.percent + free, r.percent + delta)) } : r));
}

/** The map form of the rows, options kept (e.g. delay's sleep), zero rows left out. */
export function rowsToSpec(rows: readonly MixRow[]): MixSpec {
  const spec: Record<string, number | MixEntrySpec> = {};
  for (const r of rows) {
    if (r.percent <= 0) continue;
    spec[r.name] = Object.keys(r.options).length ? { percent: r.percent, ...r.options } : r.percent;
  }
  return spec;
}

