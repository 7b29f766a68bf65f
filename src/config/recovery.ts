/**
 * The `recovery:` section of .marteau.yml (how recovery after a fault window is judged) and the
 * `expect:` of a fault (what the load should see while it is on):
 *
 *   recovery: {window: 2s, baseline: 10s, success_rate_tolerance: 1%, p95_tolerance: 20%, p95_slack: 10ms}
 *   fixtures:
 *     redis_blackout: {proxy: redis, behaviors: "100:blackout", at: 10s, for: 10s, expect: 503}
 */
import { z } from 'zod';
import { isServiceFault, type ChaosItem, type RunLength } from './chaos.js';
import { durationMs, durationSchema, formatDuration } from './units.js';

/** How recovery after a fault window is judged (runners/measures/recovery.ts says how). */
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

const PERCENT = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/;
const percentSchema = z.union([z.number().min(0), z.string().regex(PERCENT, 'expected a percentage, e.g. "1%", or a fraction such as 0.01')], {
  error: 'expected a percentage, e.g. "1%", or a fraction such as 0.01',
});

/** "20%" → 0.2; a bare number is a fraction (0.2), as in thresholds. */
function fraction(v: z.infer<typeof percentSchema>): number {
  return typeof v === 'number' ? v : Number(PERCENT.exec(v)![1]) / 100;
}

export const recoverySchema = z
  .object({
    window: durationSchema.optional().describe('span of requests judged after a fault (default 2s): recovered at the first request opening such a span that looks like the baseline'),
    baseline: durationSchema.optional().describe('how far before the fault the reference success rate and p95 are measured (default 10s)'),
    success_rate_tolerance: percentSchema
      .refine((v) => fraction(v) <= 1, 'a success-rate tolerance is at most 100%')
      .optional()
      .describe("extra failure rate allowed over the baseline's, in percentage points (default 1%)"),
    p95_tolerance: percentSchema.optional().describe("a request is slow above the baseline's p95 plus this share of it, or p95_slack, or the baseline's own spread, whichever is largest (default 20%)"),
    p95_slack: durationSchema.optional().describe("the same margin in time (default 10ms)"),
  })
  .strict()
  .refine((r) => r.window === undefined || durationMs(r.window) > 0, { path: ['window'], message: 'the recovery window must be longer than 0' });

export type RecoveryInput = z.infer<typeof recoverySchema>;

export function recoveryOptions(r: RecoveryInput | undefined): RecoveryOptions {
  const d = DEFAULT_RECOVERY;
  return {
    windowMs: r?.window === undefined ? d.windowMs : durationMs(r.window),
    baselineMs: r?.baseline === undefined ? d.baselineMs : durationMs(r.baseline),
    successRateTolerance: r?.success_rate_tolerance === undefined ? d.successRateTolerance : fraction(r.success_rate_tolerance),
    p95Tolerance: r?.p95_tolerance === undefined ? d.p95Tolerance : fraction(r.p95_tolerance),
    p95SlackMs: r?.p95_slack === undefined ? d.p95SlackMs : durationMs(r.p95_slack),
  };
}

const EXPECT_WORD = /^(?:[1-5]\d\d|[1-5]xx|timeout|connection)$/;
const EXPECT_ERROR = 'expected a status (503), a class ("5xx"), "timeout" or "connection", or a list of them';
const expectItem = z.union([z.number().int().min(100).max(599), z.string().regex(EXPECT_WORD, EXPECT_ERROR)], { error: EXPECT_ERROR });

export const expectSchema = z
  .union([expectItem, z.array(expectItem).min(1)], { error: EXPECT_ERROR })
  .describe('what the load should see while the fault is on, e.g. 503, "5xx", [502, 503] or "timeout" (error mapping)');

export function expectList(v: z.infer<typeof expectSchema>): string[] {
  return (Array.isArray(v) ? v : [v]).map((x) => String(x).toLowerCase());
}

/** What the enqueue-time check reads of a config (a MarteauConfig fits). */
export interface ScheduleOfConfig {
  fixtures: readonly { name: string; atMs?: number; forMs?: number }[];
  chaos: readonly ChaosItem[];
  serviceFaults: readonly ChaosItem[];
  runLength: RunLength;
  recovery: Pick<RecoveryOptions, 'windowMs'>;
}

/**
 * Faults scheduled to end less than `recovery.window` before the load does: their recovery can
 * only read "too soon to judge". Said at enqueue, when the schedule can still be changed. A run
 * bounded only by its timeout has no known end: nothing to say.
 */
export function recoveryScheduleWarnings(c: ScheduleOfConfig): string[] {
  if (c.runLength.byTimeout) return [];
  const ends = [
    ...c.fixtures.filter((f) => f.atMs !== undefined && f.forMs !== undefined).map((f) => ({ name: f.name, end: f.atMs! + f.forMs! })),
    ...[...c.chaos, ...c.serviceFaults].flatMap((e) => {
      // A restart is over at once; a fault without `for` lasts to the end (nothing to recover from).
      const forMs = isServiceFault(e) && e.fault === 'restart' ? 0 : e.forMs;
      return forMs === undefined ? [] : [{ name: e.name, end: e.atMs + forMs }];
    }),
  ];
  const window = c.recovery.windowMs;
  return ends
    .filter((f) => c.runLength.ms - f.end < window)
    .sort((a, b) => a.end - b.end)
    .map((f) => {
      const left = c.runLength.ms - f.end;
      const when = left > 0 ? `${formatDuration(left)} before the end of the load` : 'at or after the end of the load';
      return `fault "${f.name}" ends at ${formatDuration(f.end)}, ${when} (${formatDuration(c.runLength.ms)}: ${c.runLength.why}); judging recovery needs recovery.window (${formatDuration(window)}) after it, so it will read "too soon to judge". End it earlier, lengthen the run, or shorten recovery.window.`;
    });
}
