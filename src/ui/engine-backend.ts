/**
 * Adapts the engine to what the TUI reads and calls (TuiBackend): rows for the panes, derived
 * once per engine snapshot, and the engine's own methods for every key.
 */
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Engine, EngineSnapshot, JobView } from '../core/engine.js';
import { changeReason } from '../core/events.js';
import { currentOwner } from '../core/owner.js';
import { endedHere, figuresOf, readEndedResult, type EndedResult } from '../core/result-file.js';
import { parseGitTarget } from '../core/source.js';
import type { NodeView } from '../core/node-pool.js';
import type { MixSpec } from '../proxy/mix.js';
import { mixWords } from '../text/mix-words.js';
import { ProxyMonitor } from '../proxy/monitor.js';
import type { Proxy } from '../proxy/proxy.js';
import type { JobRow, NodeRow, TuiBackend, TuiSnapshot } from './backend.js';
import { openInBrowser } from './desktop.js';
import { MessageLog } from './message-log.js';

const KEPT_JOBS = 50;
const KEPT_LINES = 1000;

export interface EngineBackendOptions {
  /** The user's directory: where `e` looks for .marteau.yml files and resolves relative paths. */
  cwd: string;
  /** Offered first by `e` (the demo's own config). */
  suggestions?: readonly string[];
  /** Proxies outside any job (the demo's), shown next to the jobs' own. */
  extraProxies?: () => Iterable<Proxy>;
  /** Rings the terminal bell (when a finished job's config asks for it). */
  bell?: () => void;
  /** The log to say things in: the one the first frames showed (StartingBackend), kept whole. */
  messages?: MessageLog;
}

