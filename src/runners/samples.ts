/**
 * What a runner feeds the results model: one HTTP response (a request), one run of the scenario
 * (a test), or requests known only as a distribution (a tool's aggregates). Units as in results.ts:
 * times are epoch milliseconds, durations milliseconds (floats).
 */
export type Outcome = 'success' | 'failure' | 'error';
export interface RequestSample {
  cycle: number;
  cvus: number;
  thread: number;
  /** Page number within the test (1-based) and response number within the page (1 = the page itself). */
  step: number;
  number: number;
  /** Lower-case method for a page, or image/link/redirect for a sub-resource, as in FunkLoad. */
  type: string;
  url: string;
  description?: string;
  start: number;
  /**
   * The true start lies within this many ms either side of `start`: a tool that writes its times
   * rounded (FunkLoad, to 10 ms). Attribution widens the request's span by it.
   */
  startWithinMs?: number;
  duration: number;
  /** HTTP status, -1 when no response came (connection error, timeout). */
  code: number;
  result: Outcome;
  /** Short error kind for grouping: 'ECONNRESET', 'timeout', 'status 503', ... */
  error?: string;
  /** Longer text (FunkLoad: the Python traceback). */
  traceback?: string;
  suite?: string;
  name?: string;
  /** The node that sent it, in a run spread over several nodes. */
  node?: string;
}

export interface TestSample {
  cycle: number;
  cvus: number;
  thread: number;
  start: number;
  /** Wall time of the whole test. */
  duration: number;
  /** Sum of request durations: what FunkLoad's test min/avg/max use. */
  connectionDuration: number;
  result: Outcome;
  steps: number;
  requests: number;
  pages: number;
  xmlrpc?: number;
  redirects?: number;
  images?: number;
  links?: number;
  error?: string;
  traceback?: string;
  suite?: string;
  name?: string;
}

/**
 * Requests known only as a distribution, from a tool that reports aggregates (Locust): one
 * request type (step) of one cycle. Each request is its own page; there are no tests.
 */
export interface AggregateSample {
  cycle: number;
  cvus: number;
  step: number;
  type: string;
  url: string;
  description?: string;
  /** [duration ms, how many] pairs; their counts sum to the number of requests. */
  durations: readonly (readonly [number, number])[];
  /** How many of those requests failed, and why (kind -> count; the rest count as 'failure'). */
  failures: number;
  errors: Readonly<Record<string, number>>;
}

