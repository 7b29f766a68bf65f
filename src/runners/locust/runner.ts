/**
 * The `locust` runner: Locust headless, one run per cycle (on several nodes Locust's own
 * distributed mode: a master here, a worker per node, see distributed.ts), our plugin next to
 * the user's locustfile for per-second progress and final CSVs, then the CSVs folded into the
 * shared results model and reports.
 *
 * One run per cycle rather than one run with a LoadTestShape: Locust's CSV stats cover a whole
 * run, so a run per cycle gives each cycle its own exact counts and percentiles, and with
 * --reset-stats the ramp-up is left out as FunkLoad leaves it out. The price is Locust's start
 * (about a second) between cycles, which falls in the pause FunkLoad has there anyway.
 */
import { addAbortListener } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { mkdirp } from '../../fs/mkdirp.js';
import path from 'node:path';
import { NodeError, TransferCancelled, TransferError } from '../../exec/executor.js';
import { shareOf, sleep } from '../builtin/bench.js';
import { checkThresholds, finishedProgress, reportOutcome, reportResults, runAbort, type ReportWriter } from '../job-report.js';
import { ChaosCapture } from '../chaos-capture.js';
import { abortCoverage, jobMeta, lostAbort, newRunInfo } from '../results.js';
import { newLocustRecord, resultsFromRecord, writeLocustRecord, type LocustCycleRecord, type LocustNodeLoss, type LocustRunRecord } from './record.js';
import type { Runner, RunnerContext, RunOutcome } from '../../core/runner-contract.js';
import { cleanupStage, stageProject } from '../staging.js';
import { parseThresholds } from '../../config/thresholds.js';
import { checkLocustConfig, locustConfigSchema, locustLoadAtLeast, locustSettings, type LocustSettings } from './config.js';
import { LocustFormatError, parseExceptionsCsv, parseFailuresCsv, parseStatsCsv, tickDurations, tickNodes, tickSamples, type LocustProgressLine } from './csv.js';
import { runDistributed } from './distributed.js';
import { headlessArgs, hostArgs, nodeLoss, RunFailure, runNode, startupFailure, type NodeRun } from './process.js';
import { PLUGIN_FILE, PLUGIN_SOURCE, SAMPLE_MS } from './plugin.js';
import { count } from '../../text/count.js';
import { CycleStream } from './stream.js';
import { NodeSteps } from '../node-steps.js';

/** A progress tick closer than this to the previous one is merged into it (seconds). */
const SHORT_TICK_S = 0.5;
const CSV_KINDS = ['stats', 'failures', 'exceptions'] as const;
/**
 * How long after a cancel (a timeout, an engine stopping) the CSV files Locust wrote may still take
 * to come back from an SSH node. They hold what was measured, kept as on the local node, and
 * take a moment; a locustfile of many request names makes megabytes of them, which a slow link
 * would make the cancel wait for.
 */
const KEEP_AFTER_CANCEL_MS = 5000;

/** The runner, writing its reports with `writeReports` (report/'s, handed in from above). */
export const locustRunner = (writeReports: ReportWriter): Runner => ({
  name: 'locust',
  description: 'Locust headless (python3-locust): your locustfile, one run per cycle of concurrent users, results in the shared reports',
  configSchema: locustConfigSchema,
  check: (config) => checkThresholds(config) ?? checkLocustConfig(config),
  loadAtLeast: locustLoadAtLeast,
  run: (ctx) => runLocust(ctx, writeReports),
});

