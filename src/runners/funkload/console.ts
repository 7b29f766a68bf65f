/**
 * fl-run-bench's console output (research note §2.3 and §2.6), one line at a time, into what a
 * progress view needs. Pure: a line in, an event out; `BenchConsole` folds the events into the
 * running state (cycle, users, tests so far, where the result files are).
 *
 * Read against real FunkLoad 1.17.2 output (fixtures/funkload/real/): test marks come without a
 * newline while a cycle runs, coloured (`\e[32;01m.\e[0m`) unless --no-color, so a line reader
 * sees them when the phase line ends. FunkLoad counts (`Cycle result`) only the tests that end
 * while it records: the marks of the `* Logging for` line. Marks on `* Starting threads` and
 * `* Waiting end of threads` (tests ending during ramp-up and wind-down, mixed with one plain
 * `.` per thread started or stopped) are not counted, here either.
 */
import type { Progress } from '../../core/events.js';
import { count } from '../../text/count.js';

export type BenchStatus = 'SUCCESSFUL' | 'FAILURE' | 'ERROR';

export type ConsoleEvent =
  | { kind: 'benching'; test: string }
  | { kind: 'log-xml'; path: string }
  | { kind: 'distributed-output'; dir: string }
  | { kind: 'cycles'; cycles: number[] }
  | { kind: 'duration'; seconds: number }
  | { kind: 'cycle'; cycle: number; users: number }
  /** Threads of a cycle starting or stopping: the marks on these lines are not counted. */
  | { kind: 'phase'; phase: 'starting' | 'stopping' }
  /** The recording window of a cycle, with the outcomes of the tests FunkLoad counted. */
  | { kind: 'recording'; seconds: number; success: number; failure: number; error: number }
  | { kind: 'cycle-result'; status: BenchStatus; success: number; failure: number; error: number }
  | { kind: 'total'; what: 'success' | 'failure' | 'error'; count: number }
  | { kind: 'bench-status'; status: BenchStatus }
  | { kind: 'workers'; workers: string[] }
  /** `--distribute`: FunkLoad prints a worker it drops on this same line (no newline before it). */
  | { kind: 'preparing'; workers: number; dropped?: string }
  | { kind: 'starting-workers'; workers: number }
  | { kind: 'worker-returned'; worker: string }
  | { kind: 'received'; worker: string; path: string }
  | { kind: 'worker-dropped'; worker: string }
  | { kind: 'problem'; message: string };

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function outcomes(marks: string): { success: number; failure: number; error: number } {
  let success = 0;
  let failure = 0;
  let error = 0;
  for (const ch of marks) {
    if (ch === '.') success++;
    else if (ch === 'F') failure++;
    else if (ch === 'E') error++;
  }
  return { success, failure, error };
}

