/** What an engine on a shared queue shares with the team's other terminals and workers. */
import { specOfMix } from '../proxy/mix.js';
import type { EngineCore } from './engine-types.js';
import { isTerminal } from './jobs.js';
import type { ChaosAnswer, ChaosRequest, Presence } from './queue-types.js';
import { short } from './queue-types.js';

/**
 * Show the live output of jobs other processes run, and (when this process runs jobs) publish
 * its nodes, and the counters, mixes and scenarios of its jobs' proxies each second (other
 * terminals' panes read them), and take the chaos changes other terminals ask of its jobs.
 * Returns what stops them.
 */
export function shareWithTeam(core: EngineCore, runsJobs: boolean): () => void {
  // A worker shows only the jobs it runs: other processes' lines would only wake it.
  const offShared = core.options.run === 'all' ? undefined : core.queue.onLine?.((jobId, l) => {
    if (core.live.has(jobId)) return;
    core.events.emit({ type: 'log.line', at: l.at, jobId, node: l.node, stream: l.stream, level: l.level, line: l.line });
  });
  const publish = core.queue.publishPresence?.bind(core.queue);
  let publisher: NodeJS.Timeout | undefined;
  if (publish && runsJobs) {
    const share = () => publish({ nodes: core.pool.list(), ...proxiesOf(core) });
    share();
    publisher = setInterval(share, 1000);
    publisher.unref();
    core.queue.chaos?.serve(
      (r) => applyChange(core, r),
      (r) => core.log(r.job, `chaos ${r.proxy}: a change from ${who(r)} came after it stopped waiting for an answer: not applied`, 'warn'),
    );
  }
  return () => {
    clearInterval(publisher);
    offShared?.();
  };
}

function proxiesOf(core: EngineCore): Pick<Presence, 'proxies' | 'control'> {
  const out: Required<Pick<Presence, 'proxies' | 'control'>> = { proxies: [], control: [] };
  for (const [job, l] of core.live) {
    const schedules = l.chaos?.view() ?? [];
    for (const p of l.proxies?.proxies.values() ?? []) {
      out.proxies.push(p.stats());
      out.control.push({ job, mix: specOfMix(p.mix), schedule: schedules.find((s) => s.proxy === p.name) });
    }
  }
  return out;
}

function who(r: ChaosRequest): string {
  return `pid ${r.by.pid} on ${r.by.host}`;
}

/** A change another terminal asks of a job running here, made as one made by hand here. */
async function applyChange(core: EngineCore, r: ChaosRequest): Promise<ChaosAnswer> {
  const live = core.live.get(r.job);
  const job = core.queue.get(r.job);
  if (!live?.chaos || !live.proxies) throw new Error(`job ${short(r.job)} ${job && isTerminal(job.status) ? `has ended (${job.status})` : 'has no proxy running'}`);
  const proxy = live.proxies.get(r.proxy);
  if (!proxy) throw new Error(`job ${short(r.job)} has no proxy "${r.proxy}" (its proxies: ${[...live.proxies.proxies.keys()].join(', ')})`);
  if ('mix' in r) {
    const mix = await live.chaos.manual(r.proxy, r.mix, who(r));
    return { mix, spec: specOfMix(proxy.mix) };
  }
  const scenario = live.chaos.view().find((v) => v.proxy === r.proxy);
  if (!scenario?.current && !scenario?.remaining) throw new Error(`proxy "${r.proxy}" has no chaos scenario`);
  if (r.paused) live.chaos.pause(r.proxy, who(r));
  else await live.chaos.resume(r.proxy, who(r));
  return {};
}
