/**
 * Locust's per-cycle files and per-second progress, folded into the shared results model so the
 * reports and thresholds read a Locust run as any other. Pure: records in, model calls out.
 *
 * Mapping: each Locust entry (method + name) is one step; each request is one page; there are
 * no FunkLoad "tests" (a Locust task is not a scenario run). Durations are rebuilt from Locust's
 * percentiles (distribution.ts); per-second throughput and latency come from the plugin's
 * histogram of each second, which is exact (at Locust's rounding).
 */
import type { RunResults } from '../results.js';
import type { LocustException, LocustFailure, LocustStats } from './csv.js';
import { rebuildDurations } from './distribution.js';
import type { StreamedCycle } from './stream.js';

export interface LocustCycleFiles {
  stats: LocustStats;
  failures: readonly LocustFailure[];
  exceptions: readonly LocustException[];
}

/** Stable step numbers (1-based) for Locust entries, in order of first sight over the run. */
export class StepNumbers {
  private readonly numbers = new Map<string, number>();
  of(method: string, name: string): number {
    const key = `${method}\u0000${name}`;
    let n = this.numbers.get(key);
    if (n === undefined) {
      n = this.numbers.size + 1;
      this.numbers.set(key, n);
    }
    return n;
  }
}

const ERRNO_NAMES: Record<string, string> = { '104': 'ECONNRESET', '110': 'ETIMEDOUT', '111': 'ECONNREFUSED', '113': 'EHOSTUNREACH', '32': 'EPIPE' };

/**
 * The grouping key of a Locust error text, in the vocabulary of the builtin runner: `status 404`
 * for an HTTP error, ECONNREFUSED/ECONNRESET/timeout for a lost connection, the message of a
 * failure the locustfile raised itself, else the exception's class.
 */
export function locustErrorKind(error: string): { kind: string; code: number } {
  const status = /^HTTPError\('(\d{3}) /.exec(error) ?? /^BadStatusCode\('.*?', code=(\d{3})\)/.exec(error);
  if (status) return { kind: `status ${status[1]}`, code: Number(status[1]) };
  const errno = /\[Errno (\d+)\]/.exec(error) ?? /^\w+\((\d+), /.exec(error);
  if (errno && ERRNO_NAMES[errno[1]]) return { kind: ERRNO_NAMES[errno[1]], code: -1 };
  if (/timed? ?out|Timeout/i.test(error)) return { kind: 'timeout', code: -1 };
  const own = /^(?:CatchResponseError|RescheduleTask|StopUser)\((['"])(.*)\1\)$/s.exec(error);
  if (own) return { kind: own[2].slice(0, 80) || 'failure', code: -1 };
  const cls = /^([A-Za-z_][\w.]*)\(/.exec(error);
  return { kind: cls ? cls[1] : error.slice(0, 80) || 'failure', code: -1 };
}

/**
 * One node's cycle, from its final CSV files. `at`: when the cycle ended (epoch ms), for the
 * error examples.
 */
export function addLocustCycle(results: RunResults, cycle: number, cvus: number, files: LocustCycleFiles, steps: StepNumbers, at: number): void {
  const entries = files.stats.entries.map((e) => ({ ...e, durations: rebuildDurations({ count: e.requests, minMs: e.minMs, maxMs: e.maxMs, percentiles: e.percentiles }) }));
  addNamedCycle(results, cycle, cvus, { entries, failures: files.failures, exceptions: files.exceptions }, steps, at);
}

/**
 * A cycle's entries, failures and exceptions: from its CSV files, or from what the plugin
 * streamed when they never came back (its node lost mid-cycle, or not back soon after a cancel),
 * whose durations are then the exact histograms of its seconds.
 */
export function addNamedCycle(results: RunResults, cycle: number, cvus: number, { entries, failures, exceptions }: StreamedCycle, steps: StepNumbers, at: number): void {
  for (const e of entries) {
    const errors: Record<string, number> = {};
    for (const f of failures) {
      if (f.method !== e.method || f.name !== e.name) continue;
      const { kind, code } = locustErrorKind(f.error);
      errors[kind] = (errors[kind] ?? 0) + f.occurrences;
      results.addErrorSample({ cycle, at, url: e.name, code, result: 'failure', error: kind, traceback: f.error });
    }
    results.addAggregate({
      cycle,
      cvus,
      step: steps.of(e.method, e.name),
      type: e.method.toLowerCase() || 'request',
      url: e.name,
      description: `${e.method} ${e.name}`.trim(),
      durations: e.durations,
      failures: e.failures,
      errors,
    });
  }
  for (const x of exceptions) {
    const kind = `exception: ${x.message}`.slice(0, 80);
    results.addError({ cycle, at, url: '', code: -1, result: 'error', error: kind, traceback: x.traceback }, x.count, cvus);
  }
}

/** The one step of a cycle streamed by a plugin that did not name its requests (a record from before it did). */
const STREAMED = 'all requests';

/** Such a cycle: its requests from the per-second histograms and failure counts, as one step. */
export function addUnnamedStreamedCycle(results: RunResults, cycle: number, cvus: number, seconds: readonly (readonly [number, number, readonly (readonly [number, number])[]])[], steps: StepNumbers): void {
  const durations = seconds.flatMap(([, , d]) => d);
  if (!durations.length) return;
  const failures = seconds.reduce((n, [, f]) => n + f, 0);
  results.addAggregate({ cycle, cvus, step: steps.of('', STREAMED), type: 'request', url: STREAMED, description: `${STREAMED} (from the live stream: names not known)`, durations, failures, errors: {} });
}
