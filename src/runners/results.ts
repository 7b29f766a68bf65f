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
import { mergePairs } from '../stats/buckets.js';
import { Histogram, type HistogramJSON } from '../stats/histogram.js';
import { NodeTally, type NodeSummary } from './nodes.js';
import { AttributionTracker, computeMeasures, DEFAULT_RECOVERY, MeasureSeries, outcomeKey, type FaultWindow, type Measures, type RecoveryOptions } from './measures/index.js';
import type { OutcomeKey } from './measures/series.js';

export type Outcome = 'success' | 'failure' | 'error';

/** FunkLoad's default Apdex T (fl-build-report -T), in seconds. */
export const DEFAULT_APDEX_T = 1.5;

/**
 * Response types that open a new page: exactly fl-build-report's list, so both count the same
 * pages in one file. FunkLoad logs its own `options()` and `method('PATCH')` calls under their
 * names too, and its report folds them into the page before them; so does ours.
 */
const PAGE_TYPES = new Set(['get', 'post', 'put', 'delete', 'head', 'xmlrpc']);

// Caps that keep a hostile or huge input (e.g. a foreign XML file) from growing memory.
const MAX_STEPS_PER_CYCLE = 100;
const MAX_ERROR_KINDS = 50;
const MAX_ERROR_SAMPLES = 20;
const MAX_SECONDS_TRACKED = 100_000;
const MAX_PROXY_EVENTS = 20_000;
const MAX_TIMELINE_BUCKETS = 300;
const MAX_THREADS_TRACKED = 100_000;

export interface RequestSample {
  cycle: number;
  cvus: number;
  thread: number;
  /** Page number within the test (1-based) and response number within the page (1 = the page itself). */
  step: number;
  number: number;
  /** Lower-case method for a page, or image/link/redirect for a sub-resource, as in FunkLoad. */
  type: string;
  url: string;
  description?: string;
  start: number;
  duration: number;
  /** HTTP status, -1 when no response came (connection error, timeout). */
  code: number;
  result: Outcome;
  /** Short error kind for grouping: 'ECONNRESET', 'timeout', 'status 503', ... */
  error?: string;
  /** Longer text (FunkLoad: the Python traceback). */
  traceback?: string;
  suite?: string;
  name?: string;
  /** The node that sent it, in a run spread over several nodes. */
  node?: string;
}

export interface TestSample {
  cycle: number;
  cvus: number;
  thread: number;
  start: number;
  /** Wall time of the whole test. */
  duration: number;
  /** Sum of request durations: what FunkLoad's test min/avg/max use. */
  connectionDuration: number;
  result: Outcome;
  steps: number;
  requests: number;
  pages: number;
  xmlrpc?: number;
  redirects?: number;
  images?: number;
  links?: number;
  error?: string;
  traceback?: string;
  suite?: string;
  name?: string;
}

/**
 * Requests known only as a distribution, from a tool that reports aggregates (Locust): one
 * request type (step) of one cycle. Each request is its own page; there are no tests.
 */
export interface AggregateSample {
  cycle: number;
  cvus: number;
  step: number;
  type: string;
  url: string;
  description?: string;
  /** [duration ms, how many] pairs; their counts sum to the number of requests. */
  durations: readonly (readonly [number, number])[];
  /** How many of those requests failed, and why (kind -> count; the rest count as 'failure'). */
  failures: number;
  errors: Readonly<Record<string, number>>;
}

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
  /** Other `<config>` keys read from a FunkLoad file, kept so a round trip loses nothing. */
  extra: Record<string, string>;
}

