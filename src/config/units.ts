/**
 * The schema of a duration in YAML (see duration.ts for the format, parsing and printing).
 */
import { z } from 'zod';
import { MAX_TIMER_MS } from '../proxy/plugin.js';
import { DURATION, durationMs } from './duration.js';

export { durationMs, formatDuration, type DurationInput } from './duration.js';

const DURATION_ERROR = 'expected a duration: seconds as a number (e.g. 10) or a string with a unit (500ms, 20s, 2m, 1h)';

export const durationSchema = z
  .union([z.number().min(0), z.string().regex(DURATION, DURATION_ERROR)], { error: DURATION_ERROR })
  // Runs on input the union refused too: only a well-formed duration has a length to check.
  .refine((v: number | string) => (typeof v === 'number' || DURATION.test(v) ? durationMs(v) <= MAX_TIMER_MS : true), { error: 'at most 596h (about 24.8 days: the longest a timer can wait)' });
