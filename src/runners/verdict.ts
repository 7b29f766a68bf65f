/**
 * Whether a run passed, and why not: one judgement for the job's outcome, summary.json, the HTML
 * status, junit.xml and `marteau-tui report`'s exit code, so that none of them can say PASS about
 * a run another calls failed.
 */
import { STATUS_CODES } from 'node:http';
import type { Matrix } from './matrix.js';
import { lostLine } from './nodes.js';
import { interrupted } from './interrupted.js';
import { abortReason, type RunSummary } from './results.js';
import type { ErrorSample } from './summary.js';
import type { ThresholdResult } from './thresholds.js';

/** How a run with no `thresholds:` that a tool's own verdict failed is told it can be judged otherwise. */
export const THRESHOLDS_HINT = 'set thresholds: to judge the run by numbers instead';

export interface RunVerdict {
  passed: boolean;
  /** Why it did not pass, each a short clause; empty when it passed. */
  reasons: string[];
  /**
   * Lost nodes are among the reasons, or the run was stopped by a failure of the machines (its
   * abort `infrastructure`: a full disk): the machines broke, not (only) the code.
   */
  infrastructure: boolean;
  /**
   * Stopped from outside the test (cancelled, the engine stopped or killed): exit 130 and
   * "INTERRUPTED", as --ci gives the job. A run the load tool itself ended early (FunkLoad's
   * `Aborting run`, a file without its end, a lost worker) or its timeout stopped is a failure.
   */
  interrupted: boolean;
  /**
   * The run's own failure, which no section of a report shows (threshold, cell, node, abort):
   * without thresholds, the tool's own failing verdict or every request failed; or none was recorded.
   */
  runFailed?: string;
}

/** A failed request as a reader knows it: "500 Internal Server Error", "ECONNREFUSED", "timeout". */
export function errorText(e: Pick<ErrorSample, 'code' | 'error'>): string {
  if (e.code > 0 && (!e.error || e.error === `status ${e.code}`)) return `${e.code}${STATUS_CODES[e.code] ? ` ${STATUS_CODES[e.code]}` : ''}`;
  return e.error || `status ${e.code}`;
}

/**
 * What a `command` job whose every request failed is told instead: it takes no thresholds (its
 * check refuses them), so the way out is the app or the command's target, or no `xml:`.
 */
const COMMAND_ALL_FAILED_HINT = 'check that the app is up and the command targets it; to judge a command job by its exit status alone, leave out xml:';

/**
 * With no thresholds, a run whose every request failed cannot pass: the app was down or the
 * scenario is wrong. Some errors among successes still pass (a chaos run expects errors); a run
 * meant to fail every request says so with thresholds.
 */
function allFailed(s: RunSummary, hint = s.info.runner === 'command' ? COMMAND_ALL_FAILED_HINT : THRESHOLDS_HINT): string | undefined {
  const r = s.overall.requests;
  if (r.total === 0 || r.success > 0) return undefined;
  const first = s.errorSamples[0];
  return `${r.total === 1 ? 'the only request' : `every one of the ${r.total} requests`} failed (${first ? `first: ${errorText(first)}; ` : ''}${hint})`;
}

/** Errors that mean no connection was made, as each runner names them (ours, Python's, Locust's). */
const NO_CONNECTION: [RegExp, (host: string) => string][] = [
  [/ECONNREFUSED|Connection refused|Errno 111\b/i, (host) => `nothing accepts connections at ${host}: is the app up and listening there?`],
  [/ENOTFOUND|EAI_AGAIN|Name or service not known|nodename nor servname|getaddrinfo/i, (host) => `the host name of ${host} does not resolve: check the URL`],
  [/EHOSTUNREACH|ENETUNREACH|No route to host|Network is unreachable/i, (host) => `${host} cannot be reached from the node: check the URL and the network`],
];

/**
 * A run none of whose requests reached the app: its errors all say so alike. Thresholds would
 * not help (the usual hint), nor would the tool's own verdict (FunkLoad's FAILURE); where the app
 * should be is what to check. A command job keeps its own hint, which says that already.
 */
function appUnreached(s: RunSummary): string | undefined {
  const kinds = Object.keys(s.overall.errors);
  const match = NO_CONNECTION.find(([re]) => kinds.length > 0 && kinds.every((k) => re.test(k)));
  const url = s.errorSamples[0]?.url ?? '';
  if (!match || s.info.runner === 'command') return undefined;
  let host = s.info.bench.serverUrl || url;
  try {
    host = new URL(url).host || host;
  } catch {
    // a relative or odd url: the bench's server url says where
  }
  return allFailed(s, match[1](host));
}

/**
 * A load that recorded no request tested nothing, and cannot pass: its cycles were too short for
 * one to finish, or its results are empty. An aborted run says why already; a command job's
 * report without `xml:` has no requests by nature (its exit status judges it).
 */
function nothingRecorded(s: RunSummary): string | undefined {
  if (s.aborted || s.info.runner === 'command' || s.overall.requests.total > 0) return undefined;
  return 'no request was recorded (cycles too short for one to finish, or empty results)';
}

export function runVerdict(s: RunSummary, thresholds: readonly ThresholdResult[], matrix?: Matrix): RunVerdict {
  const failed = thresholds.filter((v) => !v.passed);
  const cells = matrix?.cells.filter((c) => c.verdict === 'fail') ?? [];
  const lost = s.nodes?.filter((n) => n.lost) ?? [];
  const own = (thresholds.length === 0 ? (appUnreached(s) ?? s.info.toolVerdict ?? allFailed(s)) : undefined) ?? nothingRecorded(s);
  const lostLines = lost.map((n) => `node "${n.node}": ${lostLine(n.lost!)}`);
  const reasons = [
    // A run stopped by a lost node says it once, as the node's line; rebuilt from its results file, where no node is marked lost, as the abort.
    ...(s.aborted && !lostLines.includes(abortReason(s)) ? [`the run was aborted (${abortReason(s)})`] : []),
    ...lostLines,
    ...(failed.length ? [`${failed.length} threshold(s) failed: ${failed.map((v) => v.message).join('; ')}`] : []),
    ...(cells.length ? [`${cells.length} matrix cell(s) failed: ${cells.map((c) => `${c.backend} ${c.kind}`).join(', ')}`] : []),
    ...(own ? [own] : []),
  ];
  const infrastructure = lost.length > 0 || (s.aborted && s.abort?.why === 'infrastructure');
  return { passed: reasons.length === 0, reasons, infrastructure, interrupted: interrupted(s), ...(own ? { runFailed: own } : {}) };
}