export interface LatencyStats {
  count: number;
  min: number;
  avg: number;
  max: number;
  p10: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

export type ApdexRating = 'UNACCEPTABLE' | 'POOR' | 'FAIR' | 'Good' | 'Excellent';

export interface ApdexStats {
  t: number;
  satisfied: number;
  tolerating: number;
  frustrated: number;
  score: number;
  rating: ApdexRating;
}

export interface StepSummary {
  key: string;
  step: number;
  number: number;
  type: string;
  url: string;
  description: string;
  total: number;
  success: number;
  errorPercent: number;
  latency: LatencyStats;
  apdex: ApdexStats;
}

export interface CycleSummary {
  cycle: number;
  cvus: number;
  /** Recording window (epoch ms), when known. */
  start?: number;
  end?: number;
  /** Seconds used as the denominator of rates (FunkLoad: the configured duration). */
  duration: number;
  tests: { total: number; success: number; failures: number; errors: number; errorPercent: number; stps: number; latency: LatencyStats };
  pages: { total: number; success: number; errorPercent: number; spps: number; maxSpps: number; latency: LatencyStats; apdex: ApdexStats };
  requests: { total: number; success: number; errorPercent: number; rps: number; maxRps: number; latency: LatencyStats; apdex: ApdexStats };
  /** Successful requests / requests, 0..1 (1 when nothing ran). */
  successRate: number;
  /** Standard Apdex over requests: failed requests are frustrated (the headline and thresholds). */
  apdex: ApdexStats;
  errors: Record<string, number>;
  steps: StepSummary[];
}

export interface TimelinePoint {
  /** Bucket start, epoch ms, and its width in ms. */
  at: number;
  width: number;
  cvus: number;
  requests: number;
  errors: number;
  rps: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ErrorSample {
  cycle: number;
  at: number;
  url: string;
  code: number;
  result: Outcome;
  error: string;
  traceback?: string;
}

export interface RunSummary {
  info: RunInfo;
  aborted: boolean;
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
// Pure statistics helpers

/** FunkLoad's nearest-rank percentile: values[int(p/100·n)] over sorted values (0-based). */
export function funkloadRank(p: number, n: number): number {
  return Math.min(n, Math.floor((p / 100) * n) + 1);
}

const REPORTED_PERCENTILES = [10, 50, 90, 95, 99];

export function latencyStats(h: Histogram): LatencyStats {
  const n = h.count;
  const [p10, p50, p90, p95, p99] = n ? h.valuesAtRanks(REPORTED_PERCENTILES.map((p) => funkloadRank(p, n))).map((us) => us / 1000) : [0, 0, 0, 0, 0];
  return { count: n, min: n ? h.min / 1000 : 0, avg: h.mean / 1000, max: h.max / 1000, p10, p50, p90, p95, p99 };
}

export function apdexRating(score: number): ApdexRating {
  if (score < 0.5) return 'UNACCEPTABLE';
  if (score < 0.7) return 'POOR';
  if (score < 0.85) return 'FAIR';
  if (score < 0.94) return 'Good';
  return 'Excellent';
}

/** Apdex from zone counts: (satisfied + tolerating/2) / total, 0 with no samples (as FunkLoad). */
export function apdexFrom(t: number, satisfied: number, tolerating: number, frustrated: number): ApdexStats {
  const total = satisfied + tolerating + frustrated;
  const score = total ? (satisfied + tolerating / 2) / total : 0;
  return { t, satisfied, tolerating, frustrated, score, rating: apdexRating(score) };
}

/** Counts samples per Apdex zone; T in seconds, durations in ms. */
export class ApdexCounter {
  satisfied = 0;
  tolerating = 0;
  frustrated = 0;
  private readonly tMs: number;
  constructor(readonly t: number) {
    this.tMs = t * 1000;
  }
  add(durationMs: number, times = 1): void {
    if (durationMs < this.tMs) this.satisfied += times;
    else if (durationMs < 4 * this.tMs) this.tolerating += times;
    else this.frustrated += times;
  }
  /** Count `n` already-added samples as failed: frustrated, taken from the best zones first. */
  frustrate(n: number): void {
    const fromSatisfied = Math.min(n, this.satisfied);
    const fromTolerating = Math.min(n - fromSatisfied, this.tolerating);
    this.satisfied -= fromSatisfied;
    this.tolerating -= fromTolerating;
    this.frustrated += fromSatisfied + fromTolerating;
  }
  merge(o: ApdexCounter): void {
    this.satisfied += o.satisfied;
    this.tolerating += o.tolerating;
    this.frustrated += o.frustrated;
  }
  stats(): ApdexStats {
    return apdexFrom(this.t, this.satisfied, this.tolerating, this.frustrated);
  }
}

/** Counts per whole second, for FunkLoad's maxRPS / maxSPPS (bounded number of seconds). */
class PerSecond {
  private counts = new Map<number, number>();
  add(atMs: number, times = 1): void {
    const s = Math.floor(atMs / 1000);
    const c = this.counts.get(s);
    if (c !== undefined) this.counts.set(s, c + times);
    else if (this.counts.size < MAX_SECONDS_TRACKED) this.counts.set(s, times);
  }
  max(): number {
    let m = 0;
    for (const c of this.counts.values()) if (c > m) m = c;
    return m;
  }
  mergeInto(o: PerSecond): void {
    for (const [s, c] of this.counts) {
      const prev = o.counts.get(s);
      if (prev !== undefined) o.counts.set(s, prev + c);
      else if (o.counts.size < MAX_SECONDS_TRACKED) o.counts.set(s, c);
    }
  }
}

const toUs = (ms: number) => Math.round(ms * 1000);
const pct = (bad: number, total: number) => (total ? (100 * bad) / total : 0);

class StepStats {
  total = 0;
  success = 0;
  readonly hist = new Histogram();
  readonly apdex: ApdexCounter;
  constructor(readonly step: number, readonly number: number, readonly type: string, readonly url: string, readonly description: string, t: number) {
    this.apdex = new ApdexCounter(t);
  }
}

interface OpenPage {
  start: number;
  duration: number;
  ok: boolean;
}

// ---------------------------------------------------------------------------------------------
// Per-cycle aggregate

export class CycleStats {
  start?: number;
  end?: number;
  // tests
  testsTotal = 0;
  testsSuccess = 0;
  testsFailures = 0;
  testsErrors = 0;
  readonly testHist = new Histogram();
  // pages
  pagesTotal = 0;
  pagesSuccess = 0;
  readonly pageHist = new Histogram();
  /** Over the responses that belong to a page (FunkLoad: not those before a thread's first page). */
  readonly pageApdex: ApdexCounter;
  readonly pagePerSecond = new PerSecond();
  private openPages = new Map<number, OpenPage>();
  // requests
  requestsTotal = 0;
  requestsSuccess = 0;
  readonly requestHist = new Histogram();
  /** FunkLoad's, over durations only (its tables); `apdex` is the standard one. */
  readonly requestApdex: ApdexCounter;
  readonly apdex: ApdexCounter;
  readonly requestPerSecond = new PerSecond();
  readonly steps = new Map<string, StepStats>();
  readonly errors = new Map<string, number>();

