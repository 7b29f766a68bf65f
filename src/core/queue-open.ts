/**
 * What every process does on opening the queue (a state dir's journal, or the team's on Redis)
 * before it shows or runs anything: the engine (engine-runtime.ts) and the listings that need
 * none (queue-look.ts) alike, so that `queue` shows what the next engine finds, and does what it
 * would do about a crash (a dead engine's jobs recorded as interrupted, what they left stopped).
 */
import type { NodesConfig } from '../config/nodes.js';
import type { EngineCore } from './engine-types.js';
import { ENQUEUE_FILES, ORPHAN_AGE_MS } from './job-files.js';
import type { Job } from './jobs.js';
import { killLeftovers } from './leftovers.js';
import { JournalQueue, QueueError, type JobQueue } from './queue.js';
import { recordedEnd } from './result-file.js';
import type { RedisQueue } from './redis-queue.js';
import type { StateDir } from './state-dir.js';

type Opening = Pick<EngineCore, 'state' | 'queue' | 'log'>;

/**
 * The team's queue when the nodes file (or --queue) names one, else the state dir's journal.
 * `Redis` is the shared queue's class, which whoever needs it loads (with its client).
 * `readPresence`: the workers' nodes are read, for a process that runs no job and shows them.
 */
export function queueOf(nodes: NodesConfig, state: StateDir, readPresence: boolean, Redis: typeof RedisQueue | undefined): JobQueue {
  const q = nodes.queue;
  if (!q?.url) return new JournalQueue(state.journalFile, undefined, q?.lostJobs);
  if (!Redis) throw new Error('queueOf: a shared queue without its class');
  return new Redis({ url: q.url, lostJobs: q.lostJobs, resultsRoot: state.jobsDir, readPresence });
}

/**
 * Open the queue, and make the state dir unless it is read-only, which is said (the returned
 * reason): it can be looked at, but a process that runs jobs cannot work there. A record the
 * queue then writes but cannot force to disk is said through `log`.
 */
export async function openQueue({ queue, state, log }: Opening, runsJobs: boolean): Promise<string | undefined> {
  queue.onUnsynced?.((m) => log(undefined, m, 'warn'));
  await queue.open();
  const readOnly = queue.readOnly?.();
  if (readOnly && runsJobs) {
    await queue.close();
    throw new QueueError(readOnly);
  }
  if (!readOnly) await state.ensure();
  return readOnly;
}

/**
 * The journal's damaged lines, said with the job directories no record names (where a lost job's
 * config snapshot and results still are); without any, the directories of enqueues cut off before
 * their record are removed.
 */
export async function checkJournal({ queue, state, log }: Opening, readOnly: string | undefined): Promise<void> {
  if (!(queue instanceof JournalQueue)) return;
  const known = new Set(queue.list().map((j) => j.id));
  if (queue.damagedLines.length) {
    const lines = queue.damagedLines;
    const shown = `${lines.slice(0, 10).join(', ')}${lines.length > 10 ? `, ... (${lines.length} in all)` : ''}`;
    // Where such a job's config snapshot and results are: the journal lost only its line.
    const dirs = await state.unknownJobDirs(known);
    const where = dirs.length ? `; job directories no record names (a lost job's config snapshot and results): ${dirs.slice(0, 5).join(', ')}${dirs.length > 5 ? `, ... (${dirs.length} in all)` : ''}` : '';
    log(undefined, `journal ${state.journalFile}: skipped damaged line${lines.length > 1 ? 's' : ''} ${shown} (torn by a crash or edited by hand); the jobs they recorded are not listed${where}`, 'warn');
  } else if (!readOnly) {
    // With damaged lines, a directory without a record may be a job they recorded: kept.
    for (const dir of await state.removeOrphans(known, ENQUEUE_FILES, ORPHAN_AGE_MS)) {
      log(undefined, `removed ${dir}: its enqueue was cut off before the journal recorded it`, 'info');
    }
  }
}

/** Jobs whose engine died (kill -9, crash, reboot): interrupted, or the end they reached; what they left here stopped. */
export async function reapDead(o: Opening): Promise<void> {
  const { queue, state } = o;
  // Only here are the job directories of the dead engines' jobs (a shared queue's are on their hosts).
  const seen = async (job: Readonly<Job>) => ({ ended: recordedEnd(state.jobDir(job.id), job.startedAt), at: await state.lastWrite(job.id) });
  const recovered = await queue.recoverInterrupted(queue instanceof JournalQueue ? seen : undefined);
  // A read-only state dir is only looked at (shown interrupted, see recordOrShow): it may be
  // a copy of another machine's, whose process ids mean nothing here.
  if (!queue.readOnly?.()) for (const j of recovered) await killLeftovers(o, j);
}
