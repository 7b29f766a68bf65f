/**
 * The schema of a duration in YAML (see duration.ts for the format, parsing and printing).
 */
import { z } from 'zod';
import { MAX_TIMER_MS } from '../proxy/timer-limit.js';
import { DURATION, durationMs, durationSeconds, formatDuration } from './duration.js';

export { durationMs, durationSeconds, formatDuration, type DurationInput } from './duration.js';

const DURATION_ERROR = 'expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)';

export const durationSchema = z
  .union([z.number().min(0), z.string().regex(DURATION, DURATION_ERROR)], { error: DURATION_ERROR })
  // Runs on input the union refused too: only a well-formed duration has a length to check.
  .refine((v: number | string) => (typeof v === 'number' || DURATION.test(v) ? durationMs(v) <= MAX_TIMER_MS : true), { error: 'at most 596h (about 24.8 days: the longest a timer can wait)' });

/**
 * A duration read as a number of seconds, for the keys FunkLoad gives in seconds (`apdex_t`,
 * the builtin runner's `duration`, `request_timeout`, ...): `1.5` as ever, or `500ms`, `30s`, `2m`
 * like every other duration key.
 */
export function secondsSchema(o: { max?: number; positive?: boolean } = {}) {
  const { max, positive } = o;
  return durationSchema
    .transform(durationSeconds)
    .refine((s) => !positive || s > 0, { error: 'must be more than 0' })
    .refine((s) => max === undefined || s <= max, { error: `at most ${max} s${max !== undefined && max >= 60 ? ` (${formatDuration(max * 1000)})` : ''}` });
}