  constructor(readonly cycle: number, public cvus: number, readonly apdexT: number) {
    this.requestApdex = new ApdexCounter(apdexT);
    this.pageApdex = new ApdexCounter(apdexT);
    this.apdex = new ApdexCounter(apdexT);
  }

  addRequest(s: RequestSample): void {
    const ok = s.result === 'success';
    this.requestsTotal++;
    if (ok) this.requestsSuccess++;
    this.requestHist.record(toUs(s.duration));
    this.requestApdex.add(s.duration);
    this.apdex.add(ok ? s.duration : Infinity);
    this.requestPerSecond.add(s.start);
    if (!ok) countError(this.errors, errorKind(s));

    const key = `${pad3(s.step)}.${pad3(s.number)}`;
    let st = this.steps.get(key);
    if (!st && this.steps.size < MAX_STEPS_PER_CYCLE) {
      st = new StepStats(s.step, s.number, s.type, s.url, s.description ?? '', this.apdexT);
      this.steps.set(key, st);
    }
    if (st) {
      st.total++;
      if (ok) st.success++;
      st.hist.record(toUs(s.duration));
      st.apdex.add(s.duration);
    }

    // Pages, rebuilt per thread as FunkLoad does: a page request opens a page, the responses that
    // follow (redirects, images, css) join it; a page fails if any of its responses failed. A
    // response before the thread's first page in this cycle (the tail of a page fetched before
    // recording began) belongs to no page: fl-build-report leaves it out of pages and their Apdex.
    const open = this.openPages.get(s.thread);
    if (PAGE_TYPES.has(s.type)) {
      if (open) this.closePage(open);
      if (this.openPages.size < MAX_THREADS_TRACKED || open) this.openPages.set(s.thread, { start: s.start, duration: s.duration, ok });
      else this.closePage({ start: s.start, duration: s.duration, ok });
    } else if (open) {
      open.duration += s.duration;
      open.ok &&= ok;
    } else return;
    this.pageApdex.add(s.duration);
  }

