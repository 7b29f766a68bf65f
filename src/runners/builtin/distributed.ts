/**
 * The builtin bench spread over a job's nodes. Each node runs the agent (agent.ts) on its share
 * of every cycle's users: the installed marteau-tui when the node names one of our version
 * (`marteau_tui`), else the agent bundle, uploaded once per build and kept in the node's
 * work_dir. Once every agent is loaded, the engine pings each (agent-link.ts) for its round trip
 * and clock offset, and all start at one instant a little ahead; their progress lines are summed
 * every second. Each agent streams its FunkLoad XML (sample times to the microsecond) on its
 * stdout, which the engine copies to the node's file in the job's result directory as it comes,
 * so a node whose connection dies leaves its samples until then. At the end every sample is
 * replayed, moved onto the engine's clock, into the job's model and result file, so cycles merge
 * exactly (histograms are rebuilt from samples) and the samples line up with the faults the
 * engine's proxies timed.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdirp } from '../../fs/mkdirp.js';
import os from 'node:os';
import path from 'node:path';
import type { FailureKind } from '../../core/jobs.js';
import { NodeError, TransferError, type RunResult } from '../../exec/executor.js';
import { MAX_DATA_LINE_CHARS } from '../../exec/lines.js';
import { LineBatch } from '../funkload-writer.js';
import { FunkloadFormatError, readFunkloadXml } from '../funkload-xml.js';
import { lostAbort, type RunAbort, type RunResults } from '../results.js';
import type { RunnerContext, RunnerNode, RunOutcome } from '../../core/runner-contract.js';
import { cleanupStage, makeRemoteJobDir } from '../staging.js';
import { AgentLink } from './agent-link.js';
import { AGENT_BAD_JOB, AGENT_ENTRY, agentArgs, parseAgentLine, parseResultLine, type AgentJob } from './agent-protocol.js';
import { shareOf, type BenchOptions, type BenchProgress } from './bench.js';
import { now } from './sample-clock.js';
import { agentBundle, BUNDLE_MARKER, packageRoot, packageVersion, UNPACK_SCRIPT } from './bundle.js';
import type { BuiltinConfig } from './config.js';
import { summaryLine } from './job.js';

/** undici 7 (the agent's HTTP client) needs this Node.js. */
const MIN_NODE: [number, number] = [20, 18];
/**
 * The common start is measured from the moment every agent is loaded: the slowest node's ping
 * round trip twice (the start command takes half of one) plus a margin, at most 5 s. An agent
 * that still starts late says so in the log.
 */
const START_MARGIN_MS = 250;
const MAX_START_DELAY_MS = 5000;
/** An agent loads its modules (a login shell and Node.js start first): a loaded node is slow. */
const READY_TIMEOUT_MS = 120_000;
const PING_TIMEOUT_MS = 10_000;
const RESULT_FILE = 'results.xml';
const JOB_FILE = 'job.json';
const PACK_FILE = 'agent.pack';

/** A node could not run the agent: which node, why, and what kind of failure it is. */
export class AgentError extends Error {
  constructor(readonly node: string, message: string, readonly failure: FailureKind, readonly hint?: string) {
    super(`node "${node}": ${message}${hint ? ` (${hint})` : ''}`);
    this.name = 'AgentError';
  }
}

/** A node that could not take part (no Node.js, unreachable, upload refused): the job fails with its reason. */
export function nodeFailure(e: unknown): RunOutcome {
  if (e instanceof AgentError) return { status: 'failed', failure: e.failure, reason: e.message };
  if (e instanceof NodeError || e instanceof TransferError) return { status: 'failed', failure: 'infrastructure', reason: e.message };
  throw e;
}

interface NodeRun {
  node: RunnerNode;
  /** The agent command, without the job file. */
  agent: string[];
  /** Where the agent runs and writes, on the node. */
  dir: string;
  /** This node's files in the job's result directory. */
  localDir: string;
  link: AgentLink;
  /** Lost mid-run: when and why. */
  lost?: { at: number; reason: string };
  progress?: BenchProgress;
  done?: { requests: number; errors: number; tests: number; aborted: boolean };
  result?: RunResult;
  stderr: string[];
}

/**
 * Run a short command on a node and collect its output: stdout first (its first line is the
 * answer read), then stderr, which a node's login may fill before the command starts.
 */
