/**
 * The embedded load generator, with FunkLoad's bench semantics (research note §2.1):
 * for each cycle of N concurrent virtual users, start the users one every `startup_delay`
 * (not recorded), record for `duration` seconds, stop the users, pause `cycle_time`. Each user
 * loops over the scenario: a page, a random pause of sleep_time_min..max, the next page; after
 * the whole test, a pause of `sleep_time`. A failing step ends its test, as a FunkLoad assertion
 * would. Only what *ends* while recording is counted, so ramp-up and ramp-down never skew a cycle.
 *
 * Everything is bounded: loops stop at the cycle's deadline, stopping users get a grace period
 * and then lose their connections, and an AbortSignal ends the run within one request timeout at
 * worst (connections are destroyed at once, so in practice within milliseconds).
 */
import { setMaxListeners } from 'node:events';
import type { Dispatcher } from 'undici';
import { Histogram } from '../../stats/histogram.js';
import { newRunInfo, RunResults, type RunInfo } from '../results.js';
import type { Outcome, RequestSample, TestSample } from '../samples.js';
import type { BuiltinConfig, ScenarioStep } from './config.js';
import { plainRequests, UserAgent, type RequestSpec } from './http.js';
import { now } from './sample-clock.js';

export interface BenchProgress {
  /** 0-based cycle index and how many cycles there are. */
  cycle: number;
  cycles: number;
  /** Concurrent users of this cycle, and how many are running now. */
  cvus: number;
  users: number;
  phase: 'starting' | 'recording' | 'stopping' | 'pause' | 'done';
  /** Seconds since the bench started. */
  elapsed: number;
  /** Over the last second, every request (recorded or not). */
  requestsPerSecond: number;
  errorsPerSecond: number;
  /**
   * Recorded so far: by the rule of the results (a request counts when it ends inside a cycle's
   * recording window), so the last line says what the report and the job's summary say.
   */
  requests: number;
  errors: number;
  /** 95th percentile of the request times of the last second, ms (absent when none ended). */
  p95Ms?: number;
}

export interface CycleEvent {
  cycle: number;
  cvus: number;
  phase: 'start' | 'end';
  at: number;
  /** Tests recorded in the cycle, on 'end'. */
  success?: number;
  failures?: number;
  errors?: number;
}

export interface BenchOptions {
  signal?: AbortSignal;
  /** Called once, when the load starts (after any preparation). */
  onStart?: () => void;
  /** Called every second (and once at the end). */
  onProgress?: (p: BenchProgress) => void;
  onCycle?: (e: CycleEvent) => void;
  /** Every recorded sample, e.g. for a streaming FunkLoad XML writer. */
  onRequest?: (s: RequestSample) => void;
  onTest?: (s: TestSample) => void;
  /** FunkLoad-style console lines ("Cycle #0 with 5 virtual users", "* Cycle result: ..."). */
  onLog?: (line: string) => void;
  /** Fill this model instead of a new one (e.g. one that already holds proxy events). */
  results?: RunResults;
  name?: string;
  /** For replayable sleep draws in tests. */
  random?: () => number;
  /** How long stopping users may finish their step before their connections are cut (ms). */
  stopGraceMs?: number;
  /**
   * This process runs one share of a bench spread over `of` nodes: of each cycle's users (numbered
   * 0..N-1, started one every startup_delay), it runs those with `number % of === index`, and
   * waits out the others' start slots, so every node's recording window opens at the same time.
   */
  share?: { index: number; of: number };
}

/** The users of a cycle of `cvus` that one share runs (FunkLoad thread numbers, global). */
export function shareOf(cvus: number, share: { index: number; of: number } = { index: 0, of: 1 }): number {
  return share.index < cvus % share.of ? Math.ceil(cvus / share.of) : Math.floor(cvus / share.of);
}

const SUITE = 'Scenario';
const USER_AGENT = 'marteau-tui';
const TEST = 'test_scenario';


/** A pause that ends early, without throwing, when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The server under test, as FunkLoad's `server_url`. */
export function serverUrl(c: BuiltinConfig): string {
  return c.base_url ?? c.url ?? new URL(c.scenario[0].path).origin;
}

/** The run's identity and bench parameters, as the results model and the XML header keep them. */
export function benchRunInfo(config: BuiltinConfig, o: Partial<RunInfo> & { start: number }): RunInfo {
  return newRunInfo({
    runner: 'builtin',
    apdexT: config.apdex_t,
    suite: SUITE,
    test: TEST,
    module: 'scenario',
    description: `${config.scenario.length} HTTP step(s)`,
    ...o,
    bench: {
      cycles: config.cycles,
      duration: config.duration,
      startupDelay: config.startup_delay,
      sleepTime: config.sleep_time,
      sleepTimeMin: config.sleep_time_min,
      sleepTimeMax: config.sleep_time_max,
      cycleTime: config.cycle_time,
      serverUrl: serverUrl(config),
    },
  });
}

interface Target {
  origin: string;
  path: string;
  url: string;
}

