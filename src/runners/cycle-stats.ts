/**
 * One cycle's aggregate: requests, pages (rebuilt per thread as FunkLoad does), tests, steps and
 * error kinds folded in as samples stream, then summarised with FunkLoad's formulas. Memory depends
 * on the number of steps and seconds, never on the number of requests.
 */
import { Histogram } from '../stats/histogram.js';
import { ApdexCounter, latencyStats, pct, PerSecond, toUs } from './formulas.js';
import type { AggregateSample, RequestSample, TestSample } from './samples.js';
import type { CycleSummary, StepSummary } from './summary.js';

/**
 * Response types that open a new page: exactly fl-build-report's list, so both count the same
 * pages in one file. FunkLoad logs its own `options()` and `method('PATCH')` calls under their
 * names too, and its report folds them into the page before them; so does ours.
 */
const PAGE_TYPES = new Set(['get', 'post', 'put', 'delete', 'head', 'xmlrpc']);

// Caps that keep a hostile or huge input (e.g. a foreign XML file) from growing memory.
export const MAX_STEPS_PER_CYCLE = 100;
const MAX_ERROR_KINDS = 50;
export const MAX_ERROR_SAMPLES = 20;
const MAX_THREADS_TRACKED = 100_000;

class StepStats {
  total = 0;
  success = 0;
  readonly hist = new Histogram();
  readonly apdex: ApdexCounter;
  /** type, url and description: the last response's, as fl-build-report keeps them (a step's url may vary between tests). */
  constructor(readonly step: number, readonly number: number, public type: string, public url: string, public description: string, t: number) {
    this.apdex = new ApdexCounter(t);
  }
}

interface OpenPage {
  start: number;
  duration: number;
  ok: boolean;
}


export class CycleStats {
  start?: number;
  end?: number;
  /** Stopped before its configured duration without the run being aborted (a lost Locust worker stops its cycle). */
  cut = false;
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
  /** The same StepStats by step * 1e6 + number. */
  private readonly stepIds = new Map<number, StepStats>();
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

    const st = this.stepOf(s);
    if (st) {
      st.type = s.type;
      st.url = s.url;
      if (s.description !== undefined) st.description = s.description;
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
      if (open) {
        // The thread's next page takes the place of the one it closes (no object per request).
        this.closePage(open);
        open.start = s.start;
        open.duration = s.duration;
        open.ok = ok;
      } else if (this.openPages.size < MAX_THREADS_TRACKED) this.openPages.set(s.thread, { start: s.start, duration: s.duration, ok });
      else this.closePage({ start: s.start, duration: s.duration, ok });
    } else if (open) {
      open.duration += s.duration;
      open.ok &&= ok;
    } else return;
    this.pageApdex.add(s.duration);
  }

  /** The step's figures, found by number (its text key is built once per step, not per request). */
  private stepOf(s: RequestSample): StepStats | undefined {
    const byNumber = Number.isInteger(s.step) && Number.isInteger(s.number) && s.step >= 0 && s.number >= 0 && s.number < 1e6;
    const id = s.step * 1e6 + s.number;
    let st = byNumber ? this.stepIds.get(id) : undefined;
    if (st) return st;
    const key = `${pad3(s.step)}.${pad3(s.number)}`;
    st = this.steps.get(key);
    if (!st && this.steps.size < MAX_STEPS_PER_CYCLE) {
      st = new StepStats(s.step, s.number, s.type, s.url, s.description ?? '', this.apdexT);
      this.steps.set(key, st);
    }
    if (st && byNumber) this.stepIds.set(id, st);
    return st;
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
      [mine.type, mine.url, mine.description] = [st.type, st.url, st.description];
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

export function countError(m: Map<string, number>, kind: string, by = 1): void {
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