async function capture(node: RunnerNode, argv: string[], signal: AbortSignal): Promise<{ code: number | null; out: string }> {
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const r = await node.executor.run(argv, { signal, onLine: (l, stream) => lines[stream].length < 50 && lines[stream].push(l) });
  return { code: r.exitCode, out: [...lines.stdout, ...lines.stderr].join('\n').trim() };
}

/** The version line UNPACK_SCRIPT printed: Node.js is there and recent enough, or an error naming the node and the fix. */
function checkNode(node: RunnerNode, nodeBin: string, r: { code: number | null; out: string }): void {
  const hint = `install Node.js >= ${MIN_NODE.join('.')} there, or set node_bin: /path/to/node for node "${node.name}" in marteau.nodes.yml`;
  if (r.code === 127 || r.code === 126) throw new AgentError(node.name, `the builtin runner needs Node.js on the node: "${nodeBin}" is not found there (exit ${r.code})`, 'infrastructure', hint);
  const version = r.out.split('\n')[0] ?? '';
  const [major, minor] = version.split('.').map(Number);
  if (!(major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]))) {
    throw new AgentError(node.name, /^\d+\.\d+/.test(version) ? `Node.js ${version} is too old for the builtin runner` : `"${nodeBin}" does not run as Node.js: ${r.out.slice(0, 200)}`, 'infrastructure', hint);
  }
  if (r.code !== 0) throw new AgentError(node.name, `cannot unpack the builtin agent (exit ${r.code}): ${r.out.split('\n').slice(1).join(' ').slice(0, 300)}`, 'infrastructure');
}

/**
 * Ready a node: its job directory (job file, and the packed agent when the node lacks this
 * build's bundle) in one upload, then one command that checks Node.js and unpacks. Remote
 * commands are few on purpose: each starts a login shell, which can take seconds.
 */
