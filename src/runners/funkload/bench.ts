/**
 * One node's FunkLoad bench: the project staged there, FunkLoad found, `deps` installed for its
 * Python, `fl-run-bench` run with its console parsed live, and the result XML brought into the
 * job's result directory (on an SSH node, streamed as it is written; fetched only when that copy
 * is not whole). FunkLoad's own `--distribute` needs paramiko; instead the runner calls
 * this once per node over our executors (every node runs every cycle, as FunkLoad's workers do).
 */
import os from 'node:os';
import path from 'node:path';
import type { RunResult } from '../../exec/executor.js';
import type { RunnerContext, RunnerNode } from '../../core/runner-contract.js';
import { makeRemoteJobDir, remoteJobDir, stageProject } from '../staging.js';
import { flRunBenchArgv, maskUrlPasswords, type BenchArgs } from './argv.js';
import type { FunkloadConfig } from './config.js';
import { BenchConsole, type ConsoleEvent } from './console.js';
import { ResultFollower } from './follow.js';
import { FunkloadMissing, locateFunkload, pipInstallArgv, withPythonPath, type FunkloadTools } from './tools.js';

/** A failure with its kind, carried out of the steps to the one place that builds the outcome. */
export class StepFailure extends Error {
  constructor(readonly kind: 'config' | 'infrastructure' | 'test', message: string) {
    super(message);
  }
}

export const nodePath = (node: RunnerNode, ...parts: string[]) => (node.kind === 'local' ? path.join(...parts) : path.posix.join(...parts));

/** Per-job scratch space on the node (installed deps, collected files, FunkLoad's report), never inside the project. */
export function scratchDir(ctx: RunnerContext, node: RunnerNode): string {
  return node.kind === 'local' ? path.join(os.tmpdir(), `marteau-tui-${ctx.job.id}-funkload`) : `${remoteJobDir(ctx, node)}-funkload`;
}

/** The last non-empty lines of a command, for a failure's reason. */
export function keepTail(tail: string[], line: string): void {
  if (!line.trim()) return;
  tail.push(line);
  if (tail.length > 20) tail.shift();
}
export const lastLine = (tail: string[]) => tail.at(-1) ?? '(no output)';

/** How often the marks of a recording line still being written are read for the live progress. */
const PARTIAL_MS = 500;

/** Runs a helper command; its output goes to the job log; returns the exit status and the last lines. */
export async function step(ctx: RunnerContext, node: RunnerNode, argv: string[], cwd: string, signal: AbortSignal): Promise<{ result: RunResult; tail: string[] }> {
  const tail: string[] = [];
  const result = await node.executor.run(argv, {
    cwd,
    env: ctx.env,
    signal,
    onLine: (raw, stream) => {
      const line = maskUrlPasswords(raw); // pip echoes index URLs, credentials included
      keepTail(tail, line);
      ctx.log(line, { node: node.name, stream });
    },
    onStart: ({ pgid }) => ctx.recordProcess(node.name, pgid),
  });
  return { result, tail };
}

export interface NodeBench {
  node: RunnerNode;
  cwd: string;
  tools: FunkloadTools;
  /** Installed deps, first on FunkLoad's PYTHONPATH. */
  pythonPath?: string;
  console: BenchConsole;
  result: RunResult;
  /** Where the node wrote its result file(s). */
  remoteFiles: string[];
  /** The same, in the result dir. */
  localFiles: string[];
  stderr: string[];
}

