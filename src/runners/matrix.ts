/**
 * The resilience matrix of a sweep (`chaos: sweep`): backend × fault → what users got while it
 * lasted (status mix, timeouts, error rate, p95), whether that met the backend's expectation
 * (by default a 5xx within 1 s), how long the app took to recover, and a verdict per cell. Pure:
 * built from the sweep's plan and the run's measured fault windows. A verdict that fails the job,
 * so it is measured here with the runners (the job's outcome and log need it); report/matrix.ts
 * only renders it (HTML section, JUnit cases).
 */
import type { steadyVerdict, SweepKind, SweepPlan } from '../config/sweep.js';
// A cell's shares read as its fault window's do: never all or none when neither ('>99 % 5xx').
import { OUTCOME_CLASSES, pct, recoveryText, type WindowMeasure } from './measures/index.js';
import { outcomeClass } from './measures/series.js';
import { meetsExpect } from './measures/windows.js';

export interface MatrixCell {
  name: string;
  backend: string;
  kind: SweepKind;
  /** What was done: "100 % blackout", "SIGKILL, started again after 3s". */
  fault: string;
  /** Planned start, from the start of the load (s). */
  at_s: number;
  for_s: number;
  expect: string[];
  within_ms: number;
  requests: number;
  /** Requests per outcome class (2xx ... timeout, connection). */
  status: Record<string, number>;
  error_rate?: number;
  p95_ms?: number;
  met: boolean;
  recovery: { status: string; ms?: number; text: string };
  /** skip: not judged, the run having stopped (a cancel, a timeout) before or during the fault. */
  verdict: 'pass' | 'fail' | 'skip';
  /** Why it failed or was not judged, in a few words; empty when it passed. */
  why: string;
}

/** Chaos Toolkit's hypothesis: the load was steady before the first fault and after the last. */
export interface SteadyState {
  before: SteadyCheck;
  after: SteadyCheck;
}
/** `skipped`: not judged, the run having stopped before that span (`why` says how). */
export type SteadyCheck = ReturnType<typeof steadyVerdict> & { skipped?: boolean };

export interface Matrix {
  seed: string;
  steady?: SteadyState;
  step_ms: number;
  gap_ms: number;
  lead_ms: number;
  kinds: SweepKind[];
  backends: string[];
  cells: MatrixCell[];
  passed: boolean;
}

/**
 * `stopped`: why the run stopped early (a cancel, a timeout), when it did: the cells it cut
 * short or never reached are not judged, not failed.
 */
