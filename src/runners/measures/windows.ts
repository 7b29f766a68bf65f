/**
 * Fault windows: the intervals during which a named change (a fixture, a chaos entry, a manual
 * change) had a proxy inject faults, read from the job's behavior-change timeline. Pure.
 *
 * Per proxy, each change starts a segment that lasts until the next change of that proxy. A
 * segment is a fault window when it applies a non-empty mix; consecutive segments of the same
 * name merge (a ramp raising its percentage is one window); a `restore` or an empty mix ends it.
 * Changes made before the load started are the environment, not a fault to recover from.
 * Fixtures stack: one applied over another's window suspends it, and the restore that brings
 * its mix back resumes it, so the window under runs from its own start to its own end.
 */
import type { TimelineEvent } from '../../core/events.js';
import { isPassThrough } from '../../text/mix-words.js';
import { outcomeClass, type OutcomeKey } from './series.js';

export interface FaultWindow {
  name: string;
  /** The proxy, or for `kind: service` the service whose processes were hit. */
  proxy: string;
  kind?: 'service';
  /** The mix when the window opened (and the last one, when a ramp changed it). */
  mix: string;
  lastMix?: string;
  source: NonNullable<TimelineEvent['source']>;
  /** Epoch ms; `end` undefined: still in force when the run ended. */
  start: number;
  end?: number;
  expect?: string[];
}

/**
 * Timeline times are epoch ms; offsets from the load start are read too (a timeline written by
 * hand or by an older schedule): no epoch time of a run is below 1e11 (1973), no offset above it.
 */
const EPOCH_FLOOR = 1e11;

export function faultWindows(events: readonly TimelineEvent[], loadStart: number): FaultWindow[] {
  const open = new Map<string, FaultWindow>();
  // Per proxy, the windows another one was applied over, the latest last.
  const under = new Map<string, FaultWindow[]>();
  const epoch = (at: number) => (at < EPOCH_FLOOR ? loadStart + at : at);
  const out: FaultWindow[] = [];
  const close = (key: string, at: number) => {
    const w = open.get(key);
    if (!w) return;
    w.end = at;
    open.delete(key);
  };
  for (const e of events.map((x) => ({ ...x, at: epoch(x.at) })).sort((a, b) => a.at - b.at)) {
    const name = e.name ?? e.fixture;
    // A service and a proxy may share a name ("redis"): their windows are apart.
    const key = `${e.kind}:${e.proxy}`;
    // A mix set by hand (`manual`) that injects faults is a window like any other.
    const injects = !isPassThrough(e.mix);
    const faulty = e.action !== 'restore' && injects;
    const current = open.get(key);
    if (current && faulty && current.name === name) {
      if (e.mix !== current.mix) current.lastMix = e.mix;
      continue;
    }
    const stack = under.get(key) ?? [];
    if (e.action === 'restore') {
      close(key, e.at);
      const back = stack.pop();
      // What the restore brings back is the mix of the window under, which goes on.
      if (back && injects && e.mix === (back.lastMix ?? back.mix)) {
        back.end = undefined;
        open.set(key, back);
      } else stack.length = 0;
      continue;
    }
    if (current && faulty) under.set(key, [...stack, current]);
    close(key, e.at);
    if (!faulty || e.at < loadStart) continue;
    const w: FaultWindow = { name, proxy: e.proxy, ...(e.kind === 'service' ? { kind: 'service' as const } : {}), mix: e.mix, source: e.source ?? 'fixture', start: e.at, ...(e.expect ? { expect: e.expect } : {}) };
    open.set(key, w);
    out.push(w);
  }
  return out;
}

/** "503", "5xx", "timeout", "connection": does an outcome key meet one of these expectations? */
export function meetsExpect(key: OutcomeKey, expect: readonly string[]): boolean {
  const cls = outcomeClass(key);
  return expect.some((x) => x === key || x === cls);
}
