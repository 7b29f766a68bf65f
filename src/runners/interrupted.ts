/**
 * Whether a run was stopped from outside the test. The engine records such a job cancelled or
 * interrupted (exit 130), whatever its figures say: they are of the part that ran, so neither its
 * verdict nor its thresholds judge them.
 */
import { abortReason, type RunSummary } from './results.js';

/**
 * The abort reasons (RunAbort.why) under which the engine records the job cancelled or
 * interrupted: a user's cancel, the engine's stop or lost lease, and `killed`, a builtin job whose
 * engine died (its sample log ends the results; the next engine marks the job interrupted).
 */
const INTERRUPTING = new Set(['cancel', 'shutdown', 'lease', 'killed']);

export function interrupted(s: Pick<RunSummary, 'aborted' | 'abort'>): boolean {
  return s.aborted && INTERRUPTING.has(s.abort?.why ?? '');
}

/** "the run was interrupted after 12.3s of load (cancelled by a user)": what a threshold it stopped says instead of a verdict. */
export function interruptedWords(s: Pick<RunSummary, 'aborted' | 'abort' | 'info'>): string {
  const at = s.abort?.at;
  const ran = at !== undefined && at >= s.info.start ? ` after ${((at - s.info.start) / 1000).toFixed(1)}s of load` : '';
  return `the run was interrupted${ran} (${abortReason(s)})`;
}
