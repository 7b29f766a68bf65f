/**
 * The `funkload` runner: FunkLoad's own `fl-run-bench` on each of the job's nodes, at once (each
 * node runs every cycle, as FunkLoad's distributed workers do; its `--distribute` needs paramiko,
 * so our executors play its part). Each console is parsed live into progress, the result XMLs
 * are fetched and merged as `fl-build-report` merges them, and turned into our reports and
 * threshold verdicts; FunkLoad's own HTML report is built on the first node when it has
 * `fl-build-report`.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { NodeError, TransferError } from '../../exec/executor.js';
import { FunkloadFormatError, readFunkloadXmlFiles } from '../funkload-xml.js';
import { finishedProgress, reportOutcome, reportResults, runAbort, type ReportWriter } from '../job-report.js';
import { abortCoverage, defaultBench, jobMeta, lostAbort, newRunInfo, RunResults, type RunAbort } from '../results.js';
import { NodeSteps } from '../node-steps.js';
import { THRESHOLDS_HINT } from '../verdict.js';
import { applyChaos, ChaosCapture, type ChaosRecord } from '../chaos-capture.js';
import type { Runner, RunnerContext, RunnerNode, RunOutcome } from '../../core/runner-contract.js';
import { cleanupStage, fetchNodeArtifacts } from '../staging.js';
import { parseThresholds } from '../../config/thresholds.js';
import { flBuildReportArgv, maskUrlPasswords, type BenchArgs } from './argv.js';
import { announcedFiles, benchOnNode, lastLine, nodePath, scratchDir, step, StepFailure, type NodeBench } from './bench.js';
import { checkFunkloadConfig, funkloadConfigSchema, funkloadLoadAtLeast, type FunkloadConfig } from './config.js';
import { progressAfter, type BenchConsole, type BenchStatus } from './console.js';
import { withPythonPath } from './tools.js';

/** The runner, writing our reports with `writeReports` (report/'s, handed in from above). */
export const funkloadRunner = (writeReports: ReportWriter): Runner => ({
  name: 'funkload',
  description: "FunkLoad's fl-run-bench on each of the job's nodes; its XML becomes our report",
  configSchema: funkloadConfigSchema,
  check: checkFunkloadConfig,
  loadAtLeast: funkloadLoadAtLeast,
  run: (ctx) => runFunkload(ctx, writeReports),
});

const SEVERITY: Record<BenchStatus, number> = { SUCCESSFUL: 0, FAILURE: 1, ERROR: 2 };

/** The result file of each node in the result dir: `results.xml`, or `results-<node>.xml` for several. */
const resultFile = (ctx: RunnerContext, node: RunnerNode) => path.join(ctx.resultDir, ctx.nodes.length === 1 ? 'results.xml' : `results-${node.name}.xml`);