async function runLocust(jobCtx: RunnerContext, writeReports: ReportWriter): Promise<RunOutcome> {
  // Where each node is before the load, and its last lines: what a node lost then leaves in the report.
  const steps = new NodeSteps(jobCtx);
  const { ctx } = steps;
  const s = locustSettings(ctx.config);
  const record = newLocustRecord(
    newRunInfo({
      name: ctx.job.name,
      runner: 'locust',
      start: Date.now(),
      apdexT: s.apdexT,
      suite: 'Locust',
      test: path.basename(s.locustfile),
      module: s.locustfile,
      description: `Locust, ${s.locustfile}`,
      meta: jobMeta(ctx.job),
      bench: {
        cycles: s.cycles,
        duration: s.durationS,
        startupDelay: s.spawnRate === 'all' ? 0 : 1 / s.spawnRate,
        sleepTime: 0,
        sleepTimeMin: 0,
        sleepTimeMax: 0,
        cycleTime: s.cycleTimeS,
        serverUrl: s.host ?? '',
      },
    }),
  );
  // One node failing stops the others: the job is over, leave nothing behind.
  const stop = new AbortController();
  // Stops the downloads of the CSV files a moment after the job's abort.
  const fetching = new AbortController();
  let keeping: NodeJS.Timeout | undefined;
  const onAbort = () => {
    stop.abort();
    keeping = setTimeout(() => fetching.abort(), KEEP_AFTER_CANCEL_MS);
  };
  // Also when the job was cancelled while it started (its proxies, its chaos): stopped at once.
  const listening = addAbortListener(ctx.signal, onAbort);
  // When the load was stopped: with it the results divide a cut cycle's rates by the time it ran.
  let stoppedAt: number | undefined;
  stop.signal.addEventListener('abort', () => (stoppedAt ??= Date.now()), { once: true });
  const runs: NodeRun[] = ctx.nodes.map((node) => {
    const local = path.join(ctx.resultDir, 'nodes', node.name);
    return { node, dir: '', work: local, local };
  });
  // The proxies' timeline and faults are recorded live; cycles go into the record and are read at the end.
  const chaos = new ChaosCapture(ctx.proxies.values(), ctx.timeline());
  const written: string[] = [];
  /** The requests and failures recorded in the cycles before (the live view counts as the report does). */
  const recorded = { requests: 0, failures: 0 };
  let failure: RunFailure | undefined;
  try {
    // Everywhere first, so that every node's Locust starts at the same moment.
    await Promise.all(runs.map((r) => prepare(ctx, r, steps)));
    // The load's start, which a report cut short counts from (not the staging's).
    record.info.start = Date.now();
    for (const r of runs) steps.at(r.node.name, `starting Locust's first cycle on node "${r.node.name}"`);
    // A worker lost mid-cycle stops the run (stop is aborted): its cycle is kept and reported.
    for (let ci = 0; ci < s.cycles.length && !stop.signal.aborted; ci++) {
      if (ci > 0) await sleep(s.cycleTimeS * 1000, stop.signal);
      if (stop.signal.aborted) break;
      written.push(...(await runCycle(ctx, s, runs, ci, record, { stop, fetching: fetching.signal }, chaos, recorded)));
    }
  } catch (e) {
    if (e instanceof NodeLost) written.push(...e.written);
    failure = asFailure(e instanceof NodeLost ? e.error : (e as Error), ctx);
    // Lost before any cycle recorded: a report of no cycle, saying where.
    if (e instanceof NodeError && !record.cycles.length && !ctx.signal.aborted) {
      record.abort = steps.lostAbort(e, Date.now());
      failure = new RunFailure('infrastructure', steps.lostReason(e));
    }
    stop.abort();
  } finally {
    listening[Symbol.dispose]();
    clearTimeout(keeping);
    chaos.stop();
    await Promise.all(runs.map((r) => cleanupStage(ctx, r.node, r.error)));
  }
  if (failure?.failure === 'config' || (failure && !written.length && record.abort?.why !== 'infrastructure')) {
    return { status: 'failed', failure: failure.failure, reason: failure.message };
  }
  record.info.end = Date.now();
  // A worker lost mid-cycle is no `failure` here: the run was not stopped, the report names the
  // lost node, and reportOutcome fails the job for it.
  record.aborted = ctx.signal.aborted || failure !== undefined;
  // A stopped Locust still ends its cycle's window (its quitting hook prints the end), so a cut
  // cycle's rates divide by the time it recorded, as builtin's do: the configured duration would
  // make a run cancelled a third of the way in read three times too slow.
  if (record.aborted) {
    const at = stoppedAt ?? record.info.end;
    record.abort ??= ctx.signal.aborted ? runAbort(ctx.signal.reason, at, ctx.cancelCause()) : { why: 'stopped', reason: failure!.message, at };
    const covers = abortCoverage(record);
    if (record.abort.why === 'infrastructure' && covers) ctx.log(`${record.abort.reason}: the report covers ${covers}`, { stream: 'engine', level: 'warn' });
  }
  record.chaos = chaos.record(ctx.timeline(), ctx.config.recovery);
  record.proxyEvents = record.chaos.events;
  if (record.chaos.dropped) ctx.log(`${record.chaos.dropped} proxy events were not kept: attribution counts are lower bounds`, { stream: 'engine', level: 'warn' });
  written.push(await writeLocustRecord(ctx.resultDir, record));
  const done = await reportResults(await resultsFromRecord(record, ctx.resultDir), {
    resultDir: ctx.resultDir,
    writeReports,
    thresholds: parseThresholds(ctx.config.raw.thresholds),
    log: (line) => ctx.log(line),
  });
  ctx.progress(finishedProgress(done.summary));
  const outcome = reportOutcome(done, ctx.resultDir, written);
  return failure ? { ...outcome, status: 'failed', failure: failure.failure, reason: failure.message } : outcome;
}

