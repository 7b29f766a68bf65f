/**
 * A job's result.json read back (job-end.ts writes it as the job ends), and the summary line it
 * keeps. A process that did not see the job end (a restart, a worker, a listing) has only this
 * file of how it went: recovery takes the end from it, views the figures. Reads nothing heavier
 * than the file: `queue` imports it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatDuration } from '../config/duration.js';
import type { TimelineEvent } from './events.js';
import type { JobResult } from './job-end.js';
import { isTerminal, TERMINAL, type JobOutcome, type JobStatus } from './jobs.js';

/** What views show of a job that ended in another process. */
export interface EndedResult {
  summary: string;
  report?: string;
  seed?: string;
  timeline?: readonly TimelineEvent[];
}

/**
 * "succeeded in 6.0s (395 requests, 3.80 % errors, ...)": how it ended, how long it ran, and the
 * runner's own figures, which `figuresOf` takes back out.
 */
export function endSummary(outcome: Pick<JobOutcome, 'status' | 'reason'>, ranMs: number, figures: string | undefined): string {
  return `${outcome.status}${outcome.reason ? `: ${outcome.reason}` : ''} in ${formatDuration(ranMs)}${figures ? ` (${figures})` : ''}`;
}

/** The runner's figures in an `endSummary` line: the last parenthesis, right after the duration. */
export function figuresOf(summary: string | undefined): string | undefined {
  return summary ? /^.* in \S+ \((.*)\)$/s.exec(summary)?.[1] : undefined;
}

/**
 * A result.json of this run's real end: not one a start put back in the queue left (requeued for
 * want of room, or lost and run again: started before `startedAt`, the claim's time).
 */
function isRunsEnd(r: Partial<JobResult> | null, startedAt: number | undefined): r is Partial<JobResult> {
  if (typeof r !== 'object' || !r) return false;
  const start = Date.parse(r.startedAt ?? '');
  return TERMINAL.has(r.status!) && !r.requeue && !r.lost && start >= (startedAt ?? Infinity) && Number.isFinite(Date.parse(r.endedAt ?? ''));
}

/**
 * Whether a job has ended with its result dir on this machine, so that the files there can be read:
 * a team's job run on another host has `host:dir` (engine-views.ts).
 */
export function endedHere(j: { status: JobStatus; resultDir: string }): boolean {
  return isTerminal(j.status) && !j.resultDir.includes(':');
}

/**
 * What the result.json in `resultDir` says of the run started at `startedAt`; undefined without one
 * of that run, or with one unreadable: a view then shows no figures rather than an error.
 */
export function readEndedResult(resultDir: string, startedAt: number | undefined): EndedResult | undefined {
  const r = readRunsEnd(resultDir, startedAt);
  if (typeof r?.summary !== 'string') return undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const timeline = Array.isArray(r.timeline) ? r.timeline.filter((e) => typeof e?.at === 'number') : undefined;
  return { summary: r.summary, report: text(r.report), seed: text(r.seed), timeline };
}

/**
 * The end a job's result.json holds, when it is this run's: what recovery records for a job whose
 * engine died before recording it.
 */
export function recordedEnd(resultDir: string, startedAt: number | undefined): JobOutcome | undefined {
  const r = readRunsEnd(resultDir, startedAt);
  return r && { status: r.status!, reason: r.reason, failure: r.failure, exitCode: r.exitCode, at: Date.parse(r.endedAt!) };
}

/** The result.json in `resultDir`, when it is the end of the run started at `startedAt`; none, torn or another's: undefined. */
function readRunsEnd(resultDir: string, startedAt: number | undefined): Partial<JobResult> | undefined {
  let r: Partial<JobResult> | null;
  try {
    r = JSON.parse(readFileSync(path.join(resultDir, 'result.json'), 'utf8')) as Partial<JobResult> | null;
  } catch {
    return undefined;
  }
  return isRunsEnd(r, startedAt) ? r : undefined;
}
