/**
 * The `funkload` runner: FunkLoad's own `fl-run-bench` on the job's first node (the master),
 * in a virtualenv holding `deps`; with `nodes` > 1, FunkLoad's distributed mode over all the
 * job's nodes (each worker runs every cycle, as FunkLoad does). The console is parsed live into
 * progress, the result XML fetched and turned into our reports and threshold verdicts, and
 * FunkLoad's own HTML report is built too when `fl-build-report` is on the node.
 */
import os from 'node:os';
import path from 'node:path';
import { NodeError, TransferError, type RunResult } from '../../exec/executor.js';
import { FunkloadFormatError, readFunkloadXmlFiles } from '../funkload-xml.js';
import { reportOutcome, reportResults } from '../job-report.js';
import { FaultAggregator, type ProxyTimelineEvent } from '../results.js';
import type { Runner, RunnerContext, RunnerNode, RunOutcome } from '../runner.js';
import { cleanupStage, fetchNodeArtifacts, remoteJobDir, stageProject } from '../staging.js';
import { parseThresholds } from '../thresholds.js';
import { flBuildReportArgv, flRunBenchArgv, maskUrlPasswords, workerSpec } from './argv.js';
import { checkFunkloadConfig, funkloadConfigSchema, type FunkloadConfig } from './config.js';
import { BenchConsole, progressAfter } from './console.js';

export const funkloadRunner: Runner = {
  name: 'funkload',
  description: "FunkLoad's fl-run-bench on the job's nodes (deps in a virtualenv); its XML becomes our report",
  configSchema: funkloadConfigSchema,
  check: checkFunkloadConfig,
  run: runFunkload,
};

/** A failure with its kind, carried out of the steps to the one place that builds the outcome. */
class StepFailure extends Error {
  constructor(readonly kind: 'config' | 'infrastructure' | 'test', message: string) {
    super(message);
  }
}

/** Run `argv` with the virtualenv's bin first on PATH (what `activate` does), without a user string in the script. */
function inVenv(venv: string | undefined, argv: readonly string[]): string[] {
  if (!venv) return [...argv];
  return ['sh', '-c', 'VIRTUAL_ENV="$1"; PATH="$1/bin:$PATH"; export VIRTUAL_ENV PATH; shift; exec "$@"', 'sh', venv, ...argv];
}

const join = (node: RunnerNode, ...parts: string[]) => (node.kind === 'local' ? path.join(...parts) : path.posix.join(...parts));

/** Per-job scratch space on the node (virtualenv, distributed logs, FunkLoad's report), never inside the project. */
function scratchDir(ctx: RunnerContext, node: RunnerNode): string {
  return node.kind === 'local' ? path.join(os.tmpdir(), `marteau-tui-${ctx.job.id}-funkload`) : `${remoteJobDir(ctx, node)}-funkload`;
}

/** Runs a helper command; its output goes to the job log; returns the exit status and the last lines. */
async function step(ctx: RunnerContext, node: RunnerNode, argv: string[], cwd: string): Promise<{ result: RunResult; tail: string[] }> {
  const tail: string[] = [];
  const result = await node.executor.run(argv, {
    cwd,
    env: ctx.env,
    signal: ctx.signal,
    onLine: (raw, stream) => {
      const line = maskUrlPasswords(raw); // pip echoes index URLs, credentials included
      keepTail(tail, line);
      ctx.log(line, { node: node.name, stream });
    },
    onStart: ({ pgid }) => ctx.recordProcess(node.name, pgid),
  });
  return { result, tail };
}

/** The last non-empty lines of a command, for a failure's reason. */
function keepTail(tail: string[], line: string): void {
  if (!line.trim()) return;
  tail.push(line);
  if (tail.length > 20) tail.shift();
}
const lastLine = (tail: string[]) => tail.at(-1) ?? '(no output)';