  /**
   * Fold in requests known as a distribution. Which of them failed is not known, so all
   * durations go to the page histogram too (FunkLoad keeps successful pages only there).
   */
  addAggregate(a: AggregateSample): void {
    let total = 0;
    for (const [, c] of a.durations) total += c;
    const failures = Math.min(total, Math.max(0, a.failures));
    this.requestsTotal += total;
    this.requestsSuccess += total - failures;
    this.pagesTotal += total;
    this.pagesSuccess += total - failures;
    let named = 0;
    for (const [kind, c] of Object.entries(a.errors)) {
      const n = Math.min(c, failures - named);
      if (n <= 0) break;
      countError(this.errors, kind, n);
      named += n;
    }
    if (failures > named) countError(this.errors, 'failure', failures - named);
    const key = `${pad3(a.step)}.${pad3(1)}`;
    let st = this.steps.get(key);
    if (!st && this.steps.size < MAX_STEPS_PER_CYCLE) {
      st = new StepStats(a.step, 1, a.type, a.url, a.description ?? '', this.apdexT);
      this.steps.set(key, st);
    }
    if (st) {
      st.total += total;
      st.success += total - failures;
    }
    const apdex = new ApdexCounter(this.apdexT);
    for (const [ms, c] of a.durations) {
      this.requestHist.record(toUs(ms), c);
      this.requestApdex.add(ms, c);
      apdex.add(ms, c);
      this.pageApdex.add(ms, c);
      this.pageHist.record(toUs(ms), c);
      st?.hist.record(toUs(ms), c);
      st?.apdex.add(ms, c);
    }
    // Which durations failed is not known: the failures leave the best zones (they often fail fast).
    apdex.frustrate(failures);
    this.apdex.merge(apdex);
  }

  /** Requests and successful pages counted in one second (for maxRps/maxSpps), from aggregates. */
  addSecond(atMs: number, requests: number, successes: number): void {
    if (requests > 0) this.requestPerSecond.add(atMs, requests);
    if (successes > 0) this.pagePerSecond.add(atMs, successes);
  }

  addTest(s: TestSample): void {
    this.testsTotal++;
    if (s.result === 'success') {
      this.testsSuccess++;
      this.testHist.record(toUs(s.connectionDuration));
    } else if (s.result === 'failure') this.testsFailures++;
    else this.testsErrors++;
  }

  /** Close the pages still open (end of cycle): later summaries count them. */
  flushPages(): void {
    for (const p of this.openPages.values()) this.closePage(p);
    this.openPages.clear();
  }

  private closePage(p: OpenPage): void {
    this.pagesTotal++;
    if (p.ok) {
      this.pagesSuccess++;
      this.pageHist.record(toUs(p.duration));
      this.pagePerSecond.add(p.start);
    }
  }

  /** Fold another cycle's aggregate into this one (for the overall figures and merged files). */
  mergeFrom(o: CycleStats): void {
    this.testsTotal += o.testsTotal;
    this.testsSuccess += o.testsSuccess;
    this.testsFailures += o.testsFailures;
    this.testsErrors += o.testsErrors;
    this.testHist.merge(o.testHist);
    this.pagesTotal += o.pagesTotal;
    this.pagesSuccess += o.pagesSuccess;
    this.pageHist.merge(o.pageHist);
    this.pageApdex.merge(o.pageApdex);
    o.pagePerSecond.mergeInto(this.pagePerSecond);
    this.requestsTotal += o.requestsTotal;
    this.requestsSuccess += o.requestsSuccess;
    this.requestHist.merge(o.requestHist);
    this.requestApdex.merge(o.requestApdex);
    this.apdex.merge(o.apdex);
    o.requestPerSecond.mergeInto(this.requestPerSecond);
    for (const [k, c] of o.errors) countError(this.errors, k, c);
    for (const [k, st] of o.steps) {
      let mine = this.steps.get(k);
      if (!mine && this.steps.size < MAX_STEPS_PER_CYCLE) {
        mine = new StepStats(st.step, st.number, st.type, st.url, st.description, this.apdexT);
        this.steps.set(k, mine);
      }
      if (!mine) continue;
      mine.total += st.total;
      mine.success += st.success;
      mine.hist.merge(st.hist);
      mine.apdex.merge(st.apdex);
    }
    if (o.start !== undefined) this.start = this.start === undefined ? o.start : Math.min(this.start, o.start);
    if (o.end !== undefined) this.end = this.end === undefined ? o.end : Math.max(this.end, o.end);
  }