export function engineBackend(engine: Engine, o: EngineBackendOptions): TuiBackend & { stop(): void } {
  // Proxies of jobs other processes run: counters (and, beside this one on the state dir, where
  // their mixes are set, and their scenarios); read only while this view is open (offRemote).
  const remote = () => engine.remoteProxies().map((r) => ({ stats: () => r.stats, at: r.at, elsewhere: r.owner }));
  const monitor = new ProxyMonitor(() => [...(o.extraProxies?.() ?? []), ...engine.liveProxies(), ...remote()]);
  monitor.start();
  let last: { from?: EngineSnapshot; remote?: number; view: TuiSnapshot } = { view: { jobs: [], nodes: [], schedules: [], output: () => [] } };
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
  // An ended job's console.log, when it wrote one: where a job whose lines are not kept here
  // (run before this process started, by another, or beyond KEPT_JOBS) has its output. Looked
  // at once per job: an ended job's file does not change.
  const outputFiles = new Map<string, string | undefined>();
  const outputFileOf = (j: JobView): string | undefined => {
    if (!endedHere(j)) return undefined;
    if (!outputFiles.has(j.id)) {
      const file = path.join(j.resultDir, 'console.log');
      outputFiles.set(j.id, (statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0 ? file : undefined);
    }
    return outputFiles.get(j.id);
  };
  // How a job went that did not end in this process (before a restart, in a worker), as its
  // result.json says: read when a row shown, its details or its report need it (a long history is
  // not read at start), once: an ended job's file does not change.
  const endedResults = new Map<string, EndedResult | undefined>();
  const endedOf = (j: JobView): EndedResult | undefined => {
    if (j.summary !== undefined || !endedHere(j)) return undefined;
    if (!endedResults.has(j.id)) endedResults.set(j.id, readEndedResult(j.resultDir, j.startedAt));
    return endedResults.get(j.id);
  };
  const subscribers = new Set<() => void>();
  // Their scenarios are in the snapshot: a change of one there is a new snapshot here.
  let remoteVersion = 0;
  const offRemote = engine.remote.watch(() => {
    remoteVersion++;
    for (const l of subscribers) l();
  });
  const messages = o.messages ?? new MessageLog();
  const offFinished = engine.events.on('job.finished', (e) => {
    const report = e.report ? ` — report ${e.report}` : ` — results ${e.resultDir}`;
    messages.push(e.job.status === 'succeeded' ? 'info' : 'warn', `${e.job.id.slice(0, 8)} ${e.job.name} ${e.summary}${report}`, e.at);
    if (e.bell) o.bell?.();
  });
  // The engine's own troubles (a node down, the shared queue offline): a job's are in its output.
  const offEngineLog = engine.events.on('log.line', (e) => {
    if (!e.jobId && (e.level === 'warn' || e.level === 'error')) messages.push(e.level, e.line, e.at);
  });
  const unsubscribe = engine.subscribe(() => {
    for (const s of subscribers) s();
  });

  const getSnapshot = (): TuiSnapshot => {
    const snap = engine.getSnapshot();
    if (snap === last.from && remoteVersion === last.remote) return last.view;
    last = {
      from: snap,
      remote: remoteVersion,
      view: {
        // Newest first: what a user just enqueued is at the top.
        jobs: [...snap.jobs].reverse().map((j) => jobRow(j, !snap.queue.label, kept.has(j.id) ? undefined : outputFileOf(j), () => endedOf(j))),
        nodes: snap.nodes.map(nodeRow),
        schedules: [...snap.jobs.flatMap((j) => j.chaos ?? []), ...engine.remoteSchedules()],
        output: (id) => [...(kept.get(id) ?? [])],
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
    messages,
    proxies: {
      getSnapshot: monitor.getSnapshot,
      subscribe: monitor.subscribe,
      mixOf: (name) => proxyByName(name)?.mix ?? engine.remoteMix(name),
      behaviorNames: () => engine.behaviorNames(),
      setMix: async (name: string, spec: MixSpec) => {
        const proxy = proxyByName(name);
        if (!proxy && !engine.remoteProxy(name)) throw new Error(`no proxy "${name}" is running`);
        if (!proxy || engine.liveProxies().includes(proxy)) await engine.setMix(name, spec);
        else await proxy.setMix(spec);
        monitor.sample();
      },
      pauseChaos: async (name) => engine.pauseChaos(name),
      resumeChaos: (name) => engine.resumeChaos(name),
      carrier: (name) => {
        const id = engine.jobOfProxy(name) ?? engine.remoteProxy(name)?.job;
        return id ? engine.getSnapshot().jobs.find((j) => j.id === id)?.name : undefined;
      },
    },
    enqueue: async (source) => {
      // No shell reads the prompt: a git URL goes as typed (resolved, it became a path under the
      // user's directory), `~` is the home directory as tab completes it, the rest is relative.
      const target = parseGitTarget(source) ? source : path.resolve(o.cwd, source.replace(/^~(?=\/|$)/, os.homedir()));
      await engine.enqueue(target, { origin: 'tui', warn: (m) => messages.push('warn', m) });
    },
    cancel: async (id) => {
      await engine.cancel(id);
    },
    retry: async (id) => ({ id: (await engine.retry(id)).id }),
    replay: async (id) => {
      const j = await engine.replay(id);
      return { id: j.id, seed: j.seed };
    },
    reportOf: (id) => {
      const j = engine.getSnapshot().jobs.find((x) => x.id === id);
      return reportOf(j, j && endedOf(j));
    },
    openInBrowser,
    cwd: o.cwd,
    setNodeEnabled: (name, enabled) => engine.setNodeEnabled(name, enabled),
    enqueueSuggestions: () => [...new Set([...(o.suggestions ?? []), ...findMarteauFiles(o.cwd)])],
    stop: () => {
      offRemote();
      unsubscribe();
      offLines();
      offFinished();
      offEngineLog();
      monitor.stop();
    },
  };
}

/**
 * `journal`: the queue is this machine's, whose other processes' output reaches no one (a shared
 * queue streams it). A second control center on the state dir showed 'no output yet' for a job
 * the first one ran, however much it wrote. `ended`: what the job's result.json says, when it did
 * not end here; asked for only by the parts of the row that show it.
 */
function jobRow(j: JobView, journal: boolean, outputFile: string | undefined, ended: () => EndedResult | undefined): JobRow {
  const me = currentOwner();
  const runsHere = j.status === 'running' && j.owner?.pid === me.pid && j.owner.host === me.host;
  const other = journal && j.status === 'running' && !runsHere ? j.owner : undefined;
  const p = j.progress;
  const users = p?.users !== undefined && p.cycleUsers !== undefined && p.users !== p.cycleUsers ? `${p.users}/${p.cycleUsers}` : (p?.cycleUsers ?? p?.users);
  const running = j.status === 'running' && p?.requestsPerSecond !== undefined;
  const errorPercent = running && p.requestsPerSecond! > 0 && p.errorsPerSecond !== undefined ? (100 * p.errorsPerSecond) / p.requestsPerSecond! : running ? 0 : undefined;
  const src = j.source.kind === 'git' ? `${j.source.url}${j.source.ref ? `#${j.source.ref}` : ''} @ ${j.source.commit.slice(0, 12)}` : j.source.configFile;
  const known = (): Pick<JobView, 'summary' | 'report' | 'seed' | 'timeline'> => (j.summary !== undefined ? j : (ended() ?? j));
  // Why it did not succeed and what it measured, as `marteau-tui queue` says both: a cancelled
  // load's row read 'by a user' alone, its figures out of sight.
  const outcome = () => (p || j.waiting ? undefined : { reason: j.reason?.split('\n')[0] || undefined, figures: figuresOf(known().summary) });
  return {
    id: j.id,
    name: j.name,
    state: j.status,
    get progress() {
      if (p) return [p.cycle !== undefined ? `cycle ${p.cycle + 1}/${p.cycles ?? '?'}` : '', users !== undefined ? `${users} users` : '', p.message ?? ''].filter(Boolean).join(' · ');
      // The state and the time taken have their own columns: "907 requests, 0.00 % errors, ..." and why it failed.
      const o = outcome();
      return j.waiting ?? ([o?.reason, o?.figures].filter(Boolean).join(' · ') || undefined);
    },
    get outcome() {
      return outcome();
    },
    rate: running ? p.requestsPerSecond : undefined,
    errorPercent,
    p95Ms: running ? p.p95Ms : undefined,
    resultDir: j.resultDir,
    report: j.report,
    seed: j.seed,
    nodes: j.nodesTaken,
    enqueuedAt: j.enqueuedAt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    proxies: j.proxies,
    ...(runsHere ? { runsHere } : {}),
    ...(outputFile ? { outputFile } : {}),
    ...(other ? { elsewhere: `another marteau-tui process (pid ${other.pid}${other.host === me.host ? '' : ` on ${other.host}`})` } : {}),
    get details() {
      const { summary, report, seed, timeline } = known();
      const start = timeline?.[0]?.at;
      return [
        `id       ${j.id}`,
        `state    ${j.status}${j.reason ? ` — ${j.reason}` : ''}`,
        `source   ${src}`,
        `runner   ${j.runner} on ${j.nodes} node(s)${j.nodesTaken.length ? `: ${j.nodesTaken.join(', ')}` : ''}`,
        `results  ${j.resultDir}`,
        ...(report ? [`report   ${report} (o opens, y copies)`] : []),
        ...(summary ? [`summary  ${summary}`] : []),
        ...(seed ? [`seed     ${seed} (R replays the same faults: marteau-tui replay ${j.id.slice(0, 8)})`] : []),
        ...(timeline?.length ? [`faults   ${timeline.length} mix change(s):`, ...timeline.map((e) => `  +${((e.at - start!) / 1000).toFixed(1).padStart(6)}s  ${e.proxy}  ${mixWords(e.mix)}  (${changeReason(e)})`)] : []),
      ];
    },
  };
}

/** The job's HTML report: from this run, else the result.json an earlier run left (`ended`), else why there is none. */
function reportOf(j: JobView | undefined, ended: EndedResult | undefined): { path: string } | { none: string } {
  if (!j) return { none: 'no job selected' };
  const report = j.report ?? ended?.report;
  if (report) return { path: report };
  if (j.status === 'queued' || j.status === 'running') return { none: `no HTML report yet: job ${j.id.slice(0, 8)} is ${j.status}, its report comes when it ends` };
  return { none: `no HTML report for job ${j.id.slice(0, 8)} (${j.name}, ${j.status}): its runner wrote none; its results are in ${j.resultDir}` };
}

function nodeRow(n: NodeView): NodeRow {
  const state: NodeRow['state'] = !n.enabled ? 'disabled' : n.health === 'down' ? 'down' : n.running > 0 ? 'busy' : n.health === 'up' ? (n.sftp === false ? 'no sftp' : 'up') : 'unknown';
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
