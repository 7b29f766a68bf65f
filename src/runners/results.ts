/**
 * The one results model every runner feeds (builtin, FunkLoad XML, Locust, ...) and every report
 * reads. Samples stream in and are folded into per-cycle aggregates at once, so memory depends on
 * the number of cycles, scenario steps and seconds of run time, never on the number of requests.
 *
 * Vocabulary and formulas follow FunkLoad's bench report (research note §2.5): a *request* is one
 * HTTP response, a *page* is a page request plus its redirects/images/links, a *test* is one run
 * of the scenario; rates divide by the configured cycle duration; percentiles are nearest-rank
 * (`values[int(p·n)]`); FunkLoad's Apdex counts d < T as satisfied and d < 4T as tolerating,
 * whatever the outcome. The headline `apdex` of a cycle is the standard one (apdex.org): a failed
 * request is frustrated however fast it failed, so a run of fast 503s cannot read "Excellent".
 *
 * Units: times are epoch milliseconds, durations milliseconds (floats). Histograms hold µs.
 */
import { lostLine, NodeTally, type NodeSummary } from './nodes.js';
import { DEFAULT_RECOVERY, type RecoveryOptions } from '../stats/recovery-options.js';
import { AttributionTracker, computeMeasures, MeasureSeries, outcomeKey, type FaultWindow, type Measures } from './measures/index.js';
import type { OutcomeKey } from './measures/series.js';
import { CycleStats, errorKind, countError, MAX_ERROR_SAMPLES } from './cycle-stats.js';
import { latencyStats } from './formulas.js';
import type { AggregateSample, RequestSample, TestSample } from './samples.js';
import type { CycleSummary, ErrorSample, TimelinePoint } from './summary.js';
import { Timeline } from './timeline.js';

/** FunkLoad's default Apdex T (fl-build-report -T), in seconds. */
export const DEFAULT_APDEX_T = 1.5;

/** Keeps a hostile or huge input (e.g. a foreign XML file) from growing memory. */
const MAX_PROXY_EVENTS = 20_000;

/** Something the chaos proxy did during the run, drawn on the report's fault timeline. */
export type ProxyTimelineEvent =
  | { at: number; proxy: string; kind: 'mix'; mix: string; reason?: string }
  | { at: number; proxy: string; kind: 'fault'; behavior: string; count: number };

/** Bench parameters, FunkLoad's `[bench]` keys (seconds). */
export interface BenchConfig {
  cycles: number[];
  duration: number;
  startupDelay: number;
  sleepTime: number;
  sleepTimeMin: number;
  sleepTimeMax: number;
  cycleTime: number;
  serverUrl: string;
}

export interface RunInfo {
  name: string;
  runner: string;
  /** Bench start, epoch ms. */
  start: number;
  end?: number;
  apdexT: number;
  bench: BenchConfig;
  /** FunkLoad's test identity: module, class (suite), method (test), descriptions, node, label. */
  suite: string;
  test: string;
  module?: string;
  description?: string;
  classDescription?: string;
  node?: string;
  label?: string;
  version?: string;
  /** `meta:*` entries (FunkLoad addMetadata). */
  meta: Record<string, string>;
  /**
   * The load tool's own verdict when it failed the run (FunkLoad's `Bench status: **FAILURE**`),
   * in words: with no thresholds it fails the run in every report (runners/verdict.ts).
   */
  toolVerdict?: string;
  /** Other `<config>` keys read from a FunkLoad file, kept so a round trip loses nothing. */
  extra: Record<string, string>;
}

/**
 * Why a run stopped before its end. `why` is one word a program can act on: the engine's abort
 * reasons (`cancel`, `timeout`, `shutdown`, `lease`), `unsteady` (a sweep's lead), `killed` (a
 * result file without its end: the process was killed), `infrastructure` (one without its end
 * whose job failed for the machines, e.g. no room for its samples) or `stopped`; `reason` says it
 * in words.
 * `at`: when the load stopped, when known; then a cut cycle's rates divide by the time it ran.
 */
