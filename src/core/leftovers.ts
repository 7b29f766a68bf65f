/** After a crash: the process groups a dead engine left running on this machine, stopped. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineCore } from './engine-types.js';
import type { Job } from './jobs.js';
import { groupAlive, processStartTime } from './owner.js';
import { short } from './queue.js';

/** After a crash: stop process groups the dead engine left on this machine. */
export async function killLeftovers(core: Pick<EngineCore, 'state' | 'log'>, job: Readonly<Job>): Promise<void> {
  for (const p of job.procs) {
    // Only a group on this machine has a pgid file (a local node's, a service's, Locust's
    // master's): a remote node's group is left to its connection watch.
    // The group id is the leader's pid. If the leader still exists, it must be the same
    // process (same start time); if it is gone but the group lives, the pid cannot have been
    // reused (Linux keeps a pid while it names a live group).
    const recorded = await readFile(path.join(core.state.jobDir(job.id), `pgid-${p.node}`), 'utf8').catch(() => '');
    const [pgidText, startText] = recorded.trim().split(' ');
    if (Number(pgidText) !== p.pgid) continue;
    const start = processStartTime(p.pgid);
    if (start !== undefined && startText && String(start) !== startText) continue;
    if (!groupAlive(p.pgid)) continue;
    try {
      process.kill(-p.pgid, 'SIGKILL');
      core.log(job.id, `stopped process group ${p.pgid} left by the interrupted job ${short(job.id)}`, 'warn');
    } catch {
      // gone meanwhile
    }
  }
}
