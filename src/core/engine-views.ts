/**
 * What views read of the engine: each job's record with what this process knows of it (live
 * output, chaos schedules, its summary), and the nodes of this process and of the team's workers.
 */
import path from 'node:path';
import type { EngineCore, JobSummary, JobView } from './engine-types.js';
import type { Job } from './jobs.js';
import type { NodeView } from './node-view.js';
import { currentOwner } from './owner.js';
import type { JobQueue } from './queue.js';
import type { StateDir } from './state-dir.js';

/** Where a job's results are: here, or (team mode) `host:dir` of the engine that ran it. */
export function resultDirOf(state: StateDir, queue: JobQueue, id: string): string {
  const j = queue.get(id);
  if (!j?.resultsRoot || !j.owner) return state.jobDir(id);
  const dir = path.join(j.resultsRoot, j.id);
  return j.owner.host === currentOwner().host ? dir : `${j.owner.host}:${dir}`;
}

/**
 * What the run here left of a job, while the job is still that run's: not once it was put back in
 * the queue, its next run (another worker's, or one here) telling its own end.
 */
export function runSummary(core: Pick<EngineCore, 'summaries'>, j: Readonly<Job>): JobSummary | undefined {
  const s = core.summaries.get(j.id);
  return s?.claim === j.claim ? s : undefined;
}

export class JobViews {
  private readonly cache = new WeakMap<Readonly<Job>, JobView>();

  constructor(private readonly core: EngineCore) {}

  view(j: Readonly<Job>): JobView {
    const l = this.core.live.get(j.id);
    const s = runSummary(this.core, j);
    // A job not running here only changes when the queue gives a new object for it.
    const waiting = j.status === 'queued' ? this.core.waitReason(j.id) : undefined;
    const cached = l ? undefined : this.cache.get(j);
    if (cached && cached.summary === s?.summary && cached.waiting === waiting) return cached;
    const v: JobView = Object.freeze({
      ...j,
      resultDir: resultDirOf(this.core.state, this.core.queue, j.id),
      progress: l?.progress,
      lines: l ? Object.freeze([...l.lines]) : undefined,
      timeline: l ? Object.freeze([...l.timeline]) : s?.timeline,
      chaos: l?.chaos ? Object.freeze(l.chaos.view()) : undefined,
      seed: l?.seed ?? s?.seed,
      waiting,
      summary: s?.summary,
      report: s?.report,
    });
    if (!l) this.cache.set(j, v);
    return v;
  }
}

/**
 * This process's nodes, and on a shared queue the workers' too. A terminal that runs no jobs
 * shows the workers' view of a node of the same name (they probe it, it only has a config).
 */
export function nodeViews(queue: JobQueue, own: NodeView[], runsJobs: boolean): NodeView[] {
  const remote = (queue.remotePresence?.().nodes ?? []).map((n) => ({ ...n, running: queue.nodeUse(n.name), enabled: queue.nodeEnabled(n.name) ?? n.enabled }));
  if (!remote.length) return own;
  const [first, second] = runsJobs ? [own, remote] : [remote, own];
  return [...first, ...second.filter((n) => !first.some((m) => m.name === n.name))];
}