export interface RunAbort {
  why: string;
  reason: string;
  at?: number;
  /** What the report lacks because of the stop, in words (a lost node's files that stayed on it). */
  missing?: string;
  /** Stopped before its load started: what the run was doing then, in words ('copying the project to node "a"'). */
  before?: string;
  /** The last lines a lost node printed before it was lost (pip's, FunkLoad's ...). */
  output?: string[];
}

/** What a run stopped for no known reason says. */
const STOPPED: RunAbort = { why: 'stopped', reason: 'stopped before its end' };

/** A run's `meta:` from its job: its id, and the seed of a chaos run, which the reports show for a replay. */
export function jobMeta(job: { id: string; seed?: string }): Record<string, string> {
  return { job: job.id, ...(job.seed === undefined ? {} : { seed: job.seed }) };
}

/**
 * A run stopped by the loss of a node: which, when and why, in the words of every report, and
 * what the report lacks for it (a runner's files that stayed on the node).
 */
export function lostAbort(loss: { node: string; at: number; reason: string }, missing?: string): RunAbort {
  return { why: 'infrastructure', reason: `node "${loss.node}": ${lostLine(loss)}`, at: loss.at, ...(missing === undefined ? {} : { missing }) };
}

/** Why an aborted run stopped, in words. */
export const abortReason = (s: Pick<RunSummary, 'abort'>): string => (s.abort ?? STOPPED).reason;

/**
 * What a run stopped at a known time covers, from the load's start, and where in its cycles it
 * was cut: "0-42s of the load (cycle 3 of 4 cut after 12s of its 20s)", so a reader knows how much
 * of the run the figures are. A cycle's own window says it: tools start cycles late (Locust's own
 * start), which a planned length would not know. Stopped before its load: that no cycle ran, and
 * what the run was doing.
 */
export function abortCoverage(s: { info: RunInfo; abort?: RunAbort; cycles: readonly { cycle: number; start?: number; end?: number }[] }): string | undefined {
  if (s.abort?.before !== undefined) return `no cycle: the run stopped while ${s.abort.before}, before its load started`;
  const at = s.abort?.at;
  if (at === undefined || !(at >= s.info.start)) return undefined;
  const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const of = s.info.bench.cycles.length;
  const last = s.cycles.filter((c) => c.start !== undefined && c.start <= at).sort((x, y) => x.start! - y.start!).at(-1);
  // Stopped in the pause or ramp-up after a cycle's window (a second's slack: the tools' clocks).
  const after = last?.end !== undefined && at - last.end > 1000;
  const where = !last || !of ? '' : after ? ` (after cycle ${last.cycle + 1} of ${of})` : ` (cycle ${last.cycle + 1} of ${of} cut after ${secs(Math.min(at, last.end ?? at) - last.start!)} of its ${s.info.bench.duration}s)`;
  return `0-${secs(at - s.info.start)} of the load${where}`;
}

export interface RunSummary {
  info: RunInfo;
  aborted: boolean;
  /** Set when aborted. */
  abort?: RunAbort;
  cycles: CycleSummary[];
  /** All cycles together; cvus is the largest cycle's. */
  overall: CycleSummary;
  timeline: TimelinePoint[];
  proxyEvents: ProxyTimelineEvent[];
  errorSamples: ErrorSample[];
  /** Fault windows with their recovery and error mapping, and fault attribution (chaos runs). */
  measures?: Measures;
  /** Per node, when the samples name their nodes (a run spread over several nodes). */
  nodes?: NodeSummary[];
}
// ---------------------------------------------------------------------------------------------
// The run

export function defaultBench(): BenchConfig {
  return { cycles: [], duration: 0, startupDelay: 0, sleepTime: 0, sleepTimeMin: 0, sleepTimeMax: 0, cycleTime: 0, serverUrl: '' };
}

export function newRunInfo(partial: Partial<RunInfo> & { start: number }): RunInfo {
  return {
    name: 'bench',
    runner: 'builtin',
    apdexT: DEFAULT_APDEX_T,
    suite: 'Scenario',
    test: 'test_scenario',
    meta: {},
    extra: {},
    ...partial,
    bench: { ...defaultBench(), ...partial.bench },
  };
}