async function prepare(ctx: RunnerContext, node: RunnerNode, job: (index: number) => AgentJob, version: string, signal: AbortSignal): Promise<NodeRun> {
  const localDir = path.join(ctx.resultDir, 'nodes', node.name);
  await mkdirp(localDir, 0o777);
  await writeFile(path.join(localDir, JOB_FILE), JSON.stringify(job(node.index)));
  if (node.kind === 'local') {
    return { node, agent: [process.execPath, path.join(packageRoot(), AGENT_ENTRY)], dir: localDir, localDir, stderr: [], link: new AgentLink() };
  }
  const nodeBin = node.nodeBin ?? 'node';
  const log = (line: string, level?: 'warn') => ctx.log(line, { node: node.name, stream: 'engine', level });
  const dir = await makeRemoteJobDir(ctx, node);
  let agent: string[] | undefined;
  if (node.marteauTui) {
    const entry = path.posix.join(node.marteauTui, AGENT_ENTRY);
    const r = await capture(node, [nodeBin, entry, '--version'], signal);
    if (r.code === 0 && r.out === version) {
      log(`builtin agent: marteau-tui ${version} installed in ${node.marteauTui}`);
      agent = [nodeBin, entry];
    } else {
      log(`marteau_tui ${node.marteauTui} is not usable (${r.code === 0 ? `version ${r.out}, this is ${version}` : `exit ${r.code}: ${r.out.split('\n')[0] ?? ''}`}); shipping the agent instead`, 'warn');
    }
  }
  const bundle = agent ? undefined : await agentBundle();
  const bundleDir = bundle && path.posix.join(node.remoteBase ?? '/tmp/marteau-tui', 'bundles', bundle.id);
  const ship = bundle && bundleDir && !(await node.executor.exists(path.posix.join(bundleDir, BUNDLE_MARKER)));
  const stage = await mkdtemp(path.join(os.tmpdir(), 'marteau-stage-'));
  try {
    await copyFile(path.join(localDir, JOB_FILE), path.join(stage, JOB_FILE));
    if (ship) {
      log(`builtin agent: uploading bundle ${bundle.id} (${bundle.files.length} files, ${(bundle.bytes / 1048576).toFixed(1)} MB, ${(bundle.packBytes / 1024).toFixed(0)} KB packed) to ${bundleDir}`);
      await copyFile(bundle.pack, path.join(stage, PACK_FILE));
    } else if (bundle) {
      log(`builtin agent: bundle ${bundle.id} already on the node`);
    }
    await node.executor.put(stage, dir, { exclude: [], signal });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  if (bundle && bundleDir) {
    const r = await capture(node, [nodeBin, '-e', UNPACK_SCRIPT, ...(ship ? [path.posix.join(dir, PACK_FILE), bundleDir] : [])], signal);
    if (signal.aborted) return { node, agent: [], dir, localDir, stderr: [], link: new AgentLink() };
    checkNode(node, nodeBin, r);
    agent = [nodeBin, path.posix.join(bundleDir, AGENT_ENTRY)];
  }
  return { node, agent: agent!, dir, localDir, stderr: [], link: new AgentLink() };
}

/** Sum of the nodes' latest progress: users and rates add up, the slowest node's cycle shows. */
export function sumProgress(parts: readonly BenchProgress[], cycles: number): BenchProgress | undefined {
  if (!parts.length) return undefined;
  const sum = (k: keyof BenchProgress) => parts.reduce((a, p) => a + (p[k] as number), 0);
  const slowest = parts.reduce((a, p) => (p.cycle < a.cycle ? p : a));
  return {
    cycle: slowest.cycle,
    cycles,
    cvus: sum('cvus'),
    users: sum('users'),
    phase: slowest.phase,
    elapsed: Math.max(...parts.map((p) => p.elapsed)),
    requestsPerSecond: sum('requestsPerSecond'),
    errorsPerSecond: sum('errorsPerSecond'),
    requests: sum('requests'),
    errors: sum('errors'),
    // Not a sum: the slowest node's p95 bounds what users see.
    p95Ms: parts.some((p) => p.p95Ms !== undefined) ? Math.max(...parts.map((p) => p.p95Ms ?? 0)) : undefined,
  };
}

/**
 * A bench function for runBuiltinJob that runs on `ctx.nodes` through agents. Throws AgentError,
 * NodeError or TransferError when a node cannot take part (nothing is then merged).
 */
export function distributedBench(ctx: RunnerContext, meta: Record<string, string>) {
  return async (config: BuiltinConfig, options: BenchOptions & { results: RunResults }): Promise<void> => {
    const version = await packageVersion();
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const job = (index: number): AgentJob => ({
      version,
      name: options.name ?? ctx.job.name,
      node: ctx.nodes[index].name,
      config,
      share: { index, of: ctx.nodes.length },
      meta,
    });
    const runs: NodeRun[] = [];
    /** Nodes whose connection failed: nothing more is asked of them, not even cleaning up. */
    const lost = new Set<string>();
    let ticker: NodeJS.Timeout | undefined;
    let started: NodeJS.Timeout | undefined;
    try {
      // A node none of whose cycles gives it a user would run an agent for nothing.
      const idle = ctx.nodes.filter((n) => config.cycles.every((c) => shareOf(c, { index: n.index, of: ctx.nodes.length }) === 0));
      for (const n of idle) ctx.log(`no users in any cycle (${config.cycles.join('/')} over ${ctx.nodes.length} nodes): no agent started here`, { node: n.name, stream: 'engine', level: 'warn' });
      const busy = ctx.nodes.filter((n) => !idle.includes(n));
      const prepared = await Promise.allSettled(busy.map((n) => prepare(ctx, n, job, version, signal)));
      prepared.forEach((p, i) => (p.status === 'fulfilled' ? runs.push(p.value) : p.reason instanceof NodeError && lost.add(busy[i].name)));
      const failed = prepared.find((p): p is PromiseRejectedResult => p.status === 'rejected');
      if (failed) throw failed.reason;
      if (signal.aborted) return;

      for (const r of runs) {
        const share = `${config.cycles.map((c) => shareOf(c, { index: r.node.index, of: ctx.nodes.length })).join('/')}`;
        ctx.log(`builtin agent starting: users per cycle ${share} of ${config.cycles.join('/')}`, { node: r.node.name, stream: 'engine' });
      }
      // Settled as they end, so that a node lost while others are awaited is no unhandled rejection.
      const running = Promise.allSettled(runs.map((r) => runAgent(ctx, r, signal, () => stop.abort())));
      let notStarted: unknown;
      let loadStarted = false;
      try {
        // Every node starts its bench at the same instant, measured once all agents are loaded.
        await Promise.all(runs.map((r) => r.link.ready(READY_TIMEOUT_MS).catch(agentFailure(r))));
        const clocks = await Promise.all(runs.map((r) => r.link.sync(PING_TIMEOUT_MS).catch(agentFailure(r))));
        const slowest = Math.max(...clocks.map((c) => c.roundTripMs));
        const delay = Math.min(MAX_START_DELAY_MS, Math.ceil(slowest * 2) + START_MARGIN_MS);
        const startAt = now() + delay;
        for (const r of runs) {
          const c = r.link.clock!;
          ctx.log(`clock ${c.offsetMs < 0 ? '-' : '+'}${Math.abs(c.offsetMs).toFixed(1)} ms from the engine's (round trip ${c.roundTripMs.toFixed(1)} ms)`, { node: r.node.name, stream: 'engine' });
          r.link.start(startAt);
        }
        ctx.log(`agents ready on ${runs.length} node(s): the load starts in ${delay} ms (slowest round trip ${slowest.toFixed(1)} ms)`, { stream: 'engine' });
        started = setTimeout(() => options.onStart?.(), Math.max(0, startAt - now()));
        loadStarted = true;
      } catch (e) {
        notStarted = e;
        stop.abort();
      }
      ticker = setInterval(() => {
        const p = sumProgress(runs.flatMap((r) => (r.progress ? [r.progress] : [])), config.cycles.length);
        if (p) options.onProgress?.(p);
      }, 1000);
      ticker.unref();
      // Every agent has ended (or been killed) before anything is judged or cleaned up.
      const ended = await running;
      ended.forEach((e, i) => e.status === 'rejected' && e.reason instanceof NodeError && lost.add(runs[i].node.name));
      const crashed = ended.find((e): e is PromiseRejectedResult => e.status === 'rejected');
      const bad = runs.find((r) => !r.result?.cancelled && r.result?.exitCode !== 0);
      if (loadStarted) {
        // Lost mid-run: what every node recorded is kept (a lost node's until it was lost), and
        // the reports say which node was lost and when. The first loss stopped every node: the run
        // ended there (its rates divide by the time it recorded, not the cycle's duration), a
        // failure of the machines, as the results file says for a report rebuilt from it.
        for (const r of runs) if (r.lost) options.results.nodeLost(r.node.name, r.lost.at, r.lost.reason);
        const loss = firstLoss(runs);
        if (loss) options.results.stoppedBy(loss);
      } else if (crashed) {
        throw crashed.reason;
      } else if (bad && !options.signal?.aborted) {
        throw new AgentError(bad.node.name, agentEnd(bad), 'infrastructure');
      }
      if (notStarted && !options.signal?.aborted) throw notStarted;
      if (notStarted) return;
      // A stopped run keeps what its nodes recorded until then.
      await merge(ctx, runs, config, options);
    } finally {
      clearInterval(ticker);
      clearTimeout(started);
      stop.abort();
      options.results.finish(Date.now(), options.signal?.aborted ?? false);
      const last = sumProgress(runs.flatMap((r) => (r.progress ? [{ ...r.progress, phase: 'done' as const }] : [])), config.cycles.length);
      if (last) options.onProgress?.(last);
      await Promise.all(ctx.nodes.filter((n) => !lost.has(n.name)).map((n) => cleanupStage(ctx, n)));
    }
  };
}

/** How an agent that failed ended, from its exit and its last stderr lines. */
function agentEnd(r: NodeRun): string {
  const why = r.result?.exitCode === AGENT_BAD_JOB ? 'refused its job file' : r.result?.exitCode === null ? `was killed by ${r.result.signal}` : `exited with ${r.result?.exitCode}`;
  return `the builtin agent ${why}${r.stderr.length ? `: ${r.stderr.slice(-3).join(' / ')}` : ''}`;
}

/** A node's agent that could not be readied or synchronized: the job fails naming it. */
const agentFailure = (r: NodeRun) => (e: Error): never => {
  throw e instanceof NodeError || e instanceof AgentError ? e : new AgentError(r.node.name, e.message, 'infrastructure');
};

async function runAgent(ctx: RunnerContext, r: NodeRun, signal: AbortSignal, failAll: () => void): Promise<void> {
  // The agent's result, copied as it streams in: flushed with each progress line (every second)
  // and when the agent ends, however it ends.
  const copy = LineBatch.file(path.join(r.localDir, RESULT_FILE));
  try {
    r.result = await r.node.executor.run([...r.agent, ...agentArgs(JOB_FILE)], {
      cwd: r.dir,
      signal,
      input: (write) => r.link.attach(write),
      onStart: ({ pgid }) => ctx.recordProcess(r.node.name, pgid),
      // A result line is a sample: never cut (a long URL or traceback), within a bound.
      maxLineChars: MAX_DATA_LINE_CHARS,
      onLine: (line, stream) => {
        if (stream === 'stderr') {
          if (r.stderr.length < 200) r.stderr.push(line);
          ctx.log(line, { node: r.node.name, stream });
          return;
        }
        const xml = parseResultLine(line);
        if (xml !== undefined) return copy.line(xml);
        const m = parseAgentLine(line);
        if (!m) ctx.log(line, { node: r.node.name, stream });
        else if (r.link.message(m)) return;
        else if (m.type === 'progress') {
          r.progress = m.progress;
          copy.flush();
        } else if (m.type === 'done') r.done = m;
      },
    });
    if (r.result.exitCode !== 0 && !r.result.cancelled) {
      r.lost = { at: Date.now(), reason: agentEnd(r) };
      failAll();
    }
  } catch (e) {
    if (e instanceof NodeError) ctx.nodeFailed(r.node.name, e.message);
    // Said after the node's name ('node "a": node lost at ...: <reason>'): not named twice.
    r.lost = { at: Date.now(), reason: e instanceof NodeError ? e.detail : (e as Error).message };
    failAll();
    throw e;
  } finally {
    copy.close();
    r.link.ended(new AgentError(r.node.name, 'the builtin agent ended before its start', 'infrastructure'));
  }
}

/** The first node lost mid-run, which stopped every node: where and why the run ended. */
function firstLoss(runs: NodeRun[]): RunAbort | undefined {
  const first = runs.filter((r) => r.lost).sort((x, y) => x.lost!.at - y.lost!.at)[0];
  return first && lostAbort({ node: first.node.name, ...first.lost! });
}

/** Replay each node's copied XML, as one bench of the configured users, into the job's model and file. */
async function merge(ctx: RunnerContext, runs: NodeRun[], config: BuiltinConfig, options: BenchOptions & { results: RunResults }): Promise<void> {
  const windows = new Map<number, { start: number; end: number }>();
  const total = (cycle: number) => config.cycles[cycle] ?? 0;
  const loss = firstLoss(runs);
  for (const r of runs) {
    const file = path.join(r.localDir, RESULT_FILE);
    const read = await readFunkloadXml(file, {
      sink: {
        request: (s) => {
          const merged = { ...s, start: r.link.toEngine(s.start), cvus: total(s.cycle), node: r.node.name };
          options.results.addRequest(merged);
          options.onRequest?.(merged);
        },
        test: (t) => {
          const merged = { ...t, start: r.link.toEngine(t.start), cvus: total(t.cycle) };
          options.results.addTest(merged);
          options.onTest?.(merged);
        },
      },
    }).catch((e: Error) => {
      // Lost or stopped before its header came (between the start command and its start): nothing to replay.
      if (!r.done && e instanceof FunkloadFormatError) return undefined;
      throw e;
    });
    if (!read) {
      ctx.log(`${r.lost ? 'node lost' : 'agent stopped'} before it sent any sample`, { node: r.node.name, stream: 'engine', level: 'warn' });
      continue;
    }
    for (const w of read.warnings) ctx.log(w, { node: r.node.name, stream: 'engine', level: 'warn' });
    // Its rates too are over the time it recorded.
    if (loss) read.results.stoppedBy(loss);
    const summary = read.results.summary();
    if (r.done && r.done.requests !== summary.overall.requests.total) {
      ctx.log(`the agent reported ${r.done.requests} requests but its result file holds ${summary.overall.requests.total}`, { node: r.node.name, stream: 'engine', level: 'warn' });
    }
    for (const c of read.results.cycles.values()) {
      if (c.start === undefined || c.end === undefined) continue;
      const [start, end] = [r.link.toEngine(c.start), r.link.toEngine(c.end)];
      const w = windows.get(c.cycle);
      windows.set(c.cycle, w ? { start: Math.min(w.start, start), end: Math.max(w.end, end) } : { start, end });
    }
    ctx.log(`node result${r.lost ? ' until it was lost' : ''}: ${summaryLine(summary)}`, { node: r.node.name, stream: 'engine', ...(r.lost ? { level: 'warn' as const } : {}) });
  }
  for (const [cycle, w] of [...windows].sort((a, b) => a[0] - b[0])) {
    options.results.startCycle(cycle, total(cycle), w.start);
    options.results.endCycle(cycle, w.end);
    options.onCycle?.({ cycle, cvus: total(cycle), phase: 'end', at: w.end });
  }
}


