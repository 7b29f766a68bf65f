/**
 * The builtin bench spread over a job's nodes. Each node runs the agent (agent.ts) on its share
 * of every cycle's users: the installed marteau-tui when the node names one of our version
 * (`marteau_tui`), else the agent bundle, uploaded once per build and kept in the node's
 * work_dir. All agents start at one agreed instant; their progress lines are summed every
 * second; at the end each node's FunkLoad XML comes back and every sample is replayed into the
 * job's model and result file, so cycles merge exactly (histograms are rebuilt from samples).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FailureKind } from '../../core/jobs.js';
import { NodeError, type RunResult } from '../../exec/executor.js';
import { readFunkloadXml } from '../funkload-xml.js';
import type { RunResults } from '../results.js';
import { remoteJobDir, type RunnerContext, type RunnerNode } from '../runner.js';
import { AGENT_BAD_JOB, AGENT_ENTRY, parseAgentLine, type AgentJob } from './agent-protocol.js';
import { shareOf, type BenchOptions, type BenchProgress } from './bench.js';
import { agentBundle, BUNDLE_MARKER, packageRoot, packageVersion } from './bundle.js';
import type { BuiltinConfig } from './config.js';
import { summaryLine } from './job.js';

/** undici 7 (the agent's HTTP client) needs this Node.js. */
const MIN_NODE: [number, number] = [20, 18];
/** Time given to every agent to load before the common start. */
const START_DELAY_MS = 1500;
const RESULT_FILE = 'results.xml';

/** A node could not run the agent: which node, why, and what kind of failure it is. */
export class AgentError extends Error {
  constructor(readonly node: string, message: string, readonly failure: FailureKind, readonly hint?: string) {
    super(`node "${node}": ${message}${hint ? ` (${hint})` : ''}`);
    this.name = 'AgentError';
  }
}

interface NodeRun {
  node: RunnerNode;
  /** The agent command, without the job file. */
  agent: string[];
  /** Where the agent runs and writes, on the node. */
  dir: string;
  /** This node's files in the job's result directory. */
  localDir: string;
  progress?: BenchProgress;
  done?: { requests: number; errors: number; tests: number; aborted: boolean };
  result?: RunResult;
  stderr: string[];
}

/** Run a short command on a node and collect its output. */
async function capture(node: RunnerNode, argv: string[], signal: AbortSignal): Promise<{ code: number | null; out: string }> {
  const lines: string[] = [];
  const r = await node.executor.run(argv, { signal, onLine: (l) => lines.length < 50 && lines.push(l) });
  return { code: r.exitCode, out: lines.join('\n').trim() };
}

/** `node` exists and is recent enough, or an error naming the node and the fix. */
async function checkNode(node: RunnerNode, nodeBin: string, signal: AbortSignal): Promise<void> {
  const hint = `install Node.js >= ${MIN_NODE.join('.')} there, or set node_bin: /path/to/node for node "${node.name}" in marteau.nodes.yml`;
  const r = await capture(node, [nodeBin, '-e', 'process.stdout.write(process.versions.node)'], signal);
  if (signal.aborted) return;
  if (r.code !== 0) {
    const why = r.code === 127 || r.code === 126 ? `"${nodeBin}" is not found there (exit ${r.code})` : `"${nodeBin} -e" failed (exit ${r.code}): ${r.out.slice(0, 200)}`;
    throw new AgentError(node.name, `the builtin runner needs Node.js on the node: ${why}`, 'infrastructure', hint);
  }
  const [major, minor] = r.out.split('.').map(Number);
  if (!(major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]))) {
    throw new AgentError(node.name, `Node.js ${r.out} is too old for the builtin runner`, 'infrastructure', hint);
  }
}