async function prepareVenv(ctx: RunnerContext, node: RunnerNode, cwd: string, venv: string, fc: FunkloadConfig): Promise<void> {
  ctx.progress({ message: `installing ${fc.deps.length} dependenc${fc.deps.length > 1 ? 'ies' : 'y'} in a virtualenv` });
  ctx.log(`creating a virtualenv in ${venv}`, { node: node.name, stream: 'engine' });
  // System site packages: a FunkLoad installed system-wide stays importable from the venv.
  const made = await step(ctx, node, ['python3', '-m', 'venv', '--system-site-packages', venv], cwd);
  if (made.result.cancelled) return;
  if (made.result.exitCode !== 0) {
    throw new StepFailure(
      'infrastructure',
      `node "${node.name}": cannot create a virtualenv (python3 -m venv, exit ${made.result.exitCode}): ${lastLine(made.tail)}; install Python 3 with its venv module there (Debian: apt-get install python3-venv)`,
    );
  }
  const pip = [join(node, venv, 'bin', 'python'), '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...fc.pip_options, ...fc.deps];
  const installed = await step(ctx, node, pip, cwd);
  if (installed.result.cancelled) return;
  if (installed.result.exitCode !== 0) {
    throw new StepFailure('config', `node "${node.name}": pip could not install deps ${fc.deps.join(' ')} (exit ${installed.result.exitCode}): ${lastLine(installed.tail)}`);
  }
}

/** Which of `programs` are on the node's PATH (the venv's first): one round trip for all. */
async function available(ctx: RunnerContext, node: RunnerNode, venv: string | undefined, programs: string[], cwd: string): Promise<Set<string>> {
  const found = new Set<string>();
  await node.executor.run(inVenv(venv, ['sh', '-c', 'for p; do command -v "$p" >/dev/null && echo "$p"; done; true', 'sh', ...programs]), {
    cwd,
    env: ctx.env,
    signal: ctx.signal,
    onLine: (l, stream) => stream === 'stdout' && programs.includes(l.trim()) && found.add(l.trim()),
  });
  return found;
}

/** Copy a file from the node into the result dir (a local node's file is copied too: the project may change). */
async function fetch(node: RunnerNode, from: string, to: string): Promise<boolean> {
  if (!(await node.executor.exists(from))) return false;
  await node.executor.get(from, to);
  return true;
}

async function runFunkload(ctx: RunnerContext): Promise<RunOutcome> {
  const fc = funkloadConfigSchema.parse(ctx.config.raw);
  const c = ctx.config;
  const master = ctx.nodes[0];
  const scratch = scratchDir(ctx, master);
  const events: ProxyTimelineEvent[] = ctx.timeline().map((t) => ({ at: t.at, proxy: t.proxy, kind: 'mix' as const, mix: t.mix }));
  const faults = new FaultAggregator((e) => events.push(e));
  const listener = (e: { type: string; proxy: string; at: number; behavior?: string; mix?: string }) => faults.onProxyEvent(e);
  const proxies = [...ctx.proxies.values()];
  let failedWith: Error | undefined;
  try {
    const cwd = await stageProject(ctx, master);
    let venv: string | undefined;
    if (fc.deps.length) {
      venv = join(master, scratch, 'venv');
      await prepareVenv(ctx, master, cwd, venv, fc);
    }
    if (ctx.signal.aborted) return { status: 'failed', reason: 'cancelled before the bench started' };
    const tools = await available(ctx, master, venv, ['fl-run-bench', 'fl-build-report'], cwd);
    if (ctx.signal.aborted) return { status: 'failed', reason: 'cancelled before the bench started' };
    if (!tools.has('fl-run-bench')) {
      throw new StepFailure(
        'infrastructure',
        `node "${master.name}": fl-run-bench (FunkLoad) is not installed: install FunkLoad on the node (pip install funkload, a Python 2 package) so that fl-run-bench is on the PATH of its SSH sessions, or list it in deps:`,
      );
    }
    const distributed = ctx.nodes.length > 1;
    const logPath = join(master, scratch, 'distributed');
    if (distributed) await master.executor.mkdirp(logPath);
    const argv = flRunBenchArgv({
      script: fc.script,
      test: fc.test,
      cycles: c.cycles,
      duration: c.durationMs === undefined ? undefined : c.durationMs / 1000,
      startupDelay: c.startupDelayMs === undefined ? undefined : c.startupDelayMs / 1000,
      sleepTime: c.sleepTimeMs === undefined ? undefined : c.sleepTimeMs / 1000,
      sleepTimeMin: c.sleepTimeMinMs === undefined ? undefined : c.sleepTimeMinMs / 1000,
      sleepTimeMax: c.sleepTimeMaxMs === undefined ? undefined : c.sleepTimeMaxMs / 1000,
      url: fc.url,
      distribute: distributed
        ? { workers: ctx.nodes.map((n) => (n.ssh ? workerSpec(n.ssh) : 'localhost')), logPath, packages: fc.deps }
        : undefined,
    });
    ctx.log(maskUrlPasswords(`running ${argv.join(' ')}`), { node: master.name, stream: 'engine' });

    const fl = new BenchConsole();
    const stderr: string[] = [];
    for (const p of proxies) p.on('event', listener);
    let bench: RunResult;
    try {
      ctx.loadStarted();
      bench = await master.executor.run(inVenv(venv, argv), {
        cwd,
        env: ctx.env,
        signal: ctx.signal,
        onStart: ({ pgid }) => ctx.recordProcess(master.name, pgid),
        onLine: (line, stream) => {
          // FunkLoad prints the server URL (`* Server: ...`), password included.
          ctx.log(maskUrlPasswords(line), { node: master.name, stream });
          if (stream !== 'stdout') return keepTail(stderr, maskUrlPasswords(line));
          const e = fl.line(line);
          if (!e) return;
          faults.flush(Date.now()); // seconds that are over have their final fault counts
          const p = progressAfter(e, fl.state);
          if (p) ctx.progress({ ...p, cycles: p.cycles ?? c.cycles?.length });
        },
      });
    } finally {
      for (const p of proxies) p.off('event', listener);
      faults.flush();
    }
    if (bench.cancelled) return { status: 'failed', reason: 'the run was stopped before its end' };
    const st = fl.state;
    ctx.log(`fl-run-bench exit ${bench.exitCode ?? bench.signal}${st.status ? `, bench status ${st.status}` : ''}`, { node: master.name, stream: 'engine' });

    // Where the results are: what the console announced, else the `xml` key, else FunkLoad's default.
    const announced = (st.xmlFiles.length ? st.xmlFiles : [c.xml ?? 'funkload.xml']).map((f) => (path.posix.isAbsolute(f) ? f : join(master, cwd, f)));
    const local = await fetchResults(ctx, master, announced);
    if (!local.length) {
      // No result at all: FunkLoad refused its arguments (exit 2, as optparse), or the test module failed to load.
      const usage = bench.exitCode === 2 && !st.test;
      throw new StepFailure(
        usage ? 'config' : 'test',
        `node "${master.name}": fl-run-bench ${usage ? 'refused its arguments' : 'wrote no result file'} (exit ${bench.exitCode ?? bench.signal}): ${st.problems.at(-1) ?? stderr.at(-1) ?? 'no output'}`,
      );
    }

    const read = await readFunkloadXmlFiles(local, { apdexT: fc.apdex_t });
    for (const w of read.warnings) ctx.log(w, { stream: 'engine', level: 'warn' });
    const results = read.results;
    results.info.runner = 'funkload';
    results.info.name = ctx.job.name;
    results.info.meta.job = ctx.job.id;
    results.info.bench.serverUrl = maskUrlPasswords(results.info.bench.serverUrl);
    for (const e of events) results.addProxyEvent(e);
    const thresholds = parseThresholds(c.raw.thresholds);
    const report = await reportResults(results, { resultDir: ctx.resultDir, thresholds, generator: results.info.version, log: (l) => ctx.log(l) });

    // `artifacts:` as for the command runner (the `xml` key is the result file, fetched above).
    const extra = [...local, ...(await fetchNodeArtifacts(ctx, master, cwd, c.artifacts.filter((f) => f !== c.xml)))];
    if (tools.has('fl-build-report')) {
      const built = await funkloadReport(ctx, master, venv, cwd, join(master, scratch, 'report'), announced, fc.apdex_t);
      extra.push(...built);
    } else {
      ctx.log('fl-build-report is not on the node: FunkLoad\'s own HTML report is skipped', { node: master.name, stream: 'engine' });
    }
    const outcome = reportOutcome(report, ctx.resultDir, extra);
    // No thresholds: FunkLoad's own verdict (its exit status) decides, as fl-run-bench users expect.
    if (outcome.status === 'succeeded' && !thresholds.length && st.status && st.status !== 'SUCCESSFUL') {
      return {
        ...outcome,
        status: 'failed',
        failure: 'test',
        reason: `FunkLoad bench status ${st.status}: ${st.failure} failure(s), ${st.error} error(s) (set thresholds: to judge the run by numbers instead)`,
      };
    }
    return outcome;
  } catch (e) {
    failedWith = e as Error;
    if (e instanceof StepFailure) return { status: 'failed', failure: e.kind, reason: e.message };
    if (e instanceof NodeError) {
      ctx.nodeFailed(master.name, e.message);
      return { status: 'failed', failure: 'infrastructure', reason: e.message };
    }
    if (e instanceof TransferError) return { status: 'failed', failure: 'config', reason: e.message };
    if (e instanceof FunkloadFormatError) return { status: 'failed', failure: 'test', reason: `the FunkLoad result is unreadable: ${e.message}` };
    throw e;
  } finally {
    if (!c.keepRemote && !(failedWith instanceof NodeError)) {
      await master.executor.remove(scratch).catch((e: Error) => ctx.log(`cannot remove ${scratch}: ${e.message}`, { node: master.name, stream: 'engine', level: 'warn' }));
    }
    await cleanupStage(ctx, master, failedWith);
  }
}

/** The result files into the result dir: `results.xml`, or `results-<n>-<name>` for each worker's. */
async function fetchResults(ctx: RunnerContext, node: RunnerNode, files: string[]): Promise<string[]> {
  const local: string[] = [];
  for (const [i, f] of files.entries()) {
    const to = path.join(ctx.resultDir, files.length === 1 ? 'results.xml' : `results-${i + 1}-${path.posix.basename(f)}`);
    if (await fetch(node, f, to)) local.push(to);
    else ctx.log(`result file ${f} was not written`, { node: node.name, stream: 'engine', level: 'warn' });
  }
  return local;
}

/** FunkLoad's own report (fl-build-report --html), fetched under funkload-report/. Returns the local files. */
async function funkloadReport(ctx: RunnerContext, node: RunnerNode, venv: string | undefined, cwd: string, dir: string, files: string[], apdexT: number): Promise<string[]> {
  const built = await step(ctx, node, inVenv(venv, flBuildReportArgv({ files, reportDir: dir, apdexT })), cwd);
  if (built.result.exitCode !== 0) {
    ctx.log(`fl-build-report failed (exit ${built.result.exitCode}): ${lastLine(built.tail)}`, { node: node.name, stream: 'engine', level: 'warn' });
    return [];
  }
  const listed: string[] = [];
  await node.executor.run(['find', dir, '-type', 'f'], { signal: ctx.signal, onLine: (l, s) => s === 'stdout' && listed.push(l) });
  const out: string[] = [];
  for (const f of listed.slice(0, 500)) {
    const rel = path.posix.relative(dir, f);
    if (rel.startsWith('..')) continue;
    const to = path.join(ctx.resultDir, 'funkload-report', ...rel.split('/'));
    if (await fetch(node, f, to)) out.push(to);
  }
  return out;
}