export class RunResults {
  readonly cycles = new Map<number, CycleStats>();
  readonly timeline = new Timeline();
  readonly proxyEvents: ProxyTimelineEvent[] = [];
  readonly errorSamples: ErrorSample[] = [];
  /** Finer than `timeline`, for recovery times and error mapping. */
  readonly series = new MeasureSeries();
  readonly attribution: AttributionTracker;
  readonly nodes = new NodeTally();
  /** Set by the runner once the run's behavior changes are known. */
  faultWindows: FaultWindow[] = [];
  recoveryOptions: RecoveryOptions = DEFAULT_RECOVERY;
  droppedProxyEvents = 0;
  aborted = false;
  /** Why it was aborted, when known (see stoppedBy). */
  abort: RunAbort | undefined;

  constructor(readonly info: RunInfo) {
    // "Slow" for attribution is what Apdex does not count as satisfied.
    this.attribution = new AttributionTracker(info.apdexT * 1000);
    // Anchor the timeline at the bench start, so it lines up with cycles and proxy events.
    if (Number.isFinite(info.start) && info.start > 0) this.timeline.origin = Math.floor(info.start / 1000) * 1000;
  }

  /**
   * The load starts now, after any node preparation: the run's start and time axis move here,
   * so the charts do not open on empty seconds and fault times read from the load's start.
   */
  loadStarted(at: number): void {
    this.info.start = at;
    this.timeline.anchor(at);
  }

  cycle(index: number, cvus: number): CycleStats {
    let c = this.cycles.get(index);
    if (!c) {
      c = new CycleStats(index, cvus, this.info.apdexT);
      this.cycles.set(index, c);
    }
    return c;
  }

  startCycle(index: number, cvus: number, at: number): CycleStats {
    const c = this.cycle(index, cvus);
    c.cvus = cvus;
    c.start = at;
    return c;
  }

  endCycle(index: number, at: number): void {
    const c = this.cycles.get(index);
    if (!c) return;
    c.end = at;
    c.flushPages();
  }

  addRequest(s: RequestSample): void {
    this.cycle(s.cycle, s.cvus).addRequest(s);
    const ok = s.result === 'success';
    this.timeline.add(s.start, s.duration, ok, s.cvus);
    this.series.addRequest(s.start, s.duration, ok, outcomeKey(s.code, s.error));
    const within = s.startWithinMs ?? 0;
    this.attribution.request(s.start - within, s.duration, ok, 2 * within);
    if (s.node !== undefined) this.nodes.add(s.node, s.duration, ok);
    if (!ok && this.errorSamples.length < MAX_ERROR_SAMPLES) {
      this.errorSamples.push({ cycle: s.cycle, at: s.start, url: s.url, code: s.code, result: s.result, error: errorKind(s), traceback: s.traceback });
    }
  }

  addTest(s: TestSample): void {
    this.cycle(s.cycle, s.cvus).addTest(s);
  }

  addAggregate(a: AggregateSample): void {
    this.cycle(a.cycle, a.cvus).addAggregate(a);
  }

  /**
   * One second of a cycle known as counts and durations (a tool's per-second report): feeds the
   * timeline and the cycle's busiest second. Totals stay with addAggregate.
   */
  addSecond(cycle: number, cvus: number, at: number, errors: number, durations: readonly (readonly [number, number])[]): void {
    let requests = 0;
    for (const [, c] of durations) requests += c;
    this.cycle(cycle, cvus).addSecond(at, requests, Math.max(0, requests - errors));
    this.timeline.addMany(at, cvus, errors, durations);
  }

  /**
   * Requests known as counts by start, outcome and time (a tool's own per-request tally), for
   * the fine series and attribution only: the totals come from addAggregate and addSecond.
   * `bucketMs`: the starts are the beginnings of buckets that wide, so a request may have
   * overlapped a fault anywhere up to that much later.
   */
  addCounted(start: number, durationMs: number, ok: boolean, outcome: OutcomeKey, count: number, bucketMs = 0): void {
    for (let i = 0; i < count; i++) {
      this.series.addRequest(start, durationMs, ok, outcome);
      this.attribution.request(start, durationMs, ok, bucketMs);
    }
  }

