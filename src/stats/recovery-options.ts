/**
 * How recovery after a fault window is judged, as options (runners/measures/recovery.ts applies
 * them; config/recovery.ts reads them from .marteau.yml). Free of imports, so that the builtin agent's
 * module closure, shipped to SSH nodes, stays small.
 */
export interface RecoveryOptions {
  /** Length of the span of requests that must look like the baseline after the fault (ms). */
  windowMs: number;
  /** Allowed rise of the failure rate over the baseline's, absolute (0.01 = one percentage point). */
  successRateTolerance: number;
  /** Margin over the baseline's p95 before a request counts as slow, relative (0.2 = +20 %). */
  p95Tolerance: number;
  /** The same margin in ms, when larger. */
  p95SlackMs: number;
  /** How far back the baseline reaches before the fault (ms). */
  baselineMs: number;
  /**
   * A sweep's steady state: every window is compared with the first this-many ms of the load
   * (before any fault), not with the span before it, which a previous fault may have shortened.
   */
  steadyStateMs?: number;
}

export const DEFAULT_RECOVERY: RecoveryOptions = {
  windowMs: 2000,
  successRateTolerance: 0.01,
  p95Tolerance: 0.2,
  p95SlackMs: 10,
  baselineMs: 10_000,
};
