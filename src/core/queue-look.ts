/**
 * The queue and the nodes as `queue` and `nodes --no-probe` list them, without an engine: the
 * queue opened as an engine opens it (queue-open.ts: what is wrong with the journal said, dead
 * engines' jobs recovered), read once and closed. Neither the scheduler, the executors (SSH) nor
 * the runners load, so a listing starts about as fast as `--version` (bench:cli).
 */
import type { NodesConfig } from '../config/nodes.js';
import type { EngineCore } from './engine-types.js';
import { nodeViews, resultDirOf } from './engine-views.js';
import type { Job } from './jobs.js';
import { nodeView, unprobed, type NodeView } from './node-view.js';
import { checkJournal, openQueue, queueOf, reapDead } from './queue-open.js';
import { StateDir } from './state-dir.js';

export interface QueueLook {
  /** Every job, oldest first, with where its results are (as the engine's snapshot has them). */
  jobs: (Readonly<Job> & { resultDir: string })[];
  /** The nodes file's nodes, unprobed, and on a shared queue the workers' (as a TUI shows them). */
  nodes: NodeView[];
}

export async function lookAtQueue(stateDir: string, nodes: NodesConfig, log: EngineCore['log']): Promise<QueueLook> {
  const state = new StateDir(stateDir);
  const Redis = nodes.queue?.url ? (await import('./redis-queue.js')).RedisQueue : undefined;
  const queue = queueOf(nodes, state, true, Redis);
  const opened = { state, queue, log };
  const readOnly = await openQueue(opened, false);
  try {
    await checkJournal(opened, readOnly);
    await reapDead(opened);
    return {
      jobs: queue.list().map((j) => ({ ...j, resultDir: resultDirOf(state, queue, j.id) })),
      nodes: nodeViews(queue, nodes.nodes.map((n) => nodeView(n, unprobed(n), queue)), false),
    };
  } finally {
    await queue.close();
  }
}