/** Resolve each step's URL once, before the run (a bad URL is a config error, not 10k errors). */
export function resolveTargets(config: BuiltinConfig): Target[] {
  const base = serverUrl(config);
  return config.scenario.map((s) => {
    const u = new URL(s.path.startsWith('/') ? joinPath(base, s.path) : s.path);
    return { origin: u.origin, path: `${u.pathname}${u.search}`, url: `${u.origin}${u.pathname}${u.search}` };
  });
}

function joinPath(base: string, path: string): string {
  // base_url may carry a prefix (http://host/api): keep it, as FunkLoad's server_url + path does.
  const b = new URL(base);
  const prefix = b.pathname.replace(/\/+$/, '');
  return `${b.origin}${prefix}${path}`;
}

export async function runBench(config: BuiltinConfig, options: BenchOptions = {}): Promise<RunResults> {
  const random = options.random ?? Math.random;
  const signal = options.signal;
  const targets = resolveTargets(config);
  const start = now();
  const results = options.results ?? new RunResults(benchRunInfo(config, { name: options.name ?? 'bench', start }));
  const share = options.share ?? { index: 0, of: 1 };
  const log = options.onLog ?? (() => {});

  // Counters for the per-second progress line: its rates count every request, recorded or not
  // (the load the app sees); its totals only the recorded ones. A user ending a request just after
  // the window closed made the last line count one or two more than the report did.
  let recordedRequests = 0;
  let recordedErrors = 0;
  let tickRequests = 0;
  let tickErrors = 0;
  let lastTick = start;
  // Request times since the last tick, for a live p95 (the results model keeps the whole run).
  let tickTimes = new Histogram();
  const state = { cycle: 0, cvus: config.cycles[0] ?? 0, users: 0, phase: 'starting' as BenchProgress['phase'] };
  const progress = (): BenchProgress => {
    const t = now();
    const dt = Math.max(1e-3, (t - lastTick) / 1000);
    const p: BenchProgress = {
      cycle: state.cycle,
      cycles: config.cycles.length,
      cvus: state.cvus,
      users: state.users,
      phase: state.phase,
      elapsed: (t - start) / 1000,
      requestsPerSecond: tickRequests / dt,
      errorsPerSecond: tickErrors / dt,
      requests: recordedRequests,
      errors: recordedErrors,
      p95Ms: tickTimes.count ? tickTimes.percentile(95) / 1000 : undefined,
    };
    tickTimes = new Histogram();
    tickRequests = 0;
    tickErrors = 0;
    lastTick = t;
    return p;
  };
  const ticker = options.onProgress ? setInterval(() => options.onProgress!(progress()), 1000) : undefined;
  ticker?.unref();

  const timeoutMs = config.request_timeout * 1000;
  const types = config.scenario.map((s) => s.method.toLowerCase());
  // Built once per step and reused by every request (read only): less garbage.
  const requests = plainRequests(config.scenario.map((s, i): RequestSpec => ({
    origin: targets[i].origin,
    path: targets[i].path,
    method: s.method as Dispatcher.HttpMethod,
    headers: Object.entries({ 'user-agent': USER_AGENT, ...s.headers }).flat(),
    body: s.body ?? null,
  })));
  const stopGraceMs = options.stopGraceMs ?? Math.min(timeoutMs, 5000);

  options.onStart?.();
  log(`Benching ${SUITE}.${TEST}`);
  log(`* Server: ${serverUrl(config)}`);
  log(`* Cycles: [${config.cycles.join(', ')}]`);
  log(`* Cycle duration: ${config.duration}s`);

  try {
    for (let ci = 0; ci < config.cycles.length && !signal?.aborted; ci++) {
      const total = config.cycles[ci];
      const cvus = shareOf(total, share);
      Object.assign(state, { cycle: ci, cvus, users: 0, phase: 'starting' });
      const title = `Cycle #${ci} with ${cvus} virtual users${share.of > 1 ? ` (of ${total} on ${share.of} nodes)` : ''}`;
      log('');
      log(title);
      log('-'.repeat(title.length));

      const stopCtl = new AbortController();
      const stopSignal = signal ? AbortSignal.any([signal, stopCtl.signal]) : stopCtl.signal;
      // Every user's think time listens to it: more than 10 users is no leak, so no warning on stderr.
      setMaxListeners(0, stopSignal);
      let recording = false;
      const counts = { success: 0, failures: 0, errors: 0 };
      const agents: UserAgent[] = [];
      const users: Promise<void>[] = [];
      // Hard end for the users' loops, whatever happens to timers.
      const hardDeadline = now() + (total * config.startup_delay + config.duration) * 1000 + stopGraceMs + timeoutMs + 60_000;

      const runUser = async (thread: number, agent: UserAgent): Promise<void> => {
        state.users++;
        try {
          for (let guard = 0; !stopSignal.aborted && now() < hardDeadline && guard < 1e9; guard++) {
            const testStart = now();
            let connection = 0;
            let outcome: Outcome = 'success';
            let error: string | undefined;
            let traceback: string | undefined;
            let steps = 0;
            for (let si = 0; si < config.scenario.length; si++) {
              if (stopSignal.aborted) return; // the test is cut short: never recorded
              const step: ScenarioStep = config.scenario[si];
              const target = targets[si];
              const t0 = now();
              const res = await agent.send(requests[si]);
              const t1 = now();
              // Cut by a stop or abort: not a result of the server under test.
              if (res.error === 'aborted' && stopSignal.aborted) return;
              steps++;
              tickRequests++;
              const duration = t1 - t0;
              tickTimes.record(duration * 1000);
              connection += duration;
              let result: Outcome = 'success';
              let err: string | undefined;
              let detail: string | undefined;
              if (res.error) {
                result = 'error';
                err = res.error;
                detail = res.detail;
              } else if (!step.expect.includes(res.code)) {
                result = 'failure';
                err = `status ${res.code}`;
                detail = `expected ${step.expect.join('|')}, got ${res.code}`;
              }
              if (result !== 'success') tickErrors++;
              if (recording) {
                recordedRequests++;
                if (result !== 'success') recordedErrors++;
                const s: RequestSample = {
                  cycle: ci,
                  cvus,
                  thread,
                  step: si + 1,
                  number: 1,
                  type: types[si],
                  url: target.url,
                  description: step.description,
                  start: t0,
                  duration,
                  code: res.code,
                  result,
                  error: err,
                  traceback: detail,
                  suite: SUITE,
                  name: TEST,
                };
                results.addRequest(s);
                options.onRequest?.(s);
              }
              if (result !== 'success') {
                outcome = result;
                error = err;
                traceback = detail;
                break;
              }
              if (config.sleep_time_max > 0 || config.sleep_time_min > 0) {
                const pause = config.sleep_time_min + Math.abs(config.sleep_time_max - config.sleep_time_min) * random();
                await sleep(pause * 1000, stopSignal);
              }
            }
            const testEnd = now();
            if (recording) {
              if (outcome === 'success') counts.success++;
              else if (outcome === 'failure') counts.failures++;
              else counts.errors++;
              const t: TestSample = {
                cycle: ci,
                cvus,
                thread,
                start: testStart,
                duration: testEnd - testStart,
                connectionDuration: connection,
                result: outcome,
                steps,
                requests: steps,
                pages: steps,
                error,
                traceback,
                suite: SUITE,
                name: TEST,
              };
              results.addTest(t);
              options.onTest?.(t);
            }
            if (config.sleep_time > 0) await sleep(config.sleep_time * 1000, stopSignal);
            // A request that fails synchronously resolves without I/O: give timers (the end of
            // the recording window, the progress tick) their turn so such a loop cannot starve them.
            // (A success always waited for the socket, so timers already had theirs.)
            if (outcome !== 'success') await new Promise<void>((r) => setImmediate(r));
          }
        } finally {
          state.users--;
        }
      };

      // Ramp-up: one user every startup_delay (the other shares' slots included), nothing recorded yet.
      for (let t = 0; t < total && !signal?.aborted; t++) {
        if (t % share.of === share.index) {
          const agent = new UserAgent({ timeoutMs });
          agents.push(agent);
          users.push(runUser(t, agent));
        }
        if (t < total - 1) await sleep(config.startup_delay * 1000, signal);
      }
      log(`* Starting threads: ${cvus} done.`);

      // Recording window.
      recording = !signal?.aborted;
      state.phase = 'recording';
      const recStart = now();
      results.startCycle(ci, cvus, recStart);
      options.onCycle?.({ cycle: ci, cvus, phase: 'start', at: recStart });
      log(`* Logging for ${config.duration}s: ...`);
      await sleep(config.duration * 1000, signal);
      recording = false;
      const recEnd = now();
      results.endCycle(ci, recEnd);

      // Ramp-down: users stop at their next step; stragglers lose their connections.
      state.phase = 'stopping';
      stopCtl.abort();
      const allUsers = Promise.allSettled(users);
      const graceTimer = new AbortController();
      await Promise.race([allUsers, sleep(stopGraceMs, AbortSignal.any([graceTimer.signal, ...(signal ? [signal] : [])]))]);
      graceTimer.abort();
      await Promise.allSettled(agents.map((a) => a.destroy()));
      await allUsers;
      log(`* Waiting end of threads: ${cvus} done.`);

      const status = counts.errors ? 'ERROR' : counts.failures ? 'FAILURE' : 'SUCCESSFUL';
      log(`* End of cycle, ${((now() - recStart) / 1000).toFixed(2)}s elapsed.`);
      log(`* Cycle result: **${status}**, ${counts.success} success, ${counts.failures} failure, ${counts.errors} errors.`);
      options.onCycle?.({ cycle: ci, cvus, phase: 'end', at: recEnd, ...counts });

      if (ci < config.cycles.length - 1 && config.cycle_time > 0) {
        state.phase = 'pause';
        await sleep(config.cycle_time * 1000, signal);
      }
    }
  } finally {
    if (ticker) clearInterval(ticker);
    state.phase = 'done';
    results.finish(now(), signal?.aborted ?? false);
    options.onProgress?.(progress());
  }
  if (signal?.aborted) log('Aborted');
  return results;
}