/** The agent command on an SSH node: an installed marteau-tui of our version, else the bundle (uploaded if missing). */
async function sshAgent(ctx: RunnerContext, node: RunnerNode, version: string, signal: AbortSignal): Promise<string[]> {
  const nodeBin = node.nodeBin ?? 'node';
  const log = (line: string, level?: 'warn') => ctx.log(line, { node: node.name, stream: 'engine', level });
  if (node.marteauTui) {
    const entry = path.posix.join(node.marteauTui, AGENT_ENTRY);
    const r = await capture(node, [nodeBin, entry, '--version'], signal);
    if (r.code === 0 && r.out === version) {
      log(`builtin agent: marteau-tui ${version} installed in ${node.marteauTui}`);
      return [nodeBin, entry];
    }
    log(`marteau_tui ${node.marteauTui} is not usable (${r.code === 0 ? `version ${r.out}, this is ${version}` : `exit ${r.code}: ${r.out.split('\n')[0] ?? ''}`}); shipping the agent instead`, 'warn');
  }
  await checkNode(node, nodeBin, signal);
  const bundle = await agentBundle();
  const remote = path.posix.join(node.remoteBase ?? '/tmp/marteau-tui', 'bundles', bundle.id);
  if (await node.executor.exists(path.posix.join(remote, BUNDLE_MARKER))) {
    log(`builtin agent: bundle ${bundle.id} already on the node`);
  } else {
    log(`builtin agent: uploading bundle ${bundle.id} (${bundle.files.length} files, ${(bundle.bytes / 1048576).toFixed(1)} MB) to ${remote}`);
    await node.executor.put(bundle.dir, remote, { exclude: [BUNDLE_MARKER], maxFiles: 10_000 });
    // Last, so a node never runs a half-uploaded bundle.
    await node.executor.put(path.join(bundle.dir, BUNDLE_MARKER), path.posix.join(remote, BUNDLE_MARKER));
  }
  return [nodeBin, path.posix.join(remote, AGENT_ENTRY)];
}

/** Where and how a node runs its agent; its job file comes later, with the common start time. */
async function prepare(ctx: RunnerContext, node: RunnerNode, version: string, signal: AbortSignal): Promise<NodeRun> {
  const localDir = path.join(ctx.resultDir, 'nodes', node.name);
  await mkdir(localDir, { recursive: true });
  if (node.kind === 'local') {
    return { node, agent: [process.execPath, path.join(packageRoot(), AGENT_ENTRY)], dir: localDir, localDir, stderr: [] };
  }
  const agent = await sshAgent(ctx, node, version, signal);
  const dir = remoteJobDir(node, ctx.job.id);
  await node.executor.mkdirp(dir);
  return { node, agent, dir, localDir, stderr: [] };
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
    const job = (r: NodeRun, startAt: number): AgentJob => ({
      version,
      name: options.name ?? ctx.job.name,
      node: r.node.name,
      config,
      share: { index: r.node.index, of: runs.length },
      startAt,
      output: RESULT_FILE,
      meta,
    });
    const runs: NodeRun[] = [];
    let ticker: NodeJS.Timeout | undefined;
    let started: NodeJS.Timeout | undefined;
    try {
      const prepared = await Promise.allSettled(ctx.nodes.map((n) => prepare(ctx, n, version, signal)));
      for (const p of prepared) if (p.status === 'fulfilled') runs.push(p.value);
      const failed = prepared.find((p): p is PromiseRejectedResult => p.status === 'rejected');
      if (failed) throw failed.reason;
      if (signal.aborted) return;

      // Every node starts its bench at the same instant (their clocks permitting, see agent.ts).
      const startAt = Date.now() + START_DELAY_MS;
      for (const r of runs) {
        const share = `${config.cycles.map((c) => shareOf(c, { index: r.node.index, of: runs.length })).join('/')}`;
        ctx.log(`builtin agent starting: users per cycle ${share} of ${config.cycles.join('/')}`, { node: r.node.name, stream: 'engine' });
      }
      await Promise.all(
        runs.map(async (r) => {
          await writeFile(path.join(r.localDir, 'job.json'), JSON.stringify(job(r, startAt)));
          if (r.node.kind !== 'local') await r.node.executor.put(path.join(r.localDir, 'job.json'), path.posix.join(r.dir, 'job.json'));
        }),
      );
      started = setTimeout(() => options.onStart?.(), Math.max(0, startAt - Date.now()));
      ticker = setInterval(() => {
        const p = sumProgress(runs.flatMap((r) => (r.progress ? [r.progress] : [])), config.cycles.length);
        if (p) options.onProgress?.(p);
      }, 1000);
      ticker.unref();
      await Promise.all(runs.map((r) => runAgent(ctx, r, signal, () => stop.abort())));
      const bad = runs.find((r) => !r.result?.cancelled && r.result?.exitCode !== 0);
      if (bad && !signal.aborted) {
        const why = bad.result?.exitCode === AGENT_BAD_JOB ? 'refused its job file' : bad.result?.exitCode === null ? `was killed by ${bad.result.signal}` : `exited with ${bad.result?.exitCode}`;
        throw new AgentError(bad.node.name, `the builtin agent ${why}${bad.stderr.length ? `: ${bad.stderr.slice(-3).join(' / ')}` : ''}`, 'infrastructure');
      }
      // A stopped run keeps what its nodes recorded until then, when it can still be fetched.
      await merge(ctx, runs, config, options).catch((e: Error) => {
        if (!signal.aborted) throw e;
        ctx.log(`the results of the stopped run could not be fetched: ${e.message}`, { stream: 'engine', level: 'warn' });
      });
    } finally {
      clearInterval(ticker);
      clearTimeout(started);
      stop.abort();
      options.results.finish(Date.now(), options.signal?.aborted ?? false);
      const last = sumProgress(runs.flatMap((r) => (r.progress ? [{ ...r.progress, phase: 'done' as const }] : [])), config.cycles.length);
      if (last) options.onProgress?.(last);
      await Promise.all(runs.map((r) => cleanup(ctx, r)));
    }
  };
}