  /** `durationS`: the denominator of rates, in seconds. */
  summary(durationS: number): CycleSummary {
    const d = durationS > 0 ? durationS : 1;
    const reqApdex = this.requestApdex.stats();
    // FunkLoad quirk kept on purpose, so figures match fl-build-report's: min, max and
    // percentiles are over successful pages, but their total time is divided by all pages.
    const pageLatency = latencyStats(this.pageHist);
    pageLatency.avg = this.pagesTotal ? (pageLatency.avg * pageLatency.count) / this.pagesTotal : 0;
    const steps: StepSummary[] = [...this.steps.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, st]) => ({
        key,
        step: st.step,
        number: st.number,
        type: st.type,
        url: st.url,
        description: st.description,
        total: st.total,
        success: st.success,
        errorPercent: pct(st.total - st.success, st.total),
        latency: latencyStats(st.hist),
        apdex: st.apdex.stats(),
      }));
    return {
      cycle: this.cycle,
      cvus: this.cvus,
      start: this.start,
      end: this.end,
      duration: durationS,
      tests: {
        total: this.testsTotal,
        success: this.testsSuccess,
        failures: this.testsFailures,
        errors: this.testsErrors,
        errorPercent: pct(this.testsTotal - this.testsSuccess, this.testsTotal),
        stps: this.testsSuccess / d,
        latency: latencyStats(this.testHist),
      },
      pages: {
        total: this.pagesTotal,
        success: this.pagesSuccess,
        errorPercent: pct(this.pagesTotal - this.pagesSuccess, this.pagesTotal),
        spps: this.pagesSuccess / d,
        maxSpps: this.pagePerSecond.max(),
        latency: pageLatency,
        // FunkLoad quirk kept on purpose: the page Apdex is computed over response durations.
        apdex: this.pageApdex.stats(),
      },
      requests: {
        total: this.requestsTotal,
        success: this.requestsSuccess,
        errorPercent: pct(this.requestsTotal - this.requestsSuccess, this.requestsTotal),
        rps: this.requestsTotal / d,
        maxRps: this.requestPerSecond.max(),
        latency: latencyStats(this.requestHist),
        apdex: reqApdex,
      },
      successRate: this.requestsTotal ? this.requestsSuccess / this.requestsTotal : this.testsTotal ? this.testsSuccess / this.testsTotal : 1,
      apdex: this.apdex.stats(),
      errors: Object.fromEntries([...this.errors.entries()].sort((a, b) => b[1] - a[1])),
      steps,
    };
  }
}

function pad3(n: number): string {
  return String(n).padStart(3, '0');
}

function countError(m: Map<string, number>, kind: string, by = 1): void {
  const c = m.get(kind);
  if (c !== undefined) m.set(kind, c + by);
  else if (m.size < MAX_ERROR_KINDS) m.set(kind, by);
  else m.set('other', (m.get('other') ?? 0) + by);
}

/** The grouping key of a failed request: its error kind, else its status. */
export function errorKind(s: Pick<RequestSample, 'error' | 'code' | 'result'>): string {
  if (s.error) return s.error;
  if (s.code > 0) return `status ${s.code}`;
  return s.result === 'error' ? 'error' : 'failure';
}

// ---------------------------------------------------------------------------------------------
// Timeline: throughput and latency against time, at most MAX_TIMELINE_BUCKETS buckets. When a run
// outgrows them, the bucket width doubles and neighbours merge, so memory stays fixed.

/** Chart points need less than the tables' precision; 300 buckets of it would cost ~20 MB. */
const TIMELINE_DIGITS = 2;

interface Bucket {
  requests: number;
  errors: number;
  cvus: number;
  hist?: Histogram;
}

export class Timeline {
  private buckets: Bucket[] = [];
  private width = 1000;
  origin?: number;

  add(at: number, durationMs: number, ok: boolean, cvus: number): void {
    const b = this.bucket(at);
    if (!b) return;
    b.requests++;
    if (!ok) b.errors++;
    if (cvus > b.cvus) b.cvus = cvus;
    (b.hist ??= new Histogram(TIMELINE_DIGITS)).record(toUs(durationMs));
  }

  /** Many requests of one moment at once: `durations` are [ms, count] pairs. */
  addMany(at: number, cvus: number, errors: number, durations: readonly (readonly [number, number])[]): void {
    const b = this.bucket(at);
    if (!b) return;
    for (const [ms, c] of durations) {
      b.requests += c;
      (b.hist ??= new Histogram(TIMELINE_DIGITS)).record(toUs(ms), c);
    }
    b.errors += errors;
    if (cvus > b.cvus) b.cvus = cvus;
  }

  /** Start the axis at `at`'s whole second, unless samples already placed it. */
  anchor(at: number): void {
    if (this.buckets.length === 0) this.origin = Math.floor(at / 1000) * 1000;
  }

