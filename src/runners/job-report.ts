/**
 * The end of every measuring runner (builtin, funkload, ...): results → index.html, summary.json
 * and junit.xml, thresholds evaluated and logged, and the engine's RunOutcome built from that.
 * One place, so every runner's reports and exit codes mean the same thing. Rendering the files is
 * report/'s job, a layer above runners: the runners are handed its writer (see ReportWriter).
 */
import path from 'node:path';
import { windowLine } from './measures/index.js';
import { buildMatrix, matrixLines, type Matrix, type SteadyState } from './matrix.js';
import { steadyVerdict, type SweepPlan } from '../config/sweep.js';
import { abortCoverage, abortReason, type RunAbort, type RunResults, type RunSummary } from './results.js';
import { runVerdict, type RunVerdict } from './verdict.js';
import type { MarteauConfig, RunnerCatalogEntry } from '../config/marteau.js';
import type { Progress } from '../core/events.js';
import type { RunOutcome } from '../core/runner-contract.js';
import { parseThresholds, type Threshold } from '../config/thresholds.js';
import { evaluateThresholds, formatValue, verdictWord, type ThresholdResult } from './thresholds.js';
import { count } from '../text/count.js';

/** The reports a job writes into its result directory. */
export interface ReportFiles {
  html: string;
  json: string;
  junit: string;
}

/**
 * Writes a run's reports into `dir` (report/index.ts's writeReports). Runners take it as an
 * argument because report/ renders runners' results, so runners cannot import it.
 */
export type ReportWriter = (dir: string, summary: RunSummary, thresholds: ThresholdResult[], opts: { generator?: string; matrix?: Matrix }) => Promise<ReportFiles>;

/** The run's verdict (passed, reasons: runVerdict's) with what it was judged on. */
export interface JobReport extends RunVerdict {
  summary: RunSummary;
  verdicts: ThresholdResult[];
  aborted: boolean;
  files: ReportFiles;
  /** A sweep's resilience matrix; a failing cell fails the job like a threshold. */
  matrix?: Matrix;
  /** One line for the job summary. */
  line: string;
  /** The matrix and the verdicts, in words: the job's output ends with them (RunOutcome.closing). */
  closing: string[];
}

export function summaryLine(s: RunSummary): string {
  const o = s.overall;
  const errors = o.requests.total ? (100 * (o.requests.total - o.requests.success)) / o.requests.total : 0;
  return `${count(o.requests.total, 'request')}, ${errors.toFixed(2)} % errors, ${o.requests.rps.toFixed(1)} req/s, p95 ${formatValue('p95', o.requests.latency.count ? o.requests.latency.p95 : undefined)}, Apdex ${o.apdex.score.toFixed(2)}`;
}

/**
 * The last progress of a run that ended, in its report's figures: a tool's live count need not
 * follow the report's rule (FunkLoad's console counts tests ending while it records, not
 * requests), and the last line a viewer (--ci, the Queue) shows must not read otherwise than the
 * job's line and summary.json. Tests are named where the run has any (FunkLoad's). It ends 'done',
 * or, for a run stopped before its end (a cancel, a lost node), why and what its report covers, so
 * that a log reader tells a cancel from a crash, which leaves no such line.
 */
export function finishedProgress(s: RunSummary): Progress {
  const { requests, tests } = s.overall;
  const testWords = tests.total ? `${count(tests.total, 'test')}: ${tests.failures} failed, ${count(tests.errors, 'error')}, ` : '';
  const covers = abortCoverage(s);
  const end = s.aborted ? `${abortReason(s)}; kept: a partial report${covers ? ` of ${covers}` : ''}` : 'done';
  return { cycle: s.cycles.at(-1)?.cycle, cycles: s.info.bench.cycles.length || undefined, users: 0, requests: requests.total, errors: requests.total - requests.success, message: `${testWords}${end}` };
}