const PATTERNS: [RegExp, (m: RegExpExecArray) => ConsoleEvent][] = [
  [/^Benching (\S+\.\S+)$/, (m) => ({ kind: 'benching', test: m[1] })],
  [/^\* Log xml: (.+)$/, (m) => ({ kind: 'log-xml', path: m[1].trim() })],
  [/^\* Distributed output: (.+)$/, (m) => ({ kind: 'distributed-output', dir: m[1].trim() })],
  [/^\* Cycles: \[([\d,\s]*)\]$/, (m) => ({ kind: 'cycles', cycles: m[1].split(',').map((x) => parseInt(x, 10)).filter(Number.isFinite) })],
  [/^\* Cycle duration: (\d+(?:\.\d+)?)s$/, (m) => ({ kind: 'duration', seconds: Number(m[1]) })],
  [/^Cycle #(\d+) with (\d+) virtual users$/, (m) => ({ kind: 'cycle', cycle: Number(m[1]), users: Number(m[2]) })],
  [/^\* Starting threads: /, () => ({ kind: 'phase', phase: 'starting' })],
  [/^\* Logging for (\d+(?:\.\d+)?)s \(until [^)]*\): (.*)$/, (m) => ({ kind: 'recording', seconds: Number(m[1]), ...outcomes(m[2].replace(/\s*done\.\s*$/, '')) })],
  [/^\* Waiting end of threads: /, () => ({ kind: 'phase', phase: 'stopping' })],
  [
    /^\* Cycle result: \*\*(SUCCESSFUL|FAILURE|ERROR)\*\*, (\d+) success, (\d+) failure, (\d+) errors\.$/,
    (m) => ({ kind: 'cycle-result', status: m[1] as BenchStatus, success: Number(m[2]), failure: Number(m[3]), error: Number(m[4]) }),
  ],
  [/^\* Success: (\d+)$/, (m) => ({ kind: 'total', what: 'success', count: Number(m[1]) })],
  [/^\* Failures: (\d+)$/, (m) => ({ kind: 'total', what: 'failure', count: Number(m[1]) })],
  [/^\* Errors: (\d+)$/, (m) => ({ kind: 'total', what: 'error', count: Number(m[1]) })],
  [/^Bench status: \*\*(SUCCESSFUL|FAILURE|ERROR)\*\*$/, (m) => ({ kind: 'bench-status', status: m[1] as BenchStatus })],
  [/^\* Workers :(.*)$/, (m) => ({ kind: 'workers', workers: m[1].split(',').map((w) => w.trim()).filter(Boolean) })],
  // `trace("* Preparing sandboxes for %d workers.")`, a dot per worker prepared, and maybe `<w> is not connected, ...` glued on.
  [
    /^\* Preparing sandboxes for (\d+) workers\.+(?:(\S+) is not connected, removing from pool\.)?$/,
    (m) => ({ kind: 'preparing', workers: Number(m[1]), ...(m[2] ? { dropped: m[2] } : {}) }),
  ],
  // `trace("* Starting %d workers")` then one `.` per worker started.
  [/^\* Starting (\d+) workers\.*$/, (m) => ({ kind: 'starting-workers', workers: Number(m[1]) })],
  [/^\* \[([^\]]+)\] returned$/, (m) => ({ kind: 'worker-returned', worker: m[1] })],
  [/^\* Received bench log from \[([^\]]+)\] into (.+)$/, (m) => ({ kind: 'received', worker: m[1], path: m[2].trim() })],
  [/^(\S+) is not connected, removing from pool\.$/, (m) => ({ kind: 'worker-dropped', worker: m[1] })],
  [/^(ERROR: .*|\* \^C received \*)$/, (m) => ({ kind: 'problem', message: m[1] })],
];

/**
 * What fl-run-bench prints when Ctrl-C (SIGINT) stops it (BenchRunner.shutdown): after the marks
 * of the line it was on, without a newline, maybe with marks of threads ending in between.
 */
const ABORTING = 'Aborting run...';
const ABORTED = /Aborting run\.\.\.[.FE]*Aborted/;

export function parseConsoleLine(raw: string): ConsoleEvent | undefined {
  let line = raw.replace(ANSI, '').replace(/\r$/, '').trimEnd();
  // The marks before it are FunkLoad's; its dots and those of threads ending after it are not tests.
  const cut = line.search(ABORTED);
  if (cut > 0) line = line.slice(0, cut);
  for (const [re, make] of PATTERNS) {
    const m = re.exec(line);
    if (m) return make(m);
  }
  return undefined;
}

export interface BenchState {
  test?: string;
  cycles: number[];
  durationS?: number;
  /** 0-based, as FunkLoad numbers them; undefined before the first cycle. */
  cycle?: number;
  users?: number;
  /** Tests counted in finished cycles plus the marks seen in the current one. */
  success: number;
  failure: number;
  error: number;
  /** Successful tests/s of the last finished cycle (successes / cycle duration, FunkLoad's STPS). */
  testsPerSecond?: number;
  status?: BenchStatus;
  /** FunkLoad stopped its own run (`Aborting run...`: SIGINT, SIGTERM or SIGQUIT): its result file has no end. */
  aborted?: boolean;
  /** Result files the run announced: `Log xml:` locally, one per worker when distributed. */
  xmlFiles: string[];
  distributedDir?: string;
  workers: string[];
  workersReturned: string[];
  problems: string[];
}

const dropped = (worker: string) => `worker ${worker} is not connected, removed from the pool`;

/** Folds console events into the run's state; `line()` says whether anything a viewer shows changed. */
export class BenchConsole {
  readonly state: BenchState = { cycles: [], success: 0, failure: 0, error: 0, xmlFiles: [], workers: [], workersReturned: [], problems: [] };
  /** Counts of the cycles already finished (their `Cycle result` replaces the marks seen live). */
  private done = { success: 0, failure: 0, error: 0 };
  private receivedAny = false;