function asFailure(e: Error, ctx: RunnerContext): RunFailure {
  if (e instanceof RunFailure) return e;
  if (e instanceof NodeError) {
    ctx.nodeFailed(e.node, e.message);
    return new RunFailure('infrastructure', e.message);
  }
  if (e instanceof TransferError) return new RunFailure('config', e.message);
  if (e instanceof LocustFormatError) return new RunFailure('infrastructure', `cannot read Locust's results: ${e.message}`);
  return new RunFailure('infrastructure', e.message);
}

/** Stage the project and put the plugin on a node. */
async function prepare(ctx: RunnerContext, run: NodeRun, steps: NodeSteps): Promise<void> {
  try {
    await mkdirp(run.local, 0o777);
    const plugin = path.join(run.local, PLUGIN_FILE);
    await writeFile(plugin, PLUGIN_SOURCE);
    steps.at(run.node.name, `copying the project to node "${run.node.name}"`);
    run.dir = await stageProject(ctx, run.node);
    if (run.node.kind !== 'local') {
      steps.at(run.node.name, `copying the Locust plugin to node "${run.node.name}"`);
      run.work = path.posix.join(run.dir, '.marteau-locust');
      await run.node.executor.mkdirp(run.work);
      await run.node.executor.put(plugin, path.posix.join(run.work, PLUGIN_FILE), { signal: ctx.signal });
    }
  } catch (e) {
    run.error = e as Error;
    throw e;
  }
}

interface Live {
  users: number;
  rps: number;
  requests: number;
  failures: number;
}

