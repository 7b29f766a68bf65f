/** How a job's run ends up recorded: its outcome from why it stopped and what the runner said, and its one-line summary. */
import { ConfigError } from '../config/config-error.js';
import { formatDuration } from '../config/duration.js';
import { NodeConfigError, NodeError } from '../exec/executor.js';
import { mixWords } from '../text/mix-words.js';
import { ListenError, messageOf, UpstreamLoopError } from '../proxy/proxy-errors.js';
import type { RunOutcome } from './runner-contract.js';
import { ServiceError } from './service-error.js';
import { changeReason, type TimelineEvent } from './events.js';
import type { Job, JobOutcome } from './jobs.js';

/** Why a running job's abort signal fired. */
export type AbortWhy = 'cancel' | 'timeout' | 'shutdown' | 'lease';

/** A sweep whose load was not steady before the first fault answers nothing: exit 3, and why. */
export function unsteadyOutcome(why: AbortWhy | undefined, unsteady: string | undefined): JobOutcome | undefined {
  if (why !== undefined || unsteady === undefined) return undefined;
  return { status: 'failed', failure: 'infrastructure', reason: `the load was not steady before the first fault (${unsteady}); no fault was injected` };
}

/** `cancelCause`: who asked for a cancel, in words, when not a user. */
export function decideOutcome(why: AbortWhy | undefined, outcome: RunOutcome | undefined, error: unknown, timeoutMs?: number, cancelCause?: string): JobOutcome {
  if (why === 'cancel') return { status: 'cancelled', reason: cancelCause ?? 'by a user' };
  if (why === 'shutdown') return { status: 'interrupted', reason: 'the engine was stopped during the run', failure: 'infrastructure' };
  if (why === 'lease') return { status: 'interrupted', reason: 'this engine could not renew its lease on the queue, so another may run the job again: stopped here', failure: 'infrastructure', lost: true };
  if (why === 'timeout') return { status: 'failed', failure: 'test', reason: `timed out after ${formatDuration(timeoutMs ?? 0)} (timeout:)` };
  if (error instanceof ConfigError) return { status: 'failed', failure: 'config', reason: error.message };
  if (error instanceof NodeConfigError) return { status: 'failed', failure: 'config', reason: error.message };
  if (error instanceof NodeError) return { status: 'failed', failure: 'infrastructure', reason: error.message };
  if (error instanceof ListenError) return { status: 'failed', failure: 'infrastructure', reason: error.message };
  if (error instanceof UpstreamLoopError) return { status: 'failed', failure: 'config', reason: error.message };
  if (error) return { status: 'failed', failure: 'infrastructure', reason: messageOf(error) };
  if (!outcome) return { status: 'failed', failure: 'infrastructure', reason: 'the runner returned nothing' };
  return {
    status: outcome.status,
    reason: outcome.reason,
    failure: outcome.status === 'failed' ? (outcome.failure ?? 'test') : undefined,
    exitCode: outcome.exitCode,
  };
}

/** Errors whose message is the whole story (the outcome says it): not logged again as `error:`. */
export function isExpectedError(error: unknown): boolean {
  return error instanceof ConfigError || error instanceof NodeError || error instanceof ListenError || error instanceof UpstreamLoopError || error instanceof ServiceError;
}

/** `scheduled`: the proxy has a chaos schedule (a change by hand pauses it; say so only then). */
export function timelineLine(e: TimelineEvent, scheduled: boolean): string {
  if (e.kind === 'service') return `chaos ${e.fixture}: service ${e.proxy} ${e.label ?? e.mix}`;
  if (e.source === 'manual') return `manual: ${e.proxy} mix ${mixWords(e.mix)} ${changeReason(e)}${scheduled ? '; its chaos schedule is paused' : ''}`;
  const what = e.source === 'chaos' ? `chaos ${e.fixture} (${e.label})` : `fixture ${e.fixture}`;
  return `${what}: ${e.action === 'apply' ? 'applied' : 'restored'} ${e.proxy} mix ${mixWords(e.mix)}`;
}

/**
 * How long a job ran; undefined for one that never did: a job failed for want of nodes has the
 * milliseconds between the claim that failed it and its end, which are no run time.
 */
export function ranMs(j: Readonly<Job>): number | undefined {
  return j.nodesTaken.length === 0 ? undefined : j.durationMs;
}

export function summaryLine(j: Readonly<Job>): string {
  const ran = ranMs(j);
  const took = ran === undefined ? '' : ` in ${formatDuration(ran)}`;
  return `${j.status}${j.reason ? `: ${j.reason}` : ''}${took}`;
}