  /** Keep an example of a failure already counted (e.g. by addAggregate), for the report. */
  addErrorSample(e: ErrorSample): void {
    if (this.errorSamples.length < MAX_ERROR_SAMPLES) this.errorSamples.push(e);
  }

  /** Errors outside any request (e.g. an exception in a Locust task): counted by kind, one kept. */
  addError(e: ErrorSample, count: number, cvus: number): void {
    const c = this.cycle(e.cycle, cvus);
    countError(c.errors, e.error, count);
    this.addErrorSample(e);
  }

  addProxyEvent(e: ProxyTimelineEvent): void {
    if (this.proxyEvents.length < MAX_PROXY_EVENTS) this.proxyEvents.push(e);
    else this.droppedProxyEvents++;
  }

  /** A node lost mid-run: the reports say so next to its (partial) figures. */
  nodeLost(node: string, at: number, reason: string): void {
    this.nodes.lost(node, at, reason);
  }

  /** One fault a proxy injected (its `proxy.fault` event), for error mapping and attribution. */
  addFault(proxy: string, behavior: string, at: number): void {
    this.series.addFault(at, proxy, behavior);
    this.attribution.fault(proxy, behavior, at);
  }

  /** An exchange through a proxy completed (its `proxy.exchange` event), for attribution. */
  addExchange(proxy: string, at: number): void {
    this.attribution.exchange(proxy, at);
  }

  finish(at: number, aborted = false): void {
    this.info.end = at;
    this.aborted ||= aborted;
    for (const c of this.cycles.values()) c.flushPages();
  }

  /** The run was aborted, and why (the first reason given stays). */
  stoppedBy(abort: RunAbort): void {
    this.aborted = true;
    this.abort ??= abort;
  }

  /**
   * Where the recorded load ends, for recovery: the last cycle's recording end when known (the
   * ramp-down after it records nothing, so it cannot show a recovery), else the run's end.
   */
  private loadEnd(): number {
    const end = this.info.end ?? Date.now();
    const ends = [...this.cycles.values()].map((c) => c.end).filter((e): e is number => e !== undefined);
    return ends.length ? Math.min(end, Math.max(...ends)) : end;
  }

  /**
   * Seconds that rates divide by for a cycle: the configured duration (FunkLoad's), else the
   * measured window. A run stopped at a known time divides by the time each cycle recorded (0 for
   * a cycle cut during its ramp-up or never run): the configured duration would make a run stopped
   * after a third of it read three times too slow; so does a cycle `cut` short. A killed FunkLoad
   * file keeps FunkLoad's figures.
   */
  private rateSeconds(c: CycleStats): number {
    const measured = c.start !== undefined && c.end !== undefined && c.end > c.start ? (c.end - c.start) / 1000 : undefined;
    if (this.info.bench.duration > 0) return this.abort?.at !== undefined || c.cut ? Math.min(this.info.bench.duration, measured ?? 0) : this.info.bench.duration;
    return measured ?? 1;
  }

  summary(): RunSummary {
    const ordered = [...this.cycles.values()].sort((a, b) => a.cycle - b.cycle);
    const cycles = ordered.map((c) => c.summary(this.rateSeconds(c)));
    const all = new CycleStats(-1, 0, this.info.apdexT);
    let seconds = 0;
    for (const c of ordered) {
      all.mergeFrom(c);
      all.cvus = Math.max(all.cvus, c.cvus);
      seconds += this.rateSeconds(c);
    }
    const events = [...this.proxyEvents].sort((a, b) => a.at - b.at);
    const attribution = this.attribution.result();
    const measures =
      this.faultWindows.length || attribution.rows.length
        ? computeMeasures(this.series, this.faultWindows, attribution, this.recoveryOptions, this.loadEnd())
        : undefined;
    const nodes = this.nodes.summary(latencyStats);
    return {
      info: structuredClone(this.info),
      aborted: this.aborted,
      ...(this.aborted ? { abort: { ...(this.abort ?? STOPPED) } } : {}),
      cycles,
      overall: all.summary(seconds),
      timeline: this.timeline.points(),
      proxyEvents: events,
      errorSamples: [...this.errorSamples],
      ...(measures ? { measures } : {}),
      ...(nodes.length ? { nodes } : {}),
    };
  }
}

