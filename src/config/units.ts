/**
 * Durations as people write them in YAML: a number of seconds (FunkLoad's unit) or a string
 * with a unit, `500ms`, `20s`, `2m`, `1h`.
 */
import { z } from 'zod';
import { MAX_TIMER_MS } from '../proxy/plugin.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;

const DURATION_ERROR = 'expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)';

export const durationSchema = z
  .union([z.number().min(0), z.string().regex(DURATION, DURATION_ERROR)], { error: DURATION_ERROR })
  // Runs on input the union refused too: only a well-formed duration has a length to check.
  .refine((v: number | string) => (typeof v === 'number' || DURATION.test(v) ? durationMs(v) <= MAX_TIMER_MS : true), { error: 'at most 596h (about 24.8 days: the longest a timer can wait)' });

export type DurationInput = number | string;

/** Milliseconds of a validated duration. */
export function durationMs(v: DurationInput): number {
  if (typeof v === 'number') return v * 1000;
  const m = DURATION.exec(v)!;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