async function installDeps(ctx: RunnerContext, node: RunnerNode, cwd: string, tools: FunkloadTools, fc: FunkloadConfig, signal: AbortSignal): Promise<string> {
  if (!tools.python) {
    throw new StepFailure('infrastructure', `node "${node.name}": cannot tell which Python runs ${tools.runBench}, so deps cannot be installed for it: set funkload: to the virtualenv FunkLoad is installed in`);
  }
  const target = nodePath(node, scratchDir(ctx, node), 'pydeps');
  ctx.log(`installing ${fc.deps.join(' ')} for FunkLoad's Python into ${target}`, { node: node.name, stream: 'engine' });
  const installed = await step(ctx, node, pipInstallArgv(tools.python, target, fc.pip_options, fc.deps), cwd, signal);
  if (installed.result.cancelled) return target;
  if (installed.result.exitCode !== 0) {
    throw new StepFailure('config', `node "${node.name}": pip could not install deps ${fc.deps.join(' ')} (exit ${installed.result.exitCode}): ${lastLine(installed.tail)}`);
  }
  return target;
}

/** A path FunkLoad gives, on the node it runs in `cwd` on. */
const onNode = (node: RunnerNode, cwd: string, f: string) => (path.posix.isAbsolute(f) ? f : nodePath(node, cwd, f));

/** Where fl-run-bench said it writes its results (`* Log xml:`), on its node. */
export const announcedFiles = (b: Pick<NodeBench, 'node' | 'cwd' | 'console'>): string[] => b.console.state.xmlFiles.map((f) => onNode(b.node, b.cwd, f));

/** A file's size on the node (`wc -c`, which every POSIX system has), or undefined when it cannot be read. */
async function remoteSize(node: RunnerNode, file: string, signal: AbortSignal): Promise<number | undefined> {
  let out = '';
  const r = await node.executor.run(['wc', '-c', file], { signal, idempotent: true, onLine: (l, s) => s === 'stdout' && !out && (out = l) });
  const size = /^\s*(\d+)\s/.exec(out)?.[1];
  return r.exitCode === 0 && size !== undefined ? Number(size) : undefined;
}

/** Stage, locate, install, bench and fetch on one node. `onEvent` sees each console event. */
export async function benchOnNode(
  ctx: RunnerContext,
  node: RunnerNode,
  fc: FunkloadConfig,
  args: Omit<BenchArgs, 'script' | 'test'>,
  o: { signal: AbortSignal; resultFile: string; onEvent: (e: ConsoleEvent, fl: BenchConsole) => void; at: (step: string) => void; beforeBench: () => void },
): Promise<NodeBench | undefined> {
  o.at(`copying the project to node "${node.name}"`);
  const cwd = await stageProject(ctx, node);
  // Marked as this run's, as the project's copy is: a run lost mid-job leaves it for a later job to remove.
  if (node.kind !== 'local') await makeRemoteJobDir(ctx, node, scratchDir(ctx, node));
  let tools: FunkloadTools;
  o.at(`looking for FunkLoad on node "${node.name}"`);
  try {
    tools = await locateFunkload(node, { cwd, env: ctx.env, signal: o.signal });
  } catch (e) {
    if (e instanceof FunkloadMissing) throw new StepFailure('infrastructure', e.message);
    throw e;
  }
  if (o.signal.aborted) return undefined;
  if (fc.deps.length) o.at(`installing deps on node "${node.name}"`);
  const pythonPath = fc.deps.length ? await installDeps(ctx, node, cwd, tools, fc, o.signal) : undefined;
  if (o.signal.aborted) return undefined;

  const bench = flRunBenchArgv({ ...args, script: fc.script, test: fc.test }, tools.runBench);
  ctx.log(maskUrlPasswords(`running ${bench.join(' ')}`), { node: node.name, stream: 'engine' });
  const fl = new BenchConsole();
  let partialAt = 0;
  const stderr: string[] = [];
  // The result file streamed from an SSH node as it is written, once the console says where.
  let follower: ResultFollower | undefined;
  o.beforeBench();
  const result = await node.executor.run(withPythonPath(pythonPath, bench), {
    cwd,
    env: ctx.env,
    signal: o.signal,
    onStart: ({ pgid }) => ctx.recordProcess(node.name, pgid),
    onPartial: (text) => {
      // A mark may come in a chunk of its own: a look every PARTIAL_MS is enough for a view.
      const now = Date.now();
      if (now - partialAt < PARTIAL_MS) return;
      partialAt = now;
      const e = fl.partial(text);
      if (e) o.onEvent(e, fl);
    },
    onLine: (line, stream) => {
      // FunkLoad prints the server URL (`* Server: ...`), password included.
      ctx.log(maskUrlPasswords(line), { node: node.name, stream });
      if (stream !== 'stdout') return keepTail(stderr, maskUrlPasswords(line));
      const e = fl.line(line);
      if (e?.kind === 'log-xml' && node.kind !== 'local') follower ??= new ResultFollower(ctx, node, onNode(node, cwd, e.path), o.resultFile, o.signal);
      if (e) o.onEvent(e, fl);
    },
  }).catch(async (e: Error) => {
    await follower?.stop();
    throw e;
  });
  try {
    return await collect(ctx, { node, cwd, tools, pythonPath, console: fl, result, remoteFiles: [], localFiles: [], stderr }, fc, o, follower);
  } finally {
    await follower?.stop();
  }
}

