/** What an engine on a shared queue shares with the team's other terminals and workers. */
import type { ProxyStats } from '../proxy/proxy.js';
import type { EngineCore } from './engine-types.js';

/**
 * Show the live output of jobs other processes run, and (when this process runs jobs) publish
 * its nodes and the counters of its jobs' proxies each second (other terminals' panes read
 * them). Returns what stops both.
 */
export function shareWithTeam(core: EngineCore, runsJobs: boolean, proxyStats: () => ProxyStats[]): () => void {
  // A worker shows only the jobs it runs: other processes' lines would only wake it.
  const offShared = core.options.run === 'all' ? undefined : core.queue.onLine?.((jobId, l) => {
    if (core.live.has(jobId)) return;
    core.events.emit({ type: 'log.line', at: l.at, jobId, node: l.node, stream: l.stream, level: l.level, line: l.line });
  });
  const publish = core.queue.publishPresence?.bind(core.queue);
  let publisher: NodeJS.Timeout | undefined;
  if (publish && runsJobs) {
    const share = () => publish({ nodes: core.pool.list(), proxies: proxyStats() });
    share();
    publisher = setInterval(share, 1000);
    publisher.unref();
  }
  return () => {
    clearInterval(publisher);
    offShared?.();
  };
}