  private bucket(at: number): Bucket | undefined {
    if (this.origin === undefined) this.origin = Math.floor(at / 1000) * 1000;
    let i = Math.max(0, Math.floor((at - this.origin) / this.width));
    // Bounded: each coarsening halves the index; 2^40 ms covers any run.
    for (let guard = 0; i >= MAX_TIMELINE_BUCKETS && guard < 40; guard++) {
      this.coarsen();
      i = Math.max(0, Math.floor((at - this.origin) / this.width));
    }
    if (i >= MAX_TIMELINE_BUCKETS) return undefined;
    while (this.buckets.length <= i) this.buckets.push({ requests: 0, errors: 0, cvus: 0 });
    return this.buckets[i];
  }

  private coarsen(): void {
    this.buckets = mergePairs(this.buckets, (a, b) => {
      a.requests += b.requests;
      a.errors += b.errors;
      a.cvus = Math.max(a.cvus, b.cvus);
      if (b.hist) a.hist ? a.hist.merge(b.hist) : (a.hist = b.hist);
    });
    this.width *= 2;
  }

  points(): TimelinePoint[] {
    const origin = this.origin ?? 0;
    return this.buckets.map((b, i) => {
      const h = b.hist;
      const l = h ? latencyStats(h) : undefined;
      return {
        at: origin + i * this.width,
        width: this.width,
        cvus: b.cvus,
        requests: b.requests,
        errors: b.errors,
        rps: b.requests / (this.width / 1000),
        avg: l?.avg ?? 0,
        p50: l?.p50 ?? 0,
        p95: l?.p95 ?? 0,
        p99: l?.p99 ?? 0,
        max: l?.max ?? 0,
      };
    });
  }
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
    this.attribution.request(s.start, s.duration, ok);
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
   */
  addCounted(start: number, durationMs: number, ok: boolean, outcome: OutcomeKey, count: number): void {
    for (let i = 0; i < count; i++) {
      this.series.addRequest(start, durationMs, ok, outcome);
      this.attribution.request(start, durationMs, ok);
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

  /**
   * Where the recorded load ends, for recovery: the last cycle's recording end when known (the
   * ramp-down after it records nothing, so it cannot show a recovery), else the run's end.
   */
  private loadEnd(): number {
    const end = this.info.end ?? Date.now();
    const ends = [...this.cycles.values()].map((c) => c.end).filter((e): e is number => e !== undefined);
    return ends.length ? Math.min(end, Math.max(...ends)) : end;
  }

  /** Seconds that rates divide by for a cycle: the configured duration, else the measured window. */
  private rateSeconds(c: CycleStats): number {
    if (this.info.bench.duration > 0) return this.info.bench.duration;
    if (c.start !== undefined && c.end !== undefined && c.end > c.start) return (c.end - c.start) / 1000;
    return 1;
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

/** Serialisable histogram snapshot, for callers that persist aggregates. */
export type { HistogramJSON };

/**
 * Turns the proxy's per-exchange `proxy.fault` events into per-second counts and keeps each
 * `proxy.mix` change, so a long blackout costs one event per second, not one per exchange.
 * `flush()` emits what is pending (call it every second and at the end of the run).
 */
export class FaultAggregator {
  private pending = new Map<string, { at: number; proxy: string; behavior: string; count: number }>();

  constructor(private readonly sink: (e: ProxyTimelineEvent) => void) {}

  onProxyEvent(e: { type: string; proxy: string; at: number; behavior?: string; mix?: string; reason?: string }): void {
    if (e.type === 'proxy.mix' && e.mix !== undefined) {
      this.sink({ at: e.at, proxy: e.proxy, kind: 'mix', mix: e.mix, ...(e.reason ? { reason: e.reason } : {}) });
    } else if (e.type === 'proxy.fault' && e.behavior !== undefined) {
      const second = Math.floor(e.at / 1000) * 1000;
      const key = `${e.proxy}\u0000${e.behavior}`;
      const p = this.pending.get(key);
      if (p && p.at === second) p.count++;
      else {
        if (p) this.sink({ at: p.at, proxy: p.proxy, kind: 'fault', behavior: p.behavior, count: p.count });
        this.pending.set(key, { at: second, proxy: e.proxy, behavior: e.behavior, count: 1 });
      }
    }
  }

  /** Emit the pending counts of seconds that ended before `now` (all of them by default). */
  flush(now = Infinity): void {
    for (const [key, p] of this.pending) {
      if (p.at + 1000 > now) continue; // that second is still running: more faults may come
      this.sink({ at: p.at, proxy: p.proxy, kind: 'fault', behavior: p.behavior, count: p.count });
      this.pending.delete(key);
    }
  }
}