/** The bench over: its result file(s) into the result dir, from the copy streamed when it is whole. */
async function collect(ctx: RunnerContext, done: NodeBench, fc: FunkloadConfig, o: { signal: AbortSignal; resultFile: string }, follower: ResultFollower | undefined): Promise<NodeBench> {
  const { node, cwd, result, stderr, console: fl } = done;
  if (result.cancelled) return done;
  const st = fl.state;
  ctx.log(`fl-run-bench exit ${result.exitCode ?? result.signal}${st.status ? `, bench status ${st.status}` : ''}`, { node: node.name, stream: 'engine' });

  if (!st.test) {
    // Stopped before `Benching ...`: its arguments refused (exit 2, optparse), the module, class or
    // method not loadable or its .conf lacking a key (a Python traceback, exit 1): the config names
    // something that is not there. FunkLoad has opened its result file by then, empty: no result.
    const why = st.problems.at(-1) ?? stderr.at(-1) ?? 'no output';
    const conf = /^ConfigParser\.No(Section|Option)Error/.test(why) ? ` (fl-run-bench reads ${fc.test.split('.')[0]}.conf in the directory it runs in: wdir, or FL_CONF_PATH)` : '';
    throw new StepFailure('config', `node "${node.name}": fl-run-bench stopped before benching (exit ${result.exitCode ?? result.signal}): ${why}${conf}`);
  }
  // Where the result is: what the console announced, else the `xml` key, else FunkLoad's default.
  done.remoteFiles = st.xmlFiles.length ? announcedFiles(done) : [onNode(node, cwd, ctx.config.xml ?? 'funkload.xml')];
  for (const f of done.remoteFiles) {
    const size = f === follower?.remote ? await remoteSize(node, f, o.signal) : undefined;
    if (size !== undefined && (await follower!.keep(size))) {
      ctx.log(`result file ${f} received whole as it was written (${size} bytes)`, { node: node.name, stream: 'engine' });
      done.localFiles.push(o.resultFile);
      continue;
    }
    // The fetch writes where the copy is.
    await follower?.stop();
    if (f === follower?.remote) ctx.log(`result file ${f}: ${follower.copied} bytes of ${size ?? 'its unknown size'} received as it was written: fetching it`, { node: node.name, stream: 'engine' });
    if (!(await node.executor.exists(f))) {
      ctx.log(`result file ${f} was not written`, { node: node.name, stream: 'engine', level: 'warn' });
      continue;
    }
    await node.executor.get(f, o.resultFile, { signal: o.signal });
    done.localFiles.push(o.resultFile);
  }
  if (!done.localFiles.length) {
    throw new StepFailure('test', `node "${node.name}": fl-run-bench wrote no result file (exit ${result.exitCode ?? result.signal}): ${st.problems.at(-1) ?? stderr.at(-1) ?? 'no output'}`);
  }
  return done;
}
