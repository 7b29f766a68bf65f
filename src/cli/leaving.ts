/**
 * What the control center says on the terminal it leaves: the jobs its quit interrupted (where
 * their output is, how to queue them again) and how many jobs stay queued, and where. A quit
 * with twenty jobs queued left a bare prompt, as if they had gone with it.
 */
import type { JobView } from '../core/engine-types.js';

/**
 * `stopped`: the jobs this process ran when the user quit; `runsJobs`: false on a team queue,
 * whose workers run them; `flag`: the --state-dir the user gave, which the commands said need too.
 */
export function leavingLines(jobs: readonly JobView[], stopped: ReadonlySet<string>, o: { stateDir: string; flag?: string; runsJobs: boolean }): string[] {
  const cli = (command: string) => `\`marteau-tui ${command}${o.flag ? ` --state-dir ${o.flag}` : ''}\``;
  const out = jobs
    .filter((j) => stopped.has(j.id))
    .map((j) => `job ${j.id.slice(0, 8)} (${j.name}) ${j.status}: its output is in ${j.resultDir}/console.log; ${cli(`retry ${j.id.slice(0, 8)}`)} queues it again`);
  const queued = jobs.filter((j) => j.status === 'queued').length;
  if (queued && o.runsJobs) out.push(`${queued} job${queued > 1 ? 's' : ''} left queued in ${o.stateDir}: ${queued > 1 ? 'they run' : 'it runs'} when the control center or ${cli('worker')} opens it again`);
  return out;
}