/** One cycle on every node at once; returns the CSV files it brought back (under resultDir). */
async function runCycle(
  ctx: RunnerContext,
  s: LocustSettings,
  runs: NodeRun[],
  ci: number,
  record: LocustRunRecord,
  { stop, fetching }: { stop: AbortController; fetching: AbortSignal },
  chaos: ChaosCapture,
  recorded: { requests: number; failures: number },
): Promise<string[]> {
  const users = s.cycles[ci];
  const live = new Map<string, Live>();
  const sum = (): Live => {
    let total: Live = { users: 0, rps: 0, requests: 0, failures: 0 };
    for (const l of live.values()) total = { users: total.users + l.users, rps: total.rps + l.rps, requests: total.requests + l.requests, failures: total.failures + l.failures };
    return total;
  };
  // Requests and errors as the report counts them: those recorded, in this cycle and the ones before.
  const report = () => {
    const total = sum();
    ctx.progress({ cycle: ci, cycles: s.cycles.length, users: total.users, requestsPerSecond: total.rps, requests: recorded.requests + total.requests, errors: recorded.failures + total.failures });
  };
  ctx.progress({ cycle: ci, cycles: s.cycles.length, users: 0, message: `cycle ${ci + 1}/${s.cycles.length}: starting ${users} users` });
  const window = { start: Infinity, end: -Infinity };
  const cycle: LocustCycleRecord = { cycle: ci, cvus: users, files: [], seconds: [], samples: [], sampleMs: SAMPLE_MS };
  /** Each worker node's users in a distributed run, as Locust split them. */
  const split = new Map<string, number>();
  /** What each node's Locust streamed per request name: its cycle, should its CSV files not come back. */
  const streams = new Map<string, CycleStream>();
  /** The progress of one Locust process that prints the plugin's lines. */
  const progressOf = (key: string) => {
    const stream = new CycleStream();
    streams.set(key, stream);
    let recordingSince: number | undefined;
    let lastTick = 0;
    let lastSecond: LocustCycleRecord['seconds'][number] | undefined;
    const onProgress = (p: LocustProgressLine) => {
      if (p.kind === 'recording') {
        recordingSince = lastTick = p.t;
        window.start = Math.min(window.start, p.t * 1000);
        // The first cycle's recording starts the chaos clock (the engine's too).
        chaos.started();
        ctx.loadStarted();
      } else if (p.kind === 'tick') {
        const since = lastTick || p.t - 1;
        lastTick = p.t;
        // The tick at the end of a cycle covers a fraction of a second: it joins the one before,
        // rather than showing as a dip in req/s.
        const short = p.t - since < SHORT_TICK_S;
        const previous = live.get(key);
        // Locust resets its counts as the cycle starts recording: before, they are the ramp-up's.
        const counted = recordingSince !== undefined;
        live.set(key, { users: p.users, rps: short && previous ? previous.rps : p.new / Math.max(SHORT_TICK_S, p.t - since), requests: counted ? p.requests : 0, failures: counted ? p.failures : 0 });
        // Ticks of the ramp-up are progress only: the cycle records from the last user's start.
        if (recordingSince !== undefined) {
          const durations = tickDurations(p.times);
          if (short && lastSecond) {
            lastSecond[1] += p.new_failures;
            lastSecond[2].push(...durations);
          } else {
            lastSecond = [((since + p.t) / 2) * 1000, p.new_failures, durations];
            cycle.seconds.push(lastSecond);
          }
        }
        stream.add(p, recordingSince !== undefined);
        // Ramp-up requests too: a fault may hit them, and the series begins at the load start anyway.
        cycle.samples!.push(...tickSamples(p.samples));
        // A worker reports 0 users once stopped: the split is what it ran with.
        for (const [node, n] of tickNodes(p.nodes)) if (n > 0) split.set(node, n);
        chaos.flush();
        report();
      } else window.end = Math.max(window.end, p.t * 1000);
    };
    return { onProgress, started: () => recordingSince !== undefined };
  };
  const sources: { r: NodeRun; share: number }[] = [];
  /** The node of a single-node run lost mid-cycle, and the error that said so. */
  let lost: { loss: LocustNodeLoss; error: NodeError } | undefined;
  if (runs.length > 1) {
    ctx.log(`Cycle #${ci} with ${users} virtual users (Locust distributed: a master and ${runs.length} workers, ${runs.map((r) => r.node.name).join(', ')})`);
    const { master, lost } = await runDistributed(ctx, s, runs, ci, stop, progressOf('master'));
    sources.push({ r: master, share: users });
    if (lost.length) record.lost = [...(record.lost ?? []), ...lost];
  } else {
    const shares = runs.map((_, i) => shareOf(users, { index: i, of: runs.length }));
    const active = runs.map((r, i) => ({ r, share: shares[i] })).filter((x) => x.share > 0);
    ctx.log(`Cycle #${ci} with ${users} virtual users`);
    await Promise.all(
      active.map(async ({ r, share }) => {
        const rate = s.spawnRate === 'all' ? share : (s.spawnRate * share) / users;
        const progress = progressOf(r.node.name);
        const result = await runNode(ctx, r, ci, [...headlessArgs(s, share, rate), ...hostArgs(s)], stop.signal, progress.onProgress).catch((e: Error) => {
          // Lost once the load records: the seconds it streamed until then are this cycle's
          // record (its CSV files stay on the node); the job still fails for it, once recorded.
          if (!(e instanceof NodeError) || !progress.started() || stop.signal.aborted) throw e;
          lost = { loss: nodeLoss(ctx, r, e.detail), error: e };
          stop.abort();
          return undefined;
        });
        if (!result || result.cancelled || stop.signal.aborted) return;
        if (!progress.started() || result.exitCode !== 0) {
          r.error = startupFailure(result, r, s, progress.started());
          throw r.error;
        }
      }),
    ).catch((e: Error) => {
      stop.abort();
      throw e;
    });
    sources.push(...active.filter((x) => x.r.node.name !== lost?.loss.node));
    // Its Locust never said the window's end: the loss is where its seconds stop.
    if (lost && !Number.isFinite(window.end)) window.end = lost.loss.at;
  }
  const { requests, failures } = sum();
  recorded.requests += requests;
  recorded.failures += failures;
  // A cancelled Locust still writes its CSVs (SIGTERM runs its shutdown): keep what was measured.
  const aborted = stop.signal.aborted;
  if (Number.isFinite(window.start)) cycle.start = window.start;
  if (Number.isFinite(window.end)) cycle.end = window.end;
  record.cycles.push(cycle);
  const written: string[] = [];
  const totals = { requests: 0, failures: 0 };
  for (const { r, share } of sources) {
    try {
      const files = await fetchCsv(r, ci, fetching);
      // Read now, so that a file Locust got wrong fails this cycle, not the report.
      const total = parseStatsCsv(files.stats.text, files.stats.path).total;
      totals.requests += total?.requests ?? 0;
      totals.failures += total?.failures ?? 0;
      parseFailuresCsv(files.failures.text, files.failures.path);
      parseExceptionsCsv(files.exceptions.text, files.exceptions.path);
      written.push(...Object.values(files).map((f) => f.path));
      const rel = (f: { path: string }) => path.relative(ctx.resultDir, f.path);
      cycle.files.push({ node: r.node.name, stats: rel(files.stats), failures: rel(files.failures), exceptions: rel(files.exceptions) });
    } catch (e) {
      if (e instanceof TransferCancelled) {
        ctx.log(`cycle ${ci + 1}: Locust's CSV files were not back ${KEEP_AFTER_CANCEL_MS / 1000} s after the job was stopped: the cycle is reported from what Locust streamed`, { node: r.node.name, stream: 'engine', level: 'warn' });
        keepStreamed(cycle, streams.get(r.node.name));
        continue;
      }
      if (aborted) continue; // stopped before it wrote them: nothing more to keep from this node
      throw e;
    }
    if (!aborted && !split.size) ctx.log(`cycle ${ci + 1}: ${share} user(s) done`, { node: r.node.name, stream: 'engine' });
  }
  if (!aborted) {
    // Locust's own split: each worker's users as it last reported them to the master.
    for (const [node, n] of [...split].sort()) ctx.log(`cycle ${ci + 1}: ${n} user(s) done`, { node, stream: 'engine' });
    // Rates over the configured duration, as in the report: each node records that long, but
    // nodes need not start at the same second (Locust's start time varies).
    const failed = totals.requests ? (100 * totals.failures) / totals.requests : 0;
    ctx.log(`* Cycle #${ci}: ${count(totals.requests, 'request')}, ${totals.failures} failed (${failed.toFixed(2)} %), ${(totals.requests / s.durationS).toFixed(1)} req/s`);
  }
  if (lost) {
    keepStreamed(cycle, streams.get(lost.loss.node));
    record.abort = lostAbort(lost.loss, `what Locust measured in cycle ${ci + 1} after the last second it streamed before the loss (its CSV files stayed on the node)`);
    throw new NodeLost(lost.error, written);
  }
  return written;
}

