/**
 * Decides which queued job starts where: oldest first, each taking `nodes: N` free nodes, and a
 * later job may start while an earlier one waits for nodes (backfill). A job that can never
 * fit (fewer eligible nodes than it needs) or that waited past `nodeWaitMs` is failed with the
 * reason, as an infrastructure error.
 */
import type { NodeConfig } from '../config/nodes.js';
import type { Job } from './jobs.js';
import type { NodePool } from './node-pool.js';
import type { JobQueue } from './queue.js';

export interface SchedulerDeps {
  queue: JobQueue;
  pool: NodePool;
  /** Whether this engine may run the job (the --ci engine runs only its own). */
  mayRun(job: Readonly<Job>): boolean;
  start(job: Readonly<Job>, claim: string, nodes: NodeConfig[]): void;
  /** The job cannot be placed: fail it with this reason. */
  unplaceable(job: Readonly<Job>, reason: string): Promise<void>;
  /** How long a job may wait for busy/down nodes before failing; undefined: forever. */
  nodeWaitMs?: number;
}

/** After a failed pass (queue unreachable), the next try. */
const RETRY_MS = 1000;
/** Scheduling passes per tick: bounds the work whatever the queue length. */
const MAX_STARTS_PER_TICK = 64;

export class Scheduler {
  private running?: Promise<void>;
  private again = false;
  private readonly waitingSince = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Run a scheduling pass soon; passes never overlap, and a request during one runs one more. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again);
      } catch {
        // The queue could not be written (a shared queue offline): try again shortly.
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.kick(), RETRY_MS);
        this.timer.unref();
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async pass(): Promise<void> {
    const { queue, pool } = this.deps;
    let started = 0;
    let earliestDeadline = Infinity;
    for (const job of queue.list()) {
      if (started >= MAX_STARTS_PER_TICK) break;
      if (job.status !== 'queued' || !this.deps.mayRun(job)) {
        this.waitingSince.delete(job.id);
        continue;
      }
      const eligible = pool.eligible(job.nodeTags);
      if (eligible.length < job.nodes) {
        const tags = job.nodeTags.length ? ` with tags ${job.nodeTags.join(', ')}` : '';
        await this.deps.unplaceable(job, `needs ${job.nodes} node${job.nodes > 1 ? 's' : ''}${tags} but only ${eligible.length} ${eligible.length === 1 ? 'is' : 'are'} enabled (${pool.config.file})`);
        continue;
      }
      const nodes = pool.pick(job.nodes, job.nodeTags);
      if (!nodes) {
        const since = this.waitingSince.get(job.id) ?? Date.now();
        this.waitingSince.set(job.id, since);
        if (this.deps.nodeWaitMs !== undefined) {
          const deadline = since + this.deps.nodeWaitMs;
          if (Date.now() >= deadline) {
            this.waitingSince.delete(job.id);
            const state = pool.list().filter((n) => eligible.some((e) => e.name === n.name)).map((n) => `${n.name} ${n.health === 'up' ? `busy ${n.running}/${n.maxJobs}` : n.health}${n.error ? ` (${n.error})` : ''}`);
            await this.deps.unplaceable(job, `waited ${Math.round(this.deps.nodeWaitMs / 1000)}s for ${job.nodes} free node${job.nodes > 1 ? 's' : ''}: ${state.join('; ')}`);
          } else {
            earliestDeadline = Math.min(earliestDeadline, deadline);
          }
        }
        continue;
      }
      const claim = await queue.claim(job.id, nodes.map((n) => ({ name: n.name, max: n.maxJobs })));
      this.waitingSince.delete(job.id);
      if (!claim) continue; // another process took the job or the nodes first
      started++;
      this.deps.start(job, claim, nodes);
    }
    // Wake up for the next wait deadline even if nothing else happens.
    clearTimeout(this.timer);
    if (earliestDeadline !== Infinity) {
      this.timer = setTimeout(() => void this.kick(), Math.max(10, earliestDeadline - Date.now() + 5));
      this.timer.unref();
    }
  }
}
