/**
 * Adapts the engine to what the TUI reads and calls (TuiBackend): rows for the panes, derived
 * once per engine snapshot, and the engine's own methods for every key.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Engine, EngineSnapshot, JobView } from '../core/engine.js';
import type { NodeView } from '../core/node-pool.js';
import type { MixSpec } from '../proxy/mix.js';
import { ProxyMonitor } from '../proxy/monitor.js';
import type { Proxy } from '../proxy/proxy.js';
import type { JobRow, NodeRow, TuiBackend, TuiSnapshot } from './backend.js';

const KEPT_JOBS = 50;
const KEPT_LINES = 1000;

export interface EngineBackendOptions {
  /** Where `e` looks for .marteau.yml files to suggest. */
  cwd: string;
  /** Proxies outside any job (the demo's), shown next to the jobs' own. */
  extraProxies?: () => Iterable<Proxy>;
  /** Rings the terminal bell (when a finished job's config asks for it). */
  bell?: () => void;
}

export function engineBackend(engine: Engine, o: EngineBackendOptions): TuiBackend & { stop(): void } {
  // Proxies of jobs that other workers run on a shared queue come as counters only.
  const remote = () => engine.remoteProxyStats().map((s) => ({ stats: () => s }));
  const monitor = new ProxyMonitor(() => [...(o.extraProxies?.() ?? []), ...engine.liveProxies(), ...remote()]);
  monitor.start();
  let last: { from?: EngineSnapshot; view: TuiSnapshot } = { view: { jobs: [], nodes: [], schedules: [], output: () => [] } };
  // The engine keeps lines only while it runs a job; the pane keeps showing them afterwards,
  // a bounded tail per job for the most recent jobs.
  const kept = new Map<string, string[]>();
  const offLines = engine.events.on('log.line', (e) => {
    if (!e.jobId) return;
    let lines = kept.get(e.jobId);
    if (!lines) {
      kept.set(e.jobId, (lines = []));
      if (kept.size > KEPT_JOBS) kept.delete(kept.keys().next().value!);
    }
    lines.push(`${e.node ? `[${e.node}] ` : ''}${e.line}`);
    if (lines.length > KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  });
  const subscribers = new Set<() => void>();
  let message: TuiSnapshot['message'];
  const offFinished = engine.events.on('job.finished', (e) => {
    const report = e.report ? ` — report ${e.report}` : ` — results ${e.resultDir}`;
    message = { text: `${e.job.id.slice(0, 8)} ${e.job.name} ${e.job.status}: ${e.summary}${report}`, at: e.at };
    last = { view: last.view };
    if (e.bell) o.bell?.();
    for (const s of subscribers) s();
  });
  const unsubscribe = engine.subscribe(() => {
    for (const s of subscribers) s();
  });

  const getSnapshot = (): TuiSnapshot => {
    const snap = engine.getSnapshot();
    if (snap === last.from) return last.view;
    last = {
      from: snap,
      view: {
        // Newest first: what a user just enqueued is at the top.
        jobs: [...snap.jobs].reverse().map(jobRow),
        nodes: snap.nodes.map(nodeRow),
        schedules: snap.jobs.flatMap((j) => j.chaos ?? []),
        output: (id) => [...(kept.get(id) ?? [])],
        message,
        queue: snap.queue,
      },
    };
    return last.view;
  };

  const proxyByName = (name: string): Proxy | undefined =>
    [...(o.extraProxies?.() ?? []), ...engine.liveProxies()].find((p) => p.name === name);

  return {
    getSnapshot,
    subscribe: (l) => {
      subscribers.add(l);
      return () => subscribers.delete(l);
    },
    proxies: {
      getSnapshot: monitor.getSnapshot,
      subscribe: monitor.subscribe,
      mixOf: (name) => proxyByName(name)?.mix,
      behaviorNames: () => engine.behaviorNames(),
      setMix: async (name: string, spec: MixSpec) => {
        const proxy = proxyByName(name);
        if (!proxy) {
          const elsewhere = engine.remoteProxyStats().some((s) => s.name === name);
          throw new Error(elsewhere ? `proxy "${name}" runs in a job of another worker: change its mix there (or with its job's api:)` : `no proxy "${name}" is running`);
        }
        if (engine.liveProxies().includes(proxy)) await engine.setMix(name, spec);
        else await proxy.setMix(spec);
        monitor.sample();
      },
      pauseChaos: async (name) => engine.pauseChaos(name),
      resumeChaos: (name) => engine.resumeChaos(name),
    },
    enqueue: async (source) => {
      await engine.enqueue(path.resolve(o.cwd, source), { origin: 'tui' });
    },
    cancel: async (id) => {
      await engine.cancel(id);
    },
    retry: async (id) => {
      await engine.retry(id);
    },
    setNodeEnabled: (name, enabled) => engine.setNodeEnabled(name, enabled),
    enqueueSuggestions: () => findMarteauFiles(o.cwd),
    stop: () => {
      unsubscribe();
      offLines();
      offFinished();
      monitor.stop();
    },
  };
}

function jobRow(j: JobView): JobRow {
  const p = j.progress;
  const progress = p
    ? [
        p.cycle !== undefined ? `cycle ${p.cycle + 1}/${p.cycles ?? '?'}` : '',
        p.users !== undefined ? `${p.users} users` : '',
        p.requestsPerSecond !== undefined ? `${p.requestsPerSecond.toFixed(0)} req/s` : '',
        p.errors ? `${p.errors} err` : '',
        p.message ?? '',
      ].filter(Boolean).join(' · ')
    : j.reason;
  const src = j.source.kind === 'git' ? `${j.source.url}${j.source.ref ? `#${j.source.ref}` : ''} @ ${j.source.commit.slice(0, 12)}` : j.source.configFile;
  return {
    id: j.id,
    name: j.name,
    state: j.status,
    progress,
    nodes: j.nodesTaken,
    enqueuedAt: j.enqueuedAt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    details: [
      `id       ${j.id}`,
      `state    ${j.status}${j.reason ? ` — ${j.reason}` : ''}`,
      `source   ${src}`,
      `runner   ${j.runner} on ${j.nodes} node(s)${j.nodesTaken.length ? `: ${j.nodesTaken.join(', ')}` : ''}`,
      `results  ${j.resultDir}`,
      ...(j.summary ? [`summary  ${j.summary}`] : []),
      ...(j.seed ? [`seed     ${j.seed} (replay: marteau-tui replay ${j.id.slice(0, 8)})`] : []),
      ...(j.timeline?.length ? [`faults   ${j.timeline.length} fixture/chaos/manual mix changes`] : []),
    ],
  };
}

function nodeRow(n: NodeView): NodeRow {
  const state: NodeRow['state'] = !n.enabled ? 'disabled' : n.health === 'down' ? 'down' : n.running > 0 ? 'busy' : n.health === 'up' ? 'up' : 'unknown';
  return { name: n.name, state, latencyMs: n.latencyMs, job: n.running ? `${n.running}/${n.maxJobs} jobs` : n.error };
}

/** .marteau.yml files in the current directory and one level below (the repo's own configs). */
function findMarteauFiles(cwd: string): string[] {
  const found: string[] = [];
  const look = (dir: string, depth: number) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isFile() && /(^|\.)marteau\.ya?ml$/.test(e.name)) found.push(path.relative(cwd, path.join(dir, e.name)) || e.name);
      else if (e.isDirectory() && depth > 0 && !e.name.startsWith('.') && e.name !== 'node_modules' && e.name !== 'dist') look(path.join(dir, e.name), depth - 1);
    }
  };
  look(cwd, 2);
  return found.sort();
}
