/**
 * The end of every measuring runner's job (builtin, locust, ...): results -> the report files
 * (index.html, summary.json, junit.xml), the threshold verdicts, one summary line, and the
 * engine's RunOutcome. One place, so every runner's reports and exit codes mean the same.
 */
import path from 'node:path';
import type { MarteauConfig } from '../config/marteau.js';
import { writeReports, type ReportFiles } from '../report/index.js';
import type { RunResults, RunSummary } from './results.js';
import type { RunOutcome } from './runner.js';
import { evaluateThresholds, formatValue, parseThresholds, type Threshold, type ThresholdResult } from './thresholds.js';

export interface FinishedRun {
  summary: RunSummary;
  verdicts: ThresholdResult[];
  /** No threshold failed and the run was not interrupted. */
  passed: boolean;
  aborted: boolean;
  files: ReportFiles;
  /** One line for the job summary. */
  line: string;
}

export function summaryLine(s: RunSummary): string {
  const o = s.overall;
  const errors = o.requests.total ? (100 * (o.requests.total - o.requests.success)) / o.requests.total : 0;
  return `${o.requests.total} requests, ${errors.toFixed(2)} % errors, ${o.requests.rps.toFixed(1)} req/s, p95 ${formatValue('p95', o.requests.latency.count ? o.requests.latency.p95 : undefined)}, Apdex ${o.requests.apdex.score.toFixed(2)}`;
}

export async function finishRun(
  results: RunResults,
  o: { resultDir: string; thresholds?: Threshold[]; generator?: string; log?: (line: string) => void },
): Promise<FinishedRun> {
  const summary = results.summary();
  const verdicts = evaluateThresholds(o.thresholds ?? [], summary);
  const files = await writeReports(o.resultDir, summary, verdicts, { generator: o.generator });
  for (const v of verdicts) o.log?.(`${v.passed ? 'PASS' : 'FAIL'} ${v.message}`);
  return {
    summary,
    verdicts,
    aborted: summary.aborted,
    passed: !summary.aborted && verdicts.every((v) => v.passed),
    files,
    line: summaryLine(summary),
  };
}

/** The engine's outcome of a finished run; `files`: every file written under resultDir. */
export function runOutcome(r: FinishedRun, resultDir: string, files: readonly string[]): RunOutcome {
  const failed = r.verdicts.filter((v) => !v.passed);
  return {
    status: r.passed ? 'succeeded' : 'failed',
    failure: r.passed ? undefined : 'test',
    reason: r.aborted ? 'the run was stopped before its end' : failed.length ? `${failed.length} threshold(s) failed: ${failed.map((v) => v.message).join('; ')}` : undefined,
    summary: r.line,
    report: r.files.html,
    artifacts: files.map((f) => path.relative(resultDir, f)),
  };
}

/** A runner's `check` for `thresholds:` (a bad expression is a config error with its path). */
export function checkThresholds(config: MarteauConfig): { path: (string | number)[]; message: string; hint?: string } | undefined {
  try {
    parseThresholds(config.raw.thresholds);
  } catch (e) {
    const err = e as { path?: (string | number)[]; problem?: string; hint?: string };
    if (err.path) return { path: err.path, message: err.problem ?? String(e), hint: err.hint };
    throw e;
  }
  return undefined;
}
