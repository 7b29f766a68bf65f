/**
 * The process groups a job starts on this machine, kept in its directory (a pgid file each) so
 * that after a crash that took the engine and its watchdog (see watchdog.ts) the next process
 * stops what the dead engine left running.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fsReason } from '../fs/errors.js';
import type { EngineCore } from './engine-types.js';
import type { Job } from './jobs.js';
import { groupAlive, processStartTime } from './owner.js';
import { short } from './queue.js';

const PREFIX = 'pgid-';

/**
 * A job run's pgid files. Each names the run's claim, so it alone tells the next process the
 * group is this run's: the queue's record of the group may be refused (a failing or full disk,
 * a shared queue offline), and what could not be kept is said in the job's log.
 */
export class GroupFiles {
  /** The queue's refusal is said once a job: it costs nothing while the pgid files are written. */
  private queueSaid = false;

  constructor(
    private readonly dir: string,
    private readonly claim: string,
    private readonly warn: (line: string) => void,
  ) {}

  /** The group `pgid` of `node` started; `recorded`: the queue's record of it, made meanwhile. */
  async add(node: string, pgid: number, recorded: Promise<void>): Promise<void> {
    const file = path.join(this.dir, `${PREFIX}${node}`);
    const [written, inQueue] = await Promise.allSettled([writeFile(file, `${pgid} ${processStartTime(pgid) ?? ''} ${this.claim}\n`, { mode: 0o600 }), recorded]);
    if (written.status === 'rejected') {
      this.warn(`cannot write ${file} (${fsReason(written.reason) ?? String(written.reason)}): should this marteau-tui die with its watchdog, the next start cannot stop the processes of ${node} (process group ${pgid}); stop them by hand then (kill -KILL -- -${pgid})`);
    } else if (inQueue.status === 'rejected' && !this.queueSaid) {
      this.queueSaid = true;
      const e = inQueue.reason as NodeJS.ErrnoException;
      const why = fsReason(e) && e.path ? `cannot write ${e.path} (${fsReason(e)})` : String(e.message ?? e);
      this.warn(`${why}: this job's processes are not recorded in the queue; should this marteau-tui die with its watchdog, the next start finds them by their ${PREFIX}* files in ${this.dir}`);
    }
  }
}

/** After a crash: stop process groups the dead engine left on this machine. */
export async function killLeftovers(core: Pick<EngineCore, 'state' | 'log'>, job: Readonly<Job>): Promise<void> {
  // Only a group on this machine has a pgid file (a local node's, a service's, Locust's
  // master's): a remote node's group is left to its connection watch.
  const dir = core.state.jobDir(job.id);
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.startsWith(PREFIX));
  for (const f of files) {
    const [pgidText, startText, claim] = (await readFile(path.join(dir, f), 'utf8').catch(() => '')).trim().split(' ');
    const pgid = Number(pgidText);
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    // This run's: the file names its claim (a start put back in the queue left the files of the
    // one before), or, written by a version that did not, the queue recorded it.
    const node = f.slice(PREFIX.length);
    if (claim ? claim !== job.claim : !job.procs.some((p) => p.node === node && p.pgid === pgid)) continue;
    // The group id is the leader's pid. If the leader still exists, it must be the same
    // process (same start time); if it is gone but the group lives, the pid cannot have been
    // reused (Linux keeps a pid while it names a live group).
    const start = processStartTime(pgid);
    if (start !== undefined && startText && String(start) !== startText) continue;
    if (!groupAlive(pgid)) continue;
    try {
      process.kill(-pgid, 'SIGKILL');
      core.log(job.id, `stopped process group ${pgid} left by the interrupted job ${short(job.id)}`, 'warn');
    } catch {
      // gone meanwhile
    }
  }
}
