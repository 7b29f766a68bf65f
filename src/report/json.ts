/**
 * The JSON summary for CI systems and scripts: the run, every cycle's figures, the overall
 * figures, threshold verdicts, the timeline and the proxy fault events. Times are epoch ms plus
 * an ISO copy for humans; durations are ms; rates are 0..1 or per second.
 */
import type { Matrix } from '../runners/matrix.js';
import { recoveryText, type Measures, type WindowMeasure } from '../runners/measures/index.js';
import type { RunSummary } from '../runners/results.js';
import type { ThresholdResult } from '../runners/thresholds.js';
import { runVerdict } from '../runners/verdict.js';

export const JSON_FORMAT = 'marteau-tui.report/1';

export interface JsonReport {
  /** A sweep's resilience matrix (first, as in the HTML report). */
  matrix?: Matrix;
  format: typeof JSON_FORMAT;
  name: string;
  runner: string;
  start: number;
  start_iso: string;
  end?: number;
  end_iso?: string;
  aborted: boolean;
  /** Why it was aborted (`why`: cancel, timeout, shutdown, lease, unsteady, killed, infrastructure, stopped). */
  abort?: RunSummary['abort'];
  /** The run's verdict (runners/verdict.ts): false when aborted, a threshold or node failed, or (no thresholds) every request failed. */
  passed: boolean;
  /**
   * Stopped from outside the test (cancel, the engine stopped or killed: why cancel, shutdown,
   * lease, killed): the job's exit code is 130. An aborted run that is not interrupted failed (1, or 3 for a lost node or why infrastructure).
   */
  interrupted: boolean;
  /** Why it did not pass; empty when it passed. */
  reasons: string[];
  /** The load tool's own failing verdict (FunkLoad's bench status), kept so a rebuilt report judges as the job did. */
  tool_verdict?: string;
  apdex_t: number;
  test: string;
  bench: RunSummary['info']['bench'];
  meta: Record<string, string>;
  overall: RunSummary['overall'];
  cycles: RunSummary['cycles'];
  thresholds: { name: string; metric: string; scope: string; passed: boolean; skipped?: boolean; actual: number | null; message: string; cycles?: ThresholdResult['cycles'] }[];
  timeline: RunSummary['timeline'];
  proxy_events: RunSummary['proxyEvents'];
  error_samples: RunSummary['errorSamples'];
  /** Chaos runs: each fault window with its error mapping and recovery, and fault attribution. */
  fault_windows?: (WindowMeasure & { start_s: number; end_s?: number; recovery_text: string })[];
  attribution?: Measures['attribution'];
  /** A run on several nodes: each node's requests, errors and latency. */
  nodes?: RunSummary['nodes'];
  recovery_options?: Measures['recoveryOptions'];
}

const iso = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? undefined : new Date(ms).toISOString());

export function buildJsonReport(summary: RunSummary, thresholds: ThresholdResult[] = [], matrix?: Matrix): JsonReport {
  const i = summary.info;
  const verdict = runVerdict(summary, thresholds, matrix);
  return {
    format: JSON_FORMAT,
    name: i.name,
    runner: i.runner,
    start: i.start,
    start_iso: iso(i.start) ?? '',
    end: i.end,
    end_iso: iso(i.end),
    aborted: summary.aborted,
    ...(summary.abort ? { abort: summary.abort } : {}),
    passed: verdict.passed,
    interrupted: verdict.interrupted,
    reasons: verdict.reasons,
    ...(i.toolVerdict ? { tool_verdict: i.toolVerdict } : {}),
    apdex_t: i.apdexT,
    test: `${i.suite}.${i.test}`,
    bench: i.bench,
    meta: i.meta,
    overall: summary.overall,
    cycles: summary.cycles,
    thresholds: thresholds.map((t) => ({
      name: t.name,
      metric: t.threshold.metric,
      scope: t.threshold.scope,
      passed: t.passed,
      ...(t.skipped ? { skipped: true } : {}),
      actual: t.actual ?? null,
      message: t.message,
      ...(t.cycles ? { cycles: t.cycles } : {}),
    })),
    timeline: summary.timeline,
    proxy_events: summary.proxyEvents,
    error_samples: summary.errorSamples,
    ...(summary.nodes ? { nodes: summary.nodes } : {}),
    ...(summary.measures
      ? {
          // Seconds since the start next to the epoch times: what a reader compares with the charts.
          fault_windows: summary.measures.windows.map((w) => ({
            ...w,
            start_s: (w.start - i.start) / 1000,
            ...(w.end !== undefined ? { end_s: (w.end - i.start) / 1000 } : {}),
            recovery_text: recoveryText(w.recovery),
          })),
          attribution: summary.measures.attribution,
          recovery_options: summary.measures.recoveryOptions,
        }
      : {}),
  };
}

/** Stable, diff-friendly numbers: epoch times to the millisecond, other floats to 6 significant digits. */
export function roundForJson(v: number): number {
  if (Number.isInteger(v) || !Number.isFinite(v)) return v;
  return Math.abs(v) >= 1e9 ? Math.round(v) : Number(v.toPrecision(6));
}

export function formatJsonReport(report: JsonReport): string {
  return `${JSON.stringify(report, (_k, v) => (typeof v === 'number' ? roundForJson(v) : v), 2)}\n`;
}