export function buildMatrix(plan: SweepPlan, windows: readonly WindowMeasure[], steady?: SteadyState, stopped?: string): Matrix {
  const cells = plan.cells.map((c): MatrixCell => {
    const w = windows.find((x) => x.name === c.name);
    const base = { name: c.name, backend: c.backend, kind: c.kind, fault: c.fault, at_s: c.atMs / 1000, for_s: c.forMs / 1000, expect: c.expect, within_ms: c.withinMs };
    if (!w) {
      const none = Object.fromEntries(OUTCOME_CLASSES.map((k) => [k, 0]));
      const never = { ...base, requests: 0, status: none, met: false, recovery: { status: 'not run', text: 'not run' } };
      return stopped ? { ...never, verdict: 'skip', why: `the run stopped before it (${stopped})` } : { ...never, verdict: 'fail', why: 'the fault never ran (the run ended before it)' };
    }
    const e = w.effect;
    const wrong = Object.entries(e.outcomes).filter(([k]) => !/^[23]xx$/.test(outcomeClass(k)) && !meetsExpect(k, c.expect));
    const wrongCount = wrong.reduce((s, [, n]) => s + n, 0);
    const slow = e.p95 !== undefined && e.p95 > c.withinMs;
    const why: string[] = [];
    const cutShort = stopped !== undefined && (w.recovery.status === 'ongoing' || w.recovery.status === 'too soon' || w.recovery.status === 'not recovered');
    // A run stopped as the fault began may have had no request in it yet: not judged, like the rest.
    if (e.requests === 0 && !cutShort) why.push('no request ran during the fault');
    if (wrongCount) why.push(`${pct(wrongCount, e.requests)} ${topClass(wrong)} (expected ${c.expect.join(' or ')})`);
    if (slow) why.push(`p95 ${seconds(e.p95!)} > ${seconds(c.withinMs)}`);
    const met = why.length === 0 && e.requests > 0;
    // Too soon to judge is not a failure to recover: the cell shows it, its verdict ignores it.
    if (!cutShort && w.recovery.status !== 'recovered' && w.recovery.status !== 'too soon') why.push(recoveryText(w.recovery));
    const verdict = why.length ? 'fail' : cutShort ? 'skip' : 'pass';
    if (verdict === 'skip') why.push(`the run stopped before its recovery could be judged (${stopped})`);
    return {
      ...base,
      requests: e.requests,
      status: { ...e.classes },
      ...(e.successRate === undefined ? {} : { error_rate: 1 - e.successRate }),
      ...(e.p95 === undefined ? {} : { p95_ms: e.p95 }),
      met,
      recovery: { status: w.recovery.status, ...(w.recovery.ms === undefined ? {} : { ms: w.recovery.ms }), text: recoveryText(w.recovery) },
      verdict,
      why: why.join('; '),
    };
  });
  return {
    seed: plan.seed,
    step_ms: plan.stepMs,
    gap_ms: plan.gapMs,
    lead_ms: plan.leadMs,
    kinds: plan.kinds,
    backends: plan.backends.map((b) => b.name),
    cells,
    ...(steady ? { steady } : {}),
    passed: cells.every((c) => c.verdict === 'pass') && steady?.before.ok !== false && steady?.after.ok !== false,
  };
}

/** One line per cell, for the job's log and the --ci output. */
export function matrixLines(m: Matrix): string[] {
  return [
    `resilience matrix (seed ${m.seed}): ${m.cells.filter((c) => c.verdict === 'pass').length}/${m.cells.length} cells pass${steadyText(m)}`,
    ...m.cells.map((c) => `${c.verdict.toUpperCase()} ${c.backend} ${c.kind} (${c.fault}): ${cellMix(c)}, p95 ${c.p95_ms === undefined ? '-' : seconds(c.p95_ms)}; ${c.recovery.text}${whyBeyond(c) ? ` — ${whyBeyond(c)}` : ''}`),
  ];
}

/** Why a cell failed or was not judged, without its recovery's words, which are shown beside it. */
export function whyBeyond(c: MatrixCell): string {
  return c.why
    .split('; ')
    .filter((part) => part !== c.recovery.text)
    .join('; ');
}

/** A cell's requests by outcome class, most first: "40 requests: 90 % 5xx, 10 % 2xx". */
export function cellMix(c: MatrixCell): string {
  if (!c.requests) return 'no request';
  const parts = Object.entries(c.status)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${pct(n, c.requests)} ${k}`);
  return `${c.requests} requests: ${parts.join(', ')}`;
}

/** "; steady before and after", or names what was not. */
export function steadyText(m: Matrix): string {
  if (!m.steady) return '';
  const { before, after } = m.steady;
  if (before.ok && after.ok && !after.skipped) return '; steady before and after';
  const afterText = after.skipped ? `; after the last fault not judged (${after.why})` : after.ok ? '' : `; NOT steady after the last fault (${after.why})`;
  return [before.ok ? '' : `; NOT steady before the first fault (${before.why})`, afterText].join('');
}

function topClass(entries: [string, number][]): string {
  const by = new Map<string, number>();
  for (const [k, n] of entries) by.set(outcomeClass(k), (by.get(outcomeClass(k)) ?? 0) + n);
  return [...by.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

export function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
}