export async function reportResults(
  results: RunResults,
  o: { resultDir: string; writeReports: ReportWriter; thresholds?: Threshold[]; generator?: string; log?: (line: string) => void; sweep?: SweepPlan },
): Promise<JobReport> {
  const summary = results.summary();
  for (const w of summary.measures?.windows ?? []) o.log?.(`fault window ${windowLine(w)}`);
  const verdicts = evaluateThresholds(o.thresholds ?? [], summary);
  const stopped = summary.aborted ? abortReason(summary) : undefined;
  const matrix = o.sweep ? buildMatrix(o.sweep, summary.measures?.windows ?? [], steadySpans(results, o.sweep, stopped), stopped) : undefined;
  const files = await o.writeReports(o.resultDir, summary, verdicts, { generator: o.generator, matrix });
  const closing = [...(matrix ? matrixLines(matrix) : []), ...verdicts.map((v) => `${verdictWord(v)} ${v.message}`)];
  const verdict = runVerdict(summary, verdicts, matrix);
  return {
    summary,
    verdicts,
    aborted: summary.aborted,
    ...verdict,
    files,
    ...(matrix ? { matrix } : {}),
    line: summaryLine(summary),
    closing,
  };
}

/**
 * The steady state of the second half of a sweep's lead (before any fault) and of its last gap;
 * a run stopped early never reached that gap (its end may fall in a fault): not judged.
 */
function steadySpans(results: RunResults, plan: SweepPlan, stopped: string | undefined): SteadyState {
  const start = results.info.start;
  const end = results.info.end ?? Date.now();
  return {
    before: steadyVerdict(results.series.range(start + plan.leadMs / 2, start + plan.leadMs), plan.steady),
    after: stopped === undefined ? steadyVerdict(results.series.range(end - plan.gapMs / 2, end), plan.steady) : { ok: true, skipped: true, why: `the run stopped before it: ${stopped}` },
  };
}

/**
 * What an engine's abort reason (or a runner's own stop) means for a run's results. The engine
 * decides the job's status from the same reason; this is what the result file and reports keep.
 */
export function runAbort(why: unknown, at?: number, cancelCause?: string): RunAbort {
  const reason: Record<string, string> = {
    cancel: `cancelled ${cancelCause ?? 'by a user'}`,
    timeout: "stopped by the job's timeout:",
    shutdown: 'the engine was stopped during the run',
    lease: 'the engine lost its lease on the queue',
    unsteady: 'the load was not steady before the first fault',
  };
  const word = typeof why === 'string' && why in reason ? why : 'stopped';
  return { why: word, reason: reason[word] ?? abortReason({}), ...(at !== undefined ? { at } : {}) };
}

/** The engine's view of a report: a run that did not pass is a test failure (exit 1), a lost node an infrastructure one. */
export function reportOutcome(r: JobReport, resultDir: string, extraArtifacts: readonly string[] = []): RunOutcome {
  return {
    status: r.passed ? 'succeeded' : 'failed',
    failure: r.passed ? undefined : r.infrastructure ? 'infrastructure' : 'test',
    reason: r.passed ? undefined : r.reasons.join('; '),
    summary: r.line,
    report: r.files.html,
    closing: r.closing,
    // A Set: a runner's extra file may also be one of the reports' own (the builtin runner's results.xml).
    artifacts: [...new Set([...extraArtifacts, ...Object.values(r.files)].map((f) => (path.isAbsolute(f) ? path.relative(resultDir, f) : f)))],
  };
}

/** `check` of a runner that evaluates `thresholds:`: a bad expression is a config error at its path. */
export const checkThresholds: NonNullable<RunnerCatalogEntry['check']> = (config) => {
  let thresholds: Threshold[];
  try {
    thresholds = parseThresholds(config.raw.thresholds);
  } catch (e) {
    const err = e as { path?: (string | number)[]; problem?: string; hint?: string };
    if (err.path) return { path: err.path, message: err.problem ?? String(e), hint: err.hint };
    throw e;
  }
  // A misspelt window name would only fail at the end of the run: say it now.
  const windows = faultWindowNames(config);
  const unknown = thresholds.find((t) => t.window !== undefined && !windows.includes(t.window));
  if (unknown) {
    return {
      path: unknown.path,
      message: `no fault window named "${unknown.window}"`,
      hint: windows.length ? `fault windows of this job: ${windows.join(', ')}` : 'a fault window is a fixture with `at:` or a `chaos:` entry, e.g. fixtures: {redis_blackout: {proxy: redis, behaviors: "100:blackout", at: 10s, for: 10s}}',
    };
  }
  return undefined;
};

/** Names a `during.<name>` threshold may use: the changes made during the load. */
function faultWindowNames(config: MarteauConfig): string[] {
  return [...config.fixtures.filter((f) => f.atMs !== undefined).map((f) => f.name), ...config.chaos.map((c) => c.name), ...config.serviceFaults.map((c) => c.name)];
}