/** A single-node cycle whose CSV files never came back: counted from what its Locust streamed. */
function keepStreamed(cycle: LocustCycleRecord, stream: CycleStream | undefined): void {
  cycle.streamed = true;
  cycle.named = stream?.cycle();
}

/** A single-node run's node lost mid-cycle, after the cycle was recorded from what it streamed. */
class NodeLost extends Error {
  constructor(readonly error: NodeError, readonly written: string[]) {
    super(error.message);
  }
}
/** The cycle's CSV files of a node, copied under resultDir when they were written remotely. */
async function fetchCsv(r: NodeRun, ci: number, signal: AbortSignal): Promise<Record<(typeof CSV_KINDS)[number], { path: string; text: string }>> {
  const out = {} as Record<(typeof CSV_KINDS)[number], { path: string; text: string }>;
  for (const kind of CSV_KINDS) {
    const name = `cycle-${ci}_${kind}.csv`;
    const local = path.join(r.local, name);
    if (r.node.kind !== 'local') {
      try {
        await r.node.executor.get(path.posix.join(r.work, name), local, { signal });
      } catch (e) {
        if (e instanceof NodeError || e instanceof TransferCancelled) throw e;
        throw new RunFailure('infrastructure', `node "${r.node.name}": Locust wrote no ${name}: ${(e as Error).message}`);
      }
    }
    const text = await readFile(local, 'utf8').catch(() => {
      throw new RunFailure('infrastructure', `node "${r.node.name}": Locust wrote no ${name}`);
    });
    out[kind] = { path: local, text };
  }
  return out;
}