async function runFunkload(jobCtx: RunnerContext, writeReports: ReportWriter): Promise<RunOutcome> {
  // Where each node is before its bench, and its last lines: what a node lost then leaves in the report.
  const steps = new NodeSteps(jobCtx);
  const { ctx } = steps;
  const fc = funkloadConfigSchema.parse(ctx.config.raw);
  const c = ctx.config;
  const chaos = new ChaosCapture(ctx.proxies.values(), ctx.timeline());
  // One node failing stops the others: a merged result needs them all.
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const consoles: (BenchConsole | undefined)[] = ctx.nodes.map(() => undefined);
  const failures = new Map<string, Error>();
  const sec = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
  const args = {
    cycles: c.cycles,
    duration: sec(c.durationMs),
    startupDelay: sec(c.startupDelayMs),
    sleepTime: sec(c.sleepTimeMs),
    sleepTimeMin: sec(c.sleepTimeMinMs),
    sleepTimeMax: sec(c.sleepTimeMaxMs),
    url: fc.url,
  };
  let started = 0;
  /** The nodes whose bench started, and when the first did. */
  const benching = new Set<string>();
  let benchAt = 0;
  /** When the first node was lost mid-bench. */
  let lostAt: number | undefined;
  let benches: (NodeBench | undefined)[];
  /** When the job was stopped from outside (its cancel's time). */
  let stoppedAt: number | undefined;
  ctx.signal.addEventListener('abort', () => (stoppedAt ??= Date.now()), { once: true });
  try {
    benches = await Promise.all(
      ctx.nodes.map((node, i) =>
        benchOnNode(ctx, node, fc, args, {
          signal,
          resultFile: resultFile(ctx, node),
          at: (what) => steps.at(node.name, what),
          beforeBench: () => {
            benching.add(node.name);
            benchAt ||= Date.now();
            // The load starts when the last node starts its bench.
            if (++started === ctx.nodes.length) {
              chaos.started();
              ctx.loadStarted();
            }
          },
          onEvent: (e, fl) => {
            consoles[i] = fl;
            chaos.flush(); // seconds that are over have their final fault counts
            const p = progressAfter(e, consoles.flatMap((x) => (x ? [x.state] : [])));
            if (p) ctx.progress({ ...p, cycles: p.cycles ?? c.cycles?.length });
          },
        }).catch((e: Error) => {
          if (e instanceof NodeError) lostAt ??= Date.now();
          failures.set(node.name, e);
          stop.abort();
          return undefined;
        }),
      ),
    );
  } finally {
    chaos.stop();
  }
  const done = benches.filter((b): b is NodeBench => b !== undefined);
  const run = { benches: done, benching, named: (n: RunnerNode) => !!consoles[ctx.nodes.indexOf(n)]?.state.xmlFiles.length, args };
  try {
    const failed = [...failures.values()];
    const lost = failed.find((x): x is NodeError => x instanceof NodeError);
    // The run did not finish (the job fails as it did), but what the nodes streamed is reported;
    // lost before any bench started, a report of no cycle says where.
    if (lost && lostAt !== undefined) {
      const loss = { node: lost.node, at: lostAt, reason: lost.detail };
      const early = benchAt ? undefined : steps.lostAbort(lost, lostAt);
      const partial = await lostReport(ctx, writeReports, loss, { ...run, since: benchAt || lostAt, abort: early }, chaos, fc).catch((e: Error) => {
        ctx.log(`no report of what the nodes sent before the loss: ${e.message}`, { stream: 'engine', level: 'warn' });
        return {};
      });
      return { ...partial, ...failedOutcome(ctx, failed), ...(early ? { reason: steps.lostReason(lost) } : {}) };
    }
    if (failed.length) return failedOutcome(ctx, failed);
    // Stopped from outside once a bench ran (a cancel, the engine's stop): what the nodes wrote
    // until then is the report, as for a node lost (the job's status is the engine's: cancelled).
    if (ctx.signal.aborted && benchAt) {
      const abort = runAbort(ctx.signal.reason, stoppedAt ?? Date.now(), ctx.cancelCause());
      return await lostReport(ctx, writeReports, undefined, { ...run, since: benchAt, abort }, chaos, fc).then((partial) => ({ status: 'failed', reason: abort.reason, ...partial }));
    }
    if (ctx.signal.aborted || done.length < ctx.nodes.length || done.some((b) => b.result.cancelled)) {
      if (ctx.signal.aborted) ctx.progress({ users: 0, message: `${runAbort(ctx.signal.reason, undefined, ctx.cancelCause()).reason}; kept: no report (no bench had started)` });
      return { status: 'failed', reason: started ? 'the run was stopped before its end' : 'cancelled before the bench started' };
    }
    return await report(ctx, writeReports, done, chaos, fc.apdex_t, (node, e) => failures.set(node, e));
  } catch (e) {
    failures.set('', e as Error);
    return failedOutcome(ctx, [e as Error]);
  } finally {
    await Promise.all(ctx.nodes.map((n) => cleanup(ctx, n, failures.get(n.name))));
  }
}

/** Our results and reports from the fetched files, plus FunkLoad's own report and the artifacts. */
async function report(ctx: RunnerContext, writeReports: ReportWriter, benches: NodeBench[], chaos: ChaosCapture, apdexT: number, lost: (node: string, e: NodeError) => void): Promise<RunOutcome> {
  const c = ctx.config;
  const local = benches.flatMap((b) => b.localFiles);
  // FunkLoad's per-request times join the proxies' faults as builtin's live samples do.
  const record = chaos.record(ctx.timeline(), c.recovery);
  const warnings: string[] = [];
  const read = await readFunkloadXmlFiles(local, { apdexT, onModel: (r) => warnings.push(...applyChaos(r, record)) });
  for (const w of [...read.warnings, ...warnings]) ctx.log(w, { stream: 'engine', level: 'warn' });
  const results = ownRun(ctx, read.results);
  // Its file has no end; the console or the exit says how fl-run-bench stopped. Stopped outside
  // the engine, the job fails (exit 1), and so says every report, a rebuilt one too (summary.json).
  const interrupted = benches.find((b) => b.console.state.aborted);
  const killed = benches.find((b) => b.result.signal);
  if (interrupted) {
    results.aborted = true;
    results.abort = { why: 'stopped', reason: `fl-run-bench on node "${interrupted.node.name}" aborted its run (Aborting run...: it got SIGINT (Ctrl-C), SIGTERM or SIGQUIT)` };
  } else if (killed && results.aborted) {
    results.abort = { why: 'stopped', reason: `fl-run-bench on node "${killed.node.name}" was killed by ${killed.result.signal} before the end of its bench` };
  }
  const thresholds = parseThresholds(c.raw.thresholds);
  // No thresholds: FunkLoad's own verdict (its exit status) decides, as fl-run-bench users expect;
  // it goes into the results so that every report (and a rebuilt one) says what the job says.
  const worst = benches.map((b) => b.console.state).reduce((a, s) => (SEVERITY[s.status ?? 'SUCCESSFUL'] > SEVERITY[a.status ?? 'SUCCESSFUL'] ? s : a));
  if (worst.status && worst.status !== 'SUCCESSFUL') {
    const failures = benches.reduce((a, b) => a + b.console.state.failure, 0);
    const errors = benches.reduce((a, b) => a + b.console.state.error, 0);
    results.info.toolVerdict = `FunkLoad bench status ${worst.status}: ${failures} failure(s), ${errors} error(s) (${THRESHOLDS_HINT})`;
  }
  const ours = await reportResults(results, { resultDir: ctx.resultDir, writeReports, thresholds, generator: results.info.version, log: (l) => ctx.log(l) });
  // The live lines counted FunkLoad's tests from its console: the last one says the report's figures.
  ctx.progress(finishedProgress(ours.summary));

  const extra = [...local];
  for (const b of benches) extra.push(...(await fetchNodeArtifacts(ctx, b.node, b.cwd, c.artifacts.filter((f) => f !== c.xml))));
  extra.push(...(await funkloadReport(ctx, benches[0], local, apdexT).catch((e: Error) => skippedReport(ctx, e, lost))));
  return reportOutcome(ours, ctx.resultDir, extra);
}

