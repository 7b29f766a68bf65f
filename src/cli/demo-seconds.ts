/**
 * How long the demo load runs: `--duration`, raised to the least its cycles need. Apart from
 * demo-project.ts, which loads the demo app and the behaviors: the control center's first frame
 * does not wait for them (demo.ts).
 */
import { UsageError } from '../core/exit.js';

/** The demo load's three cycles last 5 s at least each: long enough to play with the mix. */
export const DEMO_MIN_SECONDS = 15;

/** Seconds from `--duration`; a value below the least is raised, and said on `err`. */
export function demoSeconds(duration: string, err: NodeJS.WritableStream): number {
  const seconds = Number(duration);
  if (duration.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new UsageError(`--duration: expected seconds from 1 to 3600, got "${duration}"`);
  if (seconds < DEMO_MIN_SECONDS) err.write(`marteau-tui demo: --duration ${duration} is raised to ${DEMO_MIN_SECONDS} s (three cycles of 5 s at least)\n`);
  return seconds;
}
