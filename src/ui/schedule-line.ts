/**
 * What the Behaviors pane says about a proxy's chaos scenario, in two short lines: what is in
 * force (or that it is paused, and how to resume), and what comes next in how long.
 */
import type { ScheduleView } from '../core/chaos-player.js';
import { formatDuration } from '../config/units.js';
import { isPassThrough } from '../text/mix-words.js';

export interface ScheduleLine {
  state: 'running' | 'paused' | 'manual' | 'done';
  now: string;
  next: string;
  /** Shorter forms of `now` / `next`, longest first, for a pane they do not fit: the step's label left out, the countdown kept. */
  nowShort?: readonly string[];
  nextShort?: readonly string[];
}

export function scheduleLine(s: ScheduleView | undefined, now: number): ScheduleLine | undefined {
  if (!s || (!s.current && s.remaining === 0)) return undefined;
  const current = s.current ? `${s.current.entry} · ${s.current.restore ? 'own mix' : s.current.label}` : 'own mix';
  const next = s.next ? `next ${s.next.entry} · ${s.next.label} in ${countdown(s.next.at - now)}` : s.remaining ? 'waits for the load to start' : 'no more changes';
  // At 80x24 the pane has 26 cells after the mark: 'next redis-errors · end of step in 23s' lost
  // its countdown there, 'paused (s resumes) at redis-slow' its entry's name in the middle.
  const nextShort = s.next ? [`next ${s.next.entry} in ${countdown(s.next.at - now)}`] : s.remaining ? ['waits for the load'] : undefined;
  // Short enough for the Behaviors pane at 80x24: the key is what it says.
  if (s.manual) return { state: 'manual', now: 'set by hand · s resumes', next, nextShort };
  if (s.paused) return { state: 'paused', now: `paused (s resumes) at ${current}`, next, nowShort: [`paused (s resumes) at ${s.current?.entry ?? 'own mix'}`, 'paused (s resumes)'], nextShort };
  return { state: s.next || s.remaining ? 'running' : 'done', now: current, next, nextShort };
}

/** Whole seconds, rounded up, so "in 0s" only shows when the change is due. */
export function countdown(ms: number): string {
  return ms <= 0 ? '0s' : ms < 60_000 ? `${Math.ceil(ms / 1000)}s` : formatDuration(ms);
}

/** What a proxy injects now and until when: "fault 50:error · outage · ends in 12s". */
export function activeFault(mix: string, s: ScheduleView | undefined, now: number): { faulty: boolean; text: string } {
  const faulty = !isPassThrough(mix);
  const why = !faulty ? '' : s?.manual ? 'set by hand' : s?.current && !s.current.restore ? s.current.entry : '';
  const ends = s?.next && !s.paused ? `${faulty ? 'ends' : 'next'} in ${countdown(s.next.at - now)}${faulty ? '' : ` (${s.next.entry})`}` : faulty ? 'until changed' : '';
  return { faulty, text: [faulty ? `fault ${mix}` : 'no fault', why, ends].filter(Boolean).join(' · ') };
}