async function runAgent(ctx: RunnerContext, r: NodeRun, signal: AbortSignal, failAll: () => void): Promise<void> {
  try {
    r.result = await r.node.executor.run([...r.agent, 'job.json'], {
      cwd: r.dir,
      signal,
      onStart: ({ pgid }) => ctx.recordProcess(r.node.name, pgid),
      onLine: (line, stream) => {
        if (stream === 'stderr') {
          if (r.stderr.length < 200) r.stderr.push(line);
          ctx.log(line, { node: r.node.name, stream });
          return;
        }
        const m = parseAgentLine(line);
        if (!m) ctx.log(line, { node: r.node.name, stream });
        else if (m.type === 'progress') r.progress = m.progress;
        else r.done = m;
      },
    });
    if (r.result.exitCode !== 0 && !r.result.cancelled) failAll();
  } catch (e) {
    if (e instanceof NodeError) ctx.nodeFailed(r.node.name, e.message);
    failAll();
    throw e;
  }
}

/** Fetch each node's XML and replay its samples, as one bench of the configured users, into the job's model and file. */
async function merge(ctx: RunnerContext, runs: NodeRun[], config: BuiltinConfig, options: BenchOptions & { results: RunResults }): Promise<void> {
  const windows = new Map<number, { start: number; end: number }>();
  const total = (cycle: number) => config.cycles[cycle] ?? 0;
  for (const r of runs) {
    const file = path.join(r.localDir, RESULT_FILE);
    if (r.node.kind !== 'local') await r.node.executor.get(path.posix.join(r.dir, RESULT_FILE), file);
    const read = await readFunkloadXml(file, {
      sink: {
        request: (s) => {
          const merged = { ...s, cvus: total(s.cycle) };
          options.results.addRequest(merged);
          options.onRequest?.(merged);
        },
        test: (t) => {
          const merged = { ...t, cvus: total(t.cycle) };
          options.results.addTest(merged);
          options.onTest?.(merged);
        },
      },
    });
    for (const w of read.warnings) ctx.log(w, { node: r.node.name, stream: 'engine', level: 'warn' });
    for (const c of read.results.cycles.values()) {
      if (c.start === undefined || c.end === undefined) continue;
      const w = windows.get(c.cycle);
      windows.set(c.cycle, w ? { start: Math.min(w.start, c.start), end: Math.max(w.end, c.end) } : { start: c.start, end: c.end });
    }
    ctx.log(`node result: ${summaryLine(read.results.summary())}`, { node: r.node.name, stream: 'engine' });
  }
  for (const [cycle, w] of [...windows].sort((a, b) => a[0] - b[0])) {
    options.results.startCycle(cycle, total(cycle), w.start);
    options.results.endCycle(cycle, w.end);
    options.onCycle?.({ cycle, cvus: total(cycle), phase: 'end', at: w.end });
  }
}

async function cleanup(ctx: RunnerContext, r: NodeRun): Promise<void> {
  if (r.node.kind === 'local' || ctx.config.keepRemote) return;
  await r.node.executor.remove(r.dir).catch((e: Error) => {
    ctx.log(`cannot remove the job directory ${r.dir}: ${e.message}`, { node: r.node.name, stream: 'engine', level: 'warn' });
  });
}