  /**
   * The recording line while FunkLoad still writes its marks (no newline until the cycle's end):
   * the tests so far, live. Any other line waits until it is whole.
   */
  partial(raw: string): ConsoleEvent | undefined {
    const e = parseConsoleLine(raw);
    return e?.kind === 'recording' ? this.fold(raw, e) : undefined;
  }

  line(raw: string): ConsoleEvent | undefined {
    return this.fold(raw, parseConsoleLine(raw));
  }

  /** `e`: the event `raw` was parsed into, if any. */
  private fold(raw: string, e: ConsoleEvent | undefined): ConsoleEvent | undefined {
    const s = this.state;
    if (!s.aborted && ABORTED.test(raw.replace(ANSI, ''))) {
      s.aborted = true;
      s.problems.push(`${ABORTING}Aborted`);
    }
    if (!e) return undefined;
    switch (e.kind) {
      case 'benching':
        s.test = e.test;
        break;
      case 'log-xml':
        s.xmlFiles = [e.path];
        break;
      case 'distributed-output':
        s.distributedDir = e.dir;
        break;
      case 'cycles':
        s.cycles = e.cycles;
        break;
      case 'duration':
        s.durationS = e.seconds;
        break;
      case 'cycle':
        s.cycle = e.cycle;
        s.users = e.users;
        break;
      case 'recording':
        // The marks seen so far of the current cycle (the line may still be being written).
        s.success = this.done.success + e.success;
        s.failure = this.done.failure + e.failure;
        s.error = this.done.error + e.error;
        break;
      case 'cycle-result':
        this.done = { success: this.done.success + e.success, failure: this.done.failure + e.failure, error: this.done.error + e.error };
        Object.assign(s, this.done);
        if (s.durationS) s.testsPerSecond = e.success / s.durationS;
        break;
      case 'total':
        s[e.what] = e.count;
        break;
      case 'bench-status':
        s.status = e.status;
        break;
      case 'workers':
        s.workers = e.workers;
        break;
      case 'worker-returned':
        s.workersReturned.push(e.worker);
        break;
      case 'received':
        // The workers' files replace anything announced before.
        s.xmlFiles = this.receivedAny ? [...s.xmlFiles, e.path] : [e.path];
        this.receivedAny = true;
        break;
      case 'preparing':
        if (e.dropped) s.problems.push(dropped(e.dropped));
        break;
      case 'worker-dropped':
        s.problems.push(dropped(e.worker));
        break;
      case 'problem':
        s.problems.push(e.message);
        break;
      default:
        break;
    }
    return e;
  }
}

/**
 * What a viewer is told after a console event of one of the job's benches (one per node, each
 * running every cycle): the least advanced node's cycle, the users of all nodes, FunkLoad's test
 * counts summed, in words (they are tests, not requests), and distributed phases.
 */
export function progressAfter(e: ConsoleEvent, states: readonly BenchState[]): Progress | undefined {
  const s = states[0];
  let message: string | undefined;
  if (e.kind === 'preparing') message = `preparing ${e.workers} FunkLoad workers`;
  else if (e.kind === 'starting-workers') message = `${e.workers} workers running`;
  else if (e.kind === 'worker-returned') message = `worker ${e.worker} done (${s.workersReturned.length}/${s.workers.length})`;
  else if (e.kind === 'recording' || e.kind === 'cycle' || e.kind === 'cycle-result') {
    const sum = (f: (x: BenchState) => number | undefined) => states.reduce((a, x) => a + (f(x) ?? 0), 0);
    const failure = sum((x) => x.failure);
    const error = sum((x) => x.error);
    const tests = sum((x) => x.success) + failure + error;
    message = `${count(tests, 'test')}: ${failure} failed, ${count(error, 'error')}`;
    if (states.some((x) => x.testsPerSecond !== undefined)) message += `; last cycle ${sum((x) => x.testsPerSecond).toFixed(2)} successful tests/s`;
  } else return undefined;
  // No requests/errors figures: FunkLoad's console counts tests; requests come from the XML at the end.
  const started = states.filter((x) => x.cycle !== undefined);
  const cycle = started.length ? Math.min(...started.map((x) => x.cycle!)) : undefined;
  const users = started.length ? started.reduce((a, x) => a + (x.users ?? 0), 0) : undefined;
  return { cycle, cycles: s.cycles.length || undefined, users, message };
}
