/**
 * Compiles `chaos:` entries and `fixtures:` into one sorted list of timed mix changes per proxy.
 * Pure: the same config always gives the same list, which is what makes a run replayable and
 * what the player (chaos-player.ts) applies against the load clock.
 *
 * Each entry becomes windows of time with a mix (a step: one; a ramp: one per percentage; a
 * flap: one per "on"). Windows of one proxy stack: the latest started is in force, and when it
 * ends the one under it (or the proxy's own mix) comes back. Chaos entries never overlap on one
 * proxy (the config refuses it); fixtures may, as Marteau's did.
 */
import type { ChaosEntry } from '../config/chaos.js';
import type { FixtureSpec } from '../config/marteau.js';
import type { MixSpec } from '../proxy/mix.js';

export interface MixChange {
  /** Offset from the start of the load; undefined: before it (fixtures without `at`). */
  atMs?: number;
  proxy: string;
  /** The mix from now on; undefined: the proxy's own mix again. */
  spec?: MixSpec;
  source: 'fixture' | 'chaos';
  /** The fixture or chaos entry behind the change. */
  entry: string;
  /** apply: a window starts; restore: one ends, uncovering what was under it. */
  action: 'apply' | 'restore';
  /** For people: "step", "ramp 40% delay (3/6)", "flap on (2/5)". */
  label: string;
  /** The entry whose mix is in force after this change (none: the proxy's own mix). */
  inForce?: string;
  /** What the load should see while an applied fixture is in force (its `expect:`, for error mapping). */
  expect?: string[];
}

interface Window {
  proxy: string;
  /** -Infinity: before the load. */
  start: number;
  /** Infinity: until the run ends. */
  end: number;
  spec: MixSpec;
  source: MixChange['source'];
  entry: string;
  label: string;
  expect?: string[];
  order: number;
}

/** Every change of every proxy: the ones before the load first, then by time (stable). */
export function compileSchedule(chaos: readonly ChaosEntry[], fixtures: readonly FixtureSpec[], runEndMs: number): MixChange[] {
  const windows: Window[] = [];
  const add = (w: Omit<Window, 'order'>) => windows.push({ ...w, order: windows.length });
  for (const f of fixtures) {
    const start = f.atMs ?? -Infinity;
    add({ proxy: f.proxy, start, end: f.forMs === undefined ? Infinity : start + f.forMs, spec: f.behaviors, source: 'fixture', entry: f.name, label: 'fixture', ...(f.expect ? { expect: f.expect } : {}) });
  }
  for (const e of chaos) for (const w of chaosWindows(e, runEndMs)) add({ ...w, proxy: e.proxy, source: 'chaos', entry: e.name });
  const changes: (MixChange & { t: number })[] = [];
  for (const proxy of new Set(windows.map((w) => w.proxy))) {
    const mine = windows.filter((w) => w.proxy === proxy);
    const times = [...new Set(mine.flatMap((w) => [w.start, w.end]))].filter((t) => t !== Infinity).sort((a, b) => a - b);
    let before: Window | undefined;
    for (const t of times) {
      const after = top(mine.filter((w) => w.start <= t && t < w.end));
      if (after === before) continue;
      const fresh = after !== undefined && after.start === t;
      const by = fresh ? after : before!;
      changes.push({
        t,
        atMs: t === -Infinity ? undefined : t,
        proxy,
        spec: after?.spec,
        source: by.source,
        entry: by.entry,
        action: fresh ? 'apply' : 'restore',
        label: fresh ? after.label : `end of ${by.label}`,
        inForce: after?.entry,
        ...(fresh && after.expect ? { expect: after.expect } : {}),
      });
      before = after;
    }
  }
  // Stable: changes of one proxy keep their order; proxies are interleaved by time only.
  return changes.sort((a, b) => a.t - b.t).map(({ t: _t, ...c }) => c);
}

/** The window in force among those open: the latest started (declaration order breaks ties). */
function top(open: Window[]): Window | undefined {
  return open.reduce<Window | undefined>((best, w) => (!best || w.start > best.start || (w.start === best.start && w.order > best.order) ? w : best), undefined);
}

function chaosWindows(e: ChaosEntry, runEndMs: number): Omit<Window, 'order' | 'proxy' | 'source' | 'entry'>[] {
  const end = e.forMs === undefined ? Infinity : e.atMs + e.forMs;
  const s = e.shape;
  switch (s.kind) {
    case 'step':
      return [{ start: e.atMs, end, spec: s.behaviors, label: 'step' }];
    case 'ramp': {
      const n = Math.max(1, Math.ceil((end - e.atMs) / s.everyMs));
      return Array.from({ length: n }, (_, k) => {
        const percent = n === 1 ? s.to : round(s.from + ((s.to - s.from) * k) / (n - 1));
        return {
          start: e.atMs + k * s.everyMs,
          end: Math.min(end, e.atMs + (k + 1) * s.everyMs),
          spec: { [s.behavior]: { ...s.options, percent } },
          label: `ramp ${percent}% ${s.behavior} (${k + 1}/${n})`,
        };
      });
    }
    case 'flap': {
      // A flap without `for` goes on until the run ends: that end bounds the list.
      const last = Math.min(end, runEndMs);
      const period = s.onMs + s.offMs;
      const n = Math.max(1, Math.ceil((last - e.atMs) / period));
      return Array.from({ length: n }, (_, k) => ({
        start: e.atMs + k * period,
        end: Math.min(end, e.atMs + k * period + s.onMs),
        spec: s.behaviors,
        label: `flap on (${k + 1}/${n})`,
      }));
    }
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