/** The results read from FunkLoad's files, as this job's run. */
function ownRun(ctx: RunnerContext, results: RunResults): RunResults {
  results.info.runner = 'funkload';
  results.info.name = ctx.job.name;
  Object.assign(results.info.meta, jobMeta(ctx.job));
  results.info.bench.serverUrl = maskUrlPasswords(results.info.bench.serverUrl);
  return results;
}

/** What a lost-node report is made of, besides the files: which benches ran and named their file. */
interface LostRun {
  benches: NodeBench[];
  benching: ReadonlySet<string>;
  named: (node: RunnerNode) => boolean;
  /** When the first bench started (or the loss, none having started). */
  since: number;
  args: Omit<BenchArgs, 'script' | 'test'>;
  /** The report's abort when not the loss's own: lost before any bench started (NodeSteps'), or a cancel (then no loss). */
  abort?: RunAbort;
}

/**
 * A node lost mid-bench: its result file stays there, but its lines came as they were written
 * (ResultFollower), as did the other SSH nodes' until they were stopped; a local node's file is
 * on this machine, where its stopped bench left it. Those become a report marked incomplete,
 * saying where the run was cut and what it lacks. Lost before any file was named: a report of
 * no request, saying so, rather than none; before any bench started, one of no cycle.
 */
async function lostReport(ctx: RunnerContext, writeReports: ReportWriter, loss: { node: string; at: number; reason: string } | undefined, run: LostRun, chaos: ChaosCapture, fc: FunkloadConfig): Promise<Partial<RunOutcome>> {
  const at = run.abort?.at ?? loss!.at;
  for (const b of run.benches) {
    const [file] = announcedFiles(b);
    if (b.node.kind === 'local' && b.result.cancelled && file && (await b.node.executor.exists(file))) await b.node.executor.get(file, resultFile(ctx, b.node));
  }
  let received = ctx.nodes.filter((n) => (statSync(resultFile(ctx, n), { throwIfNoEntry: false })?.size ?? 0) > 0);
  const record = chaos.record(ctx.timeline(), ctx.config.recovery);
  const read = received.length
    ? await readFunkloadXmlFiles(received.map((n) => resultFile(ctx, n)), { apdexT: fc.apdex_t, onModel: (r) => applyChaos(r, record) }).catch((e: Error) => {
        if (e instanceof FunkloadFormatError) return undefined; // only part of its header came
        throw e;
      })
    : undefined;
  if (!read) received = [];
  const results = ownRun(ctx, read?.results ?? noResults(fc, run, record, at));
  const missing = ctx.nodes.filter((n) => !received.includes(n)).map((n) => {
    const why = n.name !== loss?.node ? 'none received' : !run.benching.has(n.name) ? 'lost before its bench started' : !run.named(n) ? 'lost before fl-run-bench named its result file' : 'none received';
    return `node "${n.name}"'s results (${why})`;
  });
  if (received.some((n) => n.name === loss?.node)) missing.push('any result line written after the last one received');
  results.aborted = true;
  results.abort = run.abort ?? lostAbort(loss!, [...missing, "FunkLoad's own HTML report (fl-build-report runs on the node)"].join('; '));
  const ours = await reportResults(results, { resultDir: ctx.resultDir, writeReports, thresholds: parseThresholds(ctx.config.raw.thresholds), generator: results.info.version, log: (l) => ctx.log(l) });
  ctx.progress(finishedProgress(ours.summary));
  const from = run.abort ? '' : read ? ', from the result lines streamed until then' : `, and no request was recorded before node "${loss!.node}" was lost`;
  ctx.log(`${results.abort.reason}: the report covers ${abortCoverage(ours.summary)}${from}`, { stream: 'engine', level: 'warn' });
  const { summary, report, closing, artifacts } = reportOutcome(ours, ctx.resultDir, received.map((n) => resultFile(ctx, n)));
  return { summary, report, closing, artifacts };
}

