/**
 * What the results model gives the reports: per-cycle figures in FunkLoad's vocabulary (tests,
 * pages, requests; latency percentiles and Apdex), the timeline's points and the error examples.
 * Times are epoch milliseconds, durations milliseconds.
 */
import type { Outcome } from './samples.js';

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

