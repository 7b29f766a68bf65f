/**
 * What a job leaves when it ends: result.json and timeline.json in its directory, its end in the
 * queue (retried while a shared queue is offline), and the webhook and mail its config asks for.
 */
import path from 'node:path';
import { replaceFilesSynced } from '../fs/durable.js';
import { fsReason } from '../fs/errors.js';
import type { MarteauConfig } from '../config/marteau.js';
import type { NodeConfig } from '../config/nodes.js';
import type { EngineCore } from './engine-types.js';
import type { TimelineEvent } from './events.js';
import type { JobOutcome } from './jobs.js';
import { QueueOfflineError } from './redis-queue.js';
import { isDiskFailing, isDiskFull } from './state-space.js';

/** How long a finished job's record is retried while a shared queue is offline. */
const FINISH_RETRY_MS = 10 * 60_000;
const FINISH_RETRY_STOPPING_MS = 5000;

export interface JobResult extends JobOutcome {
  id: string;
  name: string;
  summary: string;
  startedAt: string;
  endedAt: string;
  nodes: string[];
  artifacts: readonly string[];
  report?: string;
  seed?: string;
  timeline: readonly TimelineEvent[];
}

/**
 * result.json and timeline.json; a failed write loses only these files, not the job's end. Each
 * replaces the one before whole (a start put back in the queue left one; recovery reads it), so a
 * crash mid-write never leaves a torn end.
 */
export async function writeJobResult(resultDir: string, result: JobResult): Promise<void> {
  await replaceFilesSynced([
    { file: path.join(resultDir, 'result.json'), text: JSON.stringify(result, null, 2) },
    { file: path.join(resultDir, 'timeline.json'), text: JSON.stringify(result.timeline, null, 2) },
  ]).catch(() => {});
}

/**
 * A job's end must reach the queue: on a shared queue that is offline for a moment, try again
 * until it is back (bounded; when stopping, briefly), else the job would stay `running`.
 */
export async function recordFinish(core: EngineCore, id: string, claim: string, nodes: NodeConfig[], outcome: JobOutcome, log: (line: string, o: { level: 'warn' }) => void): Promise<void> {
  const started = Date.now();
  // Retries keep the time it ended: a queue that comes back after a minute adds nothing to its duration.
  outcome = { ...outcome, at: outcome.at ?? started };
  // Where the end is kept should the queue not take it (written before, see writeJobResult).
  const kept = path.join(core.state.jobDir(id), 'result.json');
  for (let attempt = 0; ; attempt++) {
    try {
      // A retry only records the end: the first try's claim of the next job may have landed.
      return await (attempt === 0 ? core.finish(id, claim, nodes, outcome) : core.queue.finish(id, claim, outcome));
    } catch (e) {
      if (isDiskFull(e)) {
        // The journal's disk is full: kept here and recorded once there is room (see stateDirFull),
        // else the job would show `running`, its node taken, for as long as this engine lives.
        core.unrecorded.set(id, { ...outcome, endedAt: outcome.at!, claim });
        const { code, path: file } = e as NodeJS.ErrnoException;
        core.stateDirFull(`the state dir ${core.state.root} is full (${code} writing ${file})`);
        // A --ci run or a drain ends first: the next process is who records it then.
        log(`the job's end (${outcome.status}) is kept in ${kept} and recorded in the queue once there is room, or by the next marteau-tui process on this state dir`, { level: 'warn' });
        return;
      }
      if (isDiskFailing(e)) {
        // Its results are written (result.json holds the end): kept, as for a full disk, and
        // recorded once the journal takes a write (tried every few seconds), or, should this
        // engine go first, by the next process, which finds the end in result.json.
        core.unrecorded.set(id, { ...outcome, endedAt: outcome.at!, claim });
        core.journalFailed(e);
        log(`the job's end (${outcome.status}) cannot be written to the journal (${fsReason(e)}): it is kept in ${kept} and recorded once the journal can be written again, or by the next marteau-tui process on this state dir`, { level: 'warn' });
        return;
      }
      const limit = core.stopping() ? FINISH_RETRY_STOPPING_MS : (core.options.finishRetryMs ?? FINISH_RETRY_MS);
      if (!(e instanceof QueueOfflineError)) throw e;
      if (Date.now() - started > limit) {
        // Not an internal error: result.json (written before) keeps the end, the engine records it
        // once the queue is back, and the team takes the job for lost (its lost_jobs) should this
        // engine go first.
        core.unrecorded.set(id, { ...outcome, endedAt: outcome.at!, claim });
        if (core.stopping()) log(`${e.message}: gave up recording the job's end (${outcome.status}) in the queue; it is kept in ${kept}, and the queue takes the job for lost once this engine is gone`, { level: 'warn' });
        else log(`${e.message}: the job's end (${outcome.status}) is kept in ${kept} and recorded in the queue once it is back`, { level: 'warn' });
        return;
      }
      if (attempt === 0) log(`${e.message}; the job's end is recorded when it is back`, { level: 'warn' });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The webhook and the mail of a job that ended (each loaded only when a config asks for it). */
export async function notifyJobEnd(core: EngineCore, jobId: string, config: MarteauConfig, end: { summary: string; resultDir: string; report?: string }): Promise<void> {
  const webhook = config.notify.webhook;
  if (webhook) {
    const { postWebhook } = await import('./notify.js');
    const problem = await postWebhook(webhook, { job: core.queue.get(jobId)!, ...end }, config.notify.webhookTimeoutMs);
    if (problem) core.log(jobId, problem, 'warn');
  }
  if (config.email.length) {
    const { mailReport } = await import('./mail.js');
    const mailed = await mailReport(config.email, { job: core.queue.get(jobId)!, ...end }, core.pool.config.mail);
    if (mailed.problem) core.log(jobId, mailed.problem, 'warn');
    else if (mailed.sent) core.log(jobId, mailed.sent, 'info');
  }
}