/** No result file to read: the run as configured (FunkLoad's .conf unread), from its first bench's start to the loss, with no request. */
function noResults(fc: FunkloadConfig, run: LostRun, record: ChaosRecord, lostAt: number): RunResults {
  const [suite, test] = fc.test.split('.');
  const a = run.args;
  const bench = { ...defaultBench(), cycles: [...(a.cycles ?? [])], duration: a.duration ?? 0, startupDelay: a.startupDelay ?? 0, sleepTime: a.sleepTime ?? 0, sleepTimeMin: a.sleepTimeMin ?? 0, sleepTimeMax: a.sleepTimeMax ?? 0, serverUrl: a.url ?? '' };
  const results = new RunResults(newRunInfo({ start: run.since, apdexT: fc.apdex_t, suite, test, bench }));
  applyChaos(results, record);
  results.finish(lostAt, true);
  return results;
}

/**
 * The first node lost while it builds FunkLoad's own report: the bench is over and its results are
 * here, judged and reported (summary.json may say PASS), so the job keeps that verdict; the node is
 * down, and FunkLoad's report is skipped, as when fl-build-report fails.
 */
function skippedReport(ctx: RunnerContext, e: Error, lost: (node: string, e: NodeError) => void): string[] {
  if (!(e instanceof NodeError)) throw e;
  lost(e.node, e);
  ctx.nodeFailed(e.node, e.message);
  ctx.log(`FunkLoad's own HTML report is skipped: ${e.message}`, { node: e.node, stream: 'engine', level: 'warn' });
  return [];
}

function failedOutcome(ctx: RunnerContext, errors: Error[]): RunOutcome {
  // The node that failed first says why; an infrastructure failure wins over the others' cancellations.
  const e = errors.find((x) => x instanceof NodeError) ?? errors[0];
  if (e instanceof StepFailure) return { status: 'failed', failure: e.kind, reason: e.message };
  if (e instanceof NodeError) {
    ctx.nodeFailed(e.node, e.message);
    return { status: 'failed', failure: 'infrastructure', reason: e.message };
  }
  if (e instanceof TransferError) return { status: 'failed', failure: 'config', reason: e.message };
  if (e instanceof FunkloadFormatError) return { status: 'failed', failure: 'test', reason: `the FunkLoad result is unreadable: ${e.message}` };
  throw e;
}

async function cleanup(ctx: RunnerContext, node: RunnerNode, error: Error | undefined): Promise<void> {
  if (error instanceof NodeError) return; // it cannot answer
  const scratch = scratchDir(ctx, node);
  if (!ctx.config.keepRemote) {
    await node.executor.remove(scratch).catch((e: Error) => ctx.log(`cannot remove ${scratch}: ${e.message}`, { node: node.name, stream: 'engine', level: 'warn' }));
  }
  await cleanupStage(ctx, node, error);
}

/**
 * FunkLoad's own report (fl-build-report --html, which merges several files itself) on the first
 * node, from the fetched result files sent there; fetched under funkload-report/.
 */
async function funkloadReport(ctx: RunnerContext, bench: NodeBench, local: string[], apdexT: number): Promise<string[]> {
  const { node, tools } = bench;
  if (!tools.buildReport) {
    ctx.log("fl-build-report is not next to fl-run-bench on the node: FunkLoad's own HTML report is skipped", { node: node.name, stream: 'engine' });
    return [];
  }
  const scratch = scratchDir(ctx, node);
  const files: string[] = [];
  for (const f of local) {
    const to = nodePath(node, scratch, 'collected', path.basename(f));
    await node.executor.put(f, to, { signal: ctx.signal });
    files.push(to);
  }
  const dir = nodePath(node, scratch, 'report');
  const built = await step(ctx, node, withPythonPath(bench.pythonPath, flBuildReportArgv({ files, reportDir: dir, apdexT }, tools.buildReport)), bench.cwd, ctx.signal);
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
    await node.executor.get(f, to, { signal: ctx.signal });
    out.push(to);
  }
  return out;
}
