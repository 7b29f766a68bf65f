/**
 * One builtin-runner job from start to reports, for the engine's Runner wrapper: runs the bench,
 * records every sample in the compact log `resultDir/results.samples` (flushed every second),
 * turns it into the FunkLoad XML `resultDir/results.xml` at the end, records the proxies' behavior changes and
 * fault counts on the run's timeline, then writes index.html, summary.json and junit.xml and
 * evaluates the thresholds. Knows nothing of the engine: proxies are anything that emits
 * `event` with the proxy's event objects.
 */
import { join } from 'node:path';
import { steadyVerdict, type SweepPlan } from '../../config/sweep.js';
import type { TimelineEvent } from '../../core/events.js';
import { reportResults, runAbort, type JobReport, type ReportFiles, type ReportWriter } from '../job-report.js';
import type { RecoveryOptions } from '../../stats/recovery-options.js';
import { faultWindows } from '../measures/index.js';
import type { ProxyEventSource } from '../proxy-events.js';
import { recordProxies, serviceEvents } from '../proxy-timeline.js';
import { RunResults, type ProxyTimelineEvent } from '../results.js';
import { sampleLogPath, SampleLogWriter } from '../sample-log.js';
import { convertSampleLog } from '../sample-log-read.js';
import type { Threshold } from '../../config/thresholds.js';
import { benchRunInfo, runBench, type BenchOptions, type BenchProgress } from './bench.js';
import { now } from './sample-clock.js';
import type { BuiltinConfig } from './config.js';
import { xmlRecorder } from './record.js';

export interface BuiltinJobOptions {
  name: string;
  config: BuiltinConfig;
  resultDir: string;
  /** report/'s writer (runners cannot import it). */
  writeReports: ReportWriter;
  signal?: AbortSignal;
  /** Who cancelled the run, in words, when not a user (RunnerContext.cancelCause). */
  cancelCause?: () => string | undefined;
  thresholds?: Threshold[];
  proxies?: Iterable<ProxyEventSource>;
  /** Behavior changes known elsewhere (e.g. fixtures applied before the load): added to the timeline. */
  events?: readonly ProxyTimelineEvent[];
  /** The job's named behavior changes (fixtures, scenario steps, manual), read at the end: its fault windows. */
  timeline?: () => readonly TimelineEvent[];
  /** How recovery after each fault window is judged. */
  recovery?: RecoveryOptions;
  /** A sweep's plan: the report opens with its resilience matrix. */
  sweep?: SweepPlan;
  /** Told whether the lead of a sweep met its steady state (the faults wait for it). */
  onSteadyState?: (v: { ok: boolean; why?: string }) => void;
  log?: (line: string) => void;
  progress?: (p: BenchProgress) => void;
  /** Called when the load starts: right before the first user, after any node preparation. */
  onLoadStarted?: () => void;
  generator?: string;
  meta?: Record<string, string>;
  /** The node(s) the load ran on, for the report (default: this host). */
  node?: string;
  /**
   * What produces the load: this process (runBench, the default) or a bench spread over nodes
   * that feeds the same hooks (distributed.ts).
   */
  bench?: (config: BuiltinConfig, options: BenchOptions & { results: RunResults }) => Promise<unknown>;
}

export interface BuiltinJobResult extends JobReport {
  files: ReportFiles & { xml: string };
}

export { summaryLine } from '../job-report.js';

export async function runBuiltinJob(o: BuiltinJobOptions): Promise<BuiltinJobResult> {
  const c = o.config;
  const results = new RunResults(benchRunInfo(c, { name: o.name, start: Date.now(), meta: o.meta ?? {}, version: o.generator, ...(o.node ? { node: o.node } : {}) }));
  const xmlPath = join(o.resultDir, 'results.xml');
  // Each sample is a few stores into a batch here; its XML line is made once the load is over.
  const logPath = sampleLogPath(xmlPath);
  // A log that cannot be written (the disk full) stops the load: its samples would be lost.
  const unwritable = new AbortController();
  const writer = new SampleLogWriter(logPath, results.info, { path: xmlPath, generator: o.generator, deferHeader: true, onError: () => unwritable.abort() });
  if (o.recovery) results.recoveryOptions = o.recovery;
  const proxies = recordProxies(results, {
    proxies: o.proxies,
    events: o.events,
    also: (e) => writer.proxyEvent(e),
    // Proxies emit synchronously, so reading the samples' clock here times the event on the same
    // clock as the requests (Date.now() may be a millisecond or more off it, which matters when
    // joining short requests with faults); proxy.exchange carries no time at all.
    onEvent: (e) => {
      if (e.type === 'proxy.fault') results.addFault(e.proxy, e.behavior, now());
      else if (e.type === 'proxy.exchange') results.addExchange(e.proxy, now());
    },
  });
  let loadStart = Date.now();
  // An unsteady lead ends the load: a sweep answers nothing about an app that was already failing.
  const unsteady = new AbortController();
  let steadyTimer: NodeJS.Timeout | undefined;
  const onStart = () => {
    loadStart = Date.now();
    results.loadStarted(loadStart);
    writer.begin();
    o.onLoadStarted?.();
    const plan = o.sweep;
    if (!plan) return;
    // Judged a little before the first fault is due, so that a steady load loses no time.
    const judge = () => {
      // The second half of the lead: the first requests open connections (a warm-up, not a state).
      const span = results.series.range(loadStart + plan.leadMs / 2, Date.now());
      // None finished yet says nothing on a busy machine: ask again a little later (the faults
      // wait; the ones due meanwhile start when armed), for at most another lead.
      if (span.requests === 0 && Date.now() < loadStart + 2 * plan.leadMs) {
        steadyTimer = setTimeout(judge, 250);
        return;
      }
      const v = steadyVerdict(span, plan.steady);
      o.onSteadyState?.(v);
      if (!v.ok) unsteady.abort();
    };
    steadyTimer = setTimeout(judge, Math.max(plan.leadMs / 2, plan.leadMs - 250));
  };
  try {
    await (o.bench ?? runBench)(c, {
      results,
      signal: AbortSignal.any([...(o.signal ? [o.signal] : []), unsteady.signal, unwritable.signal]),
      onStart,
      onLog: o.log,
      onProgress: (p) => {
        proxies.flush(Date.now()); // seconds that are over have their final fault counts
        writer.flush(); // a job killed now keeps its samples up to this second
        o.progress?.(p);
      },
      ...xmlRecorder(writer, results),
    });
  } finally {
    clearTimeout(steadyTimer);
    proxies.stop();
    if (results.aborted) {
      results.stoppedBy(runAbort(o.signal?.aborted ? o.signal.reason : unsteady.signal.aborted ? 'unsteady' : undefined, results.info.end, o.cancelCause?.()));
      writer.abort(results.abort!);
    }
    writer.close();
    if (!writer.failure) await convertSampleLog(logPath, xmlPath);
  }
  if (writer.failure) throw writer.failure;
  const timeline = o.timeline?.() ?? [];
  results.faultWindows = faultWindows(timeline, loadStart);
  for (const e of serviceEvents(timeline)) results.addProxyEvent(e);
  const report = await reportResults(results, { resultDir: o.resultDir, writeReports: o.writeReports, thresholds: o.thresholds, generator: o.generator, log: o.log, sweep: o.sweep });
  return { ...report, files: { ...report.files, xml: xmlPath } };
}
