/**
 * The locust runner's pure parts, on files recorded from real Locust 2.12.1 runs against the
 * demo app (fixtures/locust/recorded/): CSV parsing, the rebuilt distributions, error kinds,
 * the explanation of a locustfile that does not start, and the fold into the results model.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { latencyStats } from '../../src/runners/formulas.js';
import { defaultBench, newRunInfo, RunResults } from '../../src/runners/results.js';
import {
  LocustFormatError,
  parseCsv,
  parseExceptionsCsv,
  parseFailuresCsv,
  parseProgressLine,
  parseStatsCsv,
  tickDurations,
  tickNodes,
  tickSamples,
  type LocustStatsRow,
} from '../../src/runners/locust/csv.js';
import { rebuildDurations } from '../../src/runners/locust/distribution.js';
import { newLocustRecord, resultsFromRecord, type LocustRunRecord } from '../../src/runners/locust/record.js';
import { addLocustCycle, addNamedCycle, locustErrorKind, StepNumbers } from '../../src/runners/locust/results.js';
import { CycleStream, OTHER_EXCEPTIONS, OTHER_FAILURES, OTHER_NAMES } from '../../src/runners/locust/stream.js';
import { locustStartupError } from '../../src/runners/locust/startup.js';
import { Histogram } from '../../src/stats/histogram.js';

const REC = path.join(import.meta.dirname, '../../fixtures/locust/recorded');
const rec = (name: string) => readFileSync(path.join(REC, name), 'utf8');

/** FunkLoad-rank latency of a rebuilt distribution, as the reports compute it. */
function statsOf(d: [number, number][]) {
  const h = new Histogram();
  for (const [ms, c] of d) h.record(Math.round(ms * 1000), c);
  return latencyStats(h);
}

/** Histogram precision (0.1 %, upper bucket edge) plus the rebuilt distribution's own rounding. */
const close = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.02 + 0.001);

describe('Locust CSV files', () => {
  it('reads quoted fields with commas, doubled quotes and newlines (tracebacks)', () => {
    expect(parseCsv('a,b\n"x, y","say ""hi""\nthere"\r\n').map((r) => [r.line, r.fields])).toEqual([
      [1, ['a', 'b']],
      [2, ['x, y', 'say "hi"\nthere']],
    ]);
    expect(() => parseCsv('a\n"open', 'f.csv')).toThrow(/^f\.csv:2: a quoted field is not closed/);
  });

  it('reads _stats.csv by column name: every entry, the Aggregated row, percentiles in order', () => {
    const s = parseStatsCsv(rec('cycle-2_stats.csv'));
    expect(s.entries.map((e) => `${e.method} ${e.name}`)).toEqual(['GET catalogue', 'GET home', 'GET item', 'GET missing item']);
    expect(s.total).toMatchObject({ name: 'Aggregated', requests: 87, failures: 14 });
    expect(s.entries.reduce((n, e) => n + e.requests, 0)).toBe(s.total!.requests);
    const missing = s.entries.find((e) => e.name === 'missing item')!;
    expect(missing.failures).toBe(missing.requests);
    expect(missing.percentiles.map((p) => p.q)).toEqual([0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1]);
    expect(missing.percentiles.find((p) => p.q === 0.95)!.ms).toBe(19);
    // Columns in another order (other Locust versions) read the same.
    const cols = rec('cycle-2_stats.csv').split('\n').map((l) => parseCsv(l)[0]?.fields).filter(Boolean) as string[][];
    const swapped = cols.map((f) => [f[1], f[0], ...f.slice(2)].map((x) => (x.includes(',') ? `"${x}"` : x)).join(',')).join('\n');
    expect(parseStatsCsv(swapped)).toEqual(s);
  });

  it('reads entries without requests (N/A percentiles) as empty', () => {
    const s = parseStatsCsv(`Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,50%,100%\nGET,/x,0,0,0,0,0,0,N/A,N/A\n`);
    expect(s.entries[0]).toMatchObject({ requests: 0, percentiles: [] });
  });

  it('says which file, line and column is wrong', () => {
    expect(() => parseStatsCsv('Type,Name\nGET,/\n', 'run_stats.csv')).toThrow(/^run_stats\.csv:1: missing column\(s\) "Request Count"/);
    const bad = rec('cycle-2_stats.csv').replace(',26,0,', ',lots,0,');
    expect(() => parseStatsCsv(bad, 'run_stats.csv')).toThrow(LocustFormatError);
    expect(() => parseStatsCsv(bad, 'run_stats.csv')).toThrow(/^run_stats\.csv:2: column "Request Count": "lots" is not a number/);
    expect(() => parseFailuresCsv('Method,Name,Error,Occurrences\nGET,/,boom\n', 'f.csv')).toThrow(/^f\.csv:2: 3 fields where the header has 4/);
  });

  it('reads _failures.csv and _exceptions.csv (multi-line tracebacks)', () => {
    expect(parseFailuresCsv(rec('cycle-2_failures.csv'))).toEqual([
      { method: 'GET', name: 'missing item', error: "HTTPError('404 Client Error: Not Found for url: missing item')", occurrences: 14 },
    ]);
    const [x] = parseExceptionsCsv(rec('exceptions_exceptions.csv'));
    expect(x.count).toBeGreaterThan(0);
    expect(x.message).toBe('the basket is empty');
    expect(x.traceback).toMatch(/line 12, in broken\n\s+raise ValueError\("the basket is empty"\)/);
    expect(parseExceptionsCsv(rec('cycle-2_exceptions.csv'))).toEqual([]);
  });

  it("reads the plugin's progress lines and ignores anything else", () => {
    const lines = rec('cycle-2.stdout').split('\n').filter(Boolean);
    const parsed = lines.map(parseProgressLine);
    expect(parsed.every(Boolean)).toBe(true);
    expect(parsed.map((p) => p!.kind)).toEqual(['recording', 'tick', 'tick', 'tick', 'end']);
    const ticks = parsed.filter((p) => p!.kind === 'tick') as Extract<NonNullable<(typeof parsed)[0]>, { kind: 'tick' }>[];
    // Each tick's histogram holds exactly its new requests; together they are the cycle's.
    for (const t of ticks) expect(tickDurations(t.times).reduce((n, [, c]) => n + c, 0)).toBe(t.new);
    expect(ticks.reduce((n, t) => n + t.new, 0)).toBe(parseStatsCsv(rec('cycle-2_stats.csv')).total!.requests);
    expect(parseProgressLine('[2026-11-25] vm/INFO/locust.main: Starting Locust')).toBeUndefined();
    expect(parseProgressLine('##marteau {not json')).toBeUndefined();
    expect(parseProgressLine('##marteau {"kind":"tick","t":1}')).toBeUndefined();
    expect(tickDurations({ '5': 2, x: 1, '7': -1, '3': 1.5 })).toEqual([[5, 2]]);
  });

  it("reads a distributed master's lines: the workers' counts name their node, the split is Locust's", () => {
    // Captured from Debian's Locust: a master and two workers (MARTEAU_NODE a and b), 3 users.
    const parsed = rec('distributed-master.stdout').split('\n').filter(Boolean).map(parseProgressLine);
    const ticks = parsed.filter((p) => p?.kind === 'tick') as Extract<NonNullable<(typeof parsed)[0]>, { kind: 'tick' }>[];
    const samples = ticks.flatMap((t) => tickSamples(t.samples));
    expect(new Set(samples.map((x) => x[5]))).toEqual(new Set(['a', 'b']));
    // Every request a worker saw reached the master's stats once.
    expect(samples.reduce((n, x) => n + x[4], 0)).toBe(parseStatsCsv(rec('distributed-master_stats.csv')).total!.requests);
    const split = ticks.map((t) => Object.fromEntries(tickNodes(t.nodes))).find((n) => (n.a ?? 0) + (n.b ?? 0) === 3);
    expect(split && Math.min(split.a, split.b)).toBeGreaterThan(0);
    expect(tickNodes({ a: 2, b: -1, c: 'x', d: 1.5 })).toEqual([['a', 2]]);
    expect(tickSamples([[1, '200', 5, 1, 2, 'a'], [1, '200', 5, 1, 2, 7], [1, '200', 5, 1, 2]])).toEqual([[1, '200', 5, 1, 2, 'a'], [1, '200', 5, 1, 2]]);
  });
});

describe('distributions rebuilt from percentiles', () => {
  const rows = [...parseStatsCsv(rec('cycle-1_stats.csv')).entries, ...parseStatsCsv(rec('cycle-2_stats.csv')).entries];
  const rebuild = (e: LocustStatsRow) => rebuildDurations({ count: e.requests, minMs: e.minMs, maxMs: e.maxMs, percentiles: e.percentiles });

  it("gives back Locust's count, min, max and percentiles (p50/p90/p95/p99) on recorded rows", () => {
    for (const e of rows) {
      const d = rebuild(e);
      expect(d.reduce((n, [, c]) => n + c, 0)).toBe(e.requests);
      const l = statsOf(d);
      close(l.min, e.minMs);
      close(l.max, e.maxMs);
      for (const [p, q] of [['p50', 0.5], ['p90', 0.9], ['p95', 0.95], ['p99', 0.99]] as const) {
        const want = Math.min(e.maxMs, Math.max(e.minMs, e.percentiles.find((x) => x.q === q)!.ms));
        close(l[p], want);
      }
      // The mean is the rebuilt one: near Locust's average, not equal to it.
      expect(Math.abs(l.avg - e.avgMs) / e.avgMs).toBeLessThan(0.35);
    }
  });

  it('costs the same for a million requests as for a thousand', () => {
    const percentiles = [0.5, 0.9, 0.95, 0.99, 0.999].map((q, i) => ({ q, ms: 10 * (i + 1) }));
    const small = rebuildDurations({ count: 1000, minMs: 1, maxMs: 100, percentiles });
    const big = rebuildDurations({ count: 1_000_000, minMs: 1, maxMs: 100, percentiles });
    expect(big.length).toBeLessThanOrEqual(6 * 34);
    expect(big.length).toBeLessThanOrEqual(small.length * 1.5);
    expect(big.reduce((n, [, c]) => n + c, 0)).toBe(1_000_000);
    const l = statsOf(big);
    close(l.p50, 10);
    close(l.p95, 30);
    close(l.p99, 40);
    // Ascending, inside [min, max].
    for (let i = 1; i < big.length; i++) expect(big[i][0]).toBeGreaterThan(big[i - 1][0]);
    expect(big[0][0]).toBe(1);
    expect(big[big.length - 1][0]).toBe(100);
  });

  it('handles no request, one request, and percentiles outside [min, max] (Locust rounds them)', () => {
    expect(rebuildDurations({ count: 0, minMs: 0, maxMs: 0, percentiles: [] })).toEqual([]);
    expect(rebuildDurations({ count: 1, minMs: 4.2, maxMs: 4.2, percentiles: [{ q: 0.5, ms: 4 }] })).toEqual([[4.2, 1]]);
    const d = rebuildDurations({ count: 3, minMs: 4.6, maxMs: 5.4, percentiles: [{ q: 0.5, ms: 4 }, { q: 0.99, ms: 6 }] });
    expect(d.every(([ms]) => ms >= 4.6 && ms <= 5.4)).toBe(true);
    expect(d.reduce((n, [, c]) => n + c, 0)).toBe(3);
  });
});

describe('Locust errors and starts', () => {
  it('groups error texts in the builtin runner\'s vocabulary', () => {
    expect(locustErrorKind("HTTPError('404 Client Error: Not Found for url: missing item')")).toEqual({ kind: 'status 404', code: 404 });
    expect(locustErrorKind("HTTPError('503 Server Error: Service Unavailable for url: home')")).toEqual({ kind: 'status 503', code: 503 });
    expect(locustErrorKind("ConnectionRefusedError(111, 'Connection refused')").kind).toBe('ECONNREFUSED');
    expect(
      locustErrorKind(`ConnectionError(MaxRetryError("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: / (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))"))`).kind,
    ).toBe('ECONNREFUSED');
    expect(locustErrorKind("ReadTimeout(ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1', port=9): Read timed out. (read timeout=1)\"))").kind).toBe('timeout');
    expect(locustErrorKind("CatchResponseError('basket total is wrong')").kind).toBe('basket total is wrong');
    expect(locustErrorKind('KeyError(\'id\')').kind).toBe('KeyError');
  });

  it('explains a locustfile that does not start with file:line and the Python error (recorded stderr)', () => {
    const lines = (name: string) => rec(name).split('\n');
    expect(locustStartupError(lines('import-error.stderr'), 'locustfile.py')).toBe(
      "locustfile.py:2: ModuleNotFoundError: No module named 'shop_client_that_is_not_installed'",
    );
    expect(locustStartupError(lines('syntax-error.stderr'), 'locustfile.py')).toBe("locustfile.py:5: SyntaxError: expected ':'");
    expect(locustStartupError(lines('no-user-class.stderr'), 'locustfile.py')).toBe('No User class found!');
    expect(locustStartupError(["Could not find 'nope.py'. See --help for available options."], 'nope.py')).toMatch(/^Could not find 'nope\.py'/);
    expect(locustStartupError([], 'x.py')).toMatch(/no message/);
  });
});

describe('a recorded Locust run in the results model', () => {
  it('counts requests, failures by kind and per-step latency as Locust did, cycle by cycle', () => {
    const results = new RunResults(newRunInfo({ name: 'rec', runner: 'locust', start: 1_795_646_570_000, apdexT: 0.05, bench: { ...defaultBench(), cycles: [2, 4], duration: 2 } }));
    const steps = new StepNumbers();
    const cycles = [1, 2].map((n) => ({
      stats: parseStatsCsv(rec(`cycle-${n}_stats.csv`)),
      failures: parseFailuresCsv(rec(`cycle-${n}_failures.csv`)),
      exceptions: parseExceptionsCsv(rec(`cycle-${n}_exceptions.csv`)),
    }));
    cycles.forEach((files, i) => addLocustCycle(results, i, [2, 4][i], files, steps, 1_795_646_580_000));
    const extra = { stats: parseStatsCsv(rec('exceptions_stats.csv')), failures: [], exceptions: parseExceptionsCsv(rec('exceptions_exceptions.csv')) };
    addLocustCycle(results, 2, 2, extra, steps, 1_795_646_590_000);
    const s = results.summary();
    expect(s.cycles.map((c) => c.cvus)).toEqual([2, 4, 2]);
    for (const [i, files] of cycles.entries()) {
      const c = s.cycles[i];
      const total = files.stats.total!;
      expect(c.requests.total).toBe(total.requests);
      expect(c.requests.success).toBe(total.requests - total.failures);
      expect(c.errors).toEqual(total.failures ? { 'status 404': total.failures } : {});
      expect(c.requests.rps).toBeCloseTo(total.requests / 2, 6);
      expect(c.steps.map((st) => st.url)).toEqual(files.stats.entries.map((e) => e.name));
      for (const st of c.steps) {
        const e = files.stats.entries.find((x) => x.name === st.url)!;
        expect(st.total).toBe(e.requests);
        close(st.latency.p95, Math.min(e.maxMs, e.percentiles.find((p) => p.q === 0.95)!.ms));
        close(st.latency.max, e.maxMs);
      }
    }
    // The same Locust entry keeps its step number in every cycle (cycle 1 never hit the missing item).
    expect(s.cycles[0].steps.map((st) => `${st.step} ${st.url}`)).toEqual(['1 catalogue', '2 home', '3 item']);
    expect(s.cycles[1].steps.map((st) => `${st.step} ${st.url}`)).toEqual(['1 catalogue', '2 home', '3 item', '4 missing item']);
    expect(s.overall.errors).toEqual({ 'status 404': 14, 'exception: the basket is empty': extra.exceptions[0].count });
    // A task's exception is an error of its cycle, with its traceback, not a request.
    expect(s.cycles[2].errors).toEqual({ 'exception: the basket is empty': extra.exceptions[0].count });
    expect(s.cycles[2].requests.total).toBe(extra.stats.total!.requests);
    expect(s.errorSamples.find((e) => e.error.startsWith('exception'))?.traceback).toMatch(/raise ValueError/);
    expect(s.errorSamples.find((e) => e.error === 'status 404')).toMatchObject({ code: 404, url: 'missing item' });
    // Apdex from the rebuilt durations: T = 50 ms splits these runs.
    expect(s.overall.requests.apdex.satisfied + s.overall.requests.apdex.tolerating + s.overall.requests.apdex.frustrated).toBe(s.overall.requests.total);
    expect(s.overall.requests.apdex.tolerating).toBeGreaterThan(0);
  });

  it('draws the per-second progress on the time axis and finds the busiest second', () => {
    const results = new RunResults(newRunInfo({ name: 'rec', runner: 'locust', start: 1_795_646_574_000, bench: { ...defaultBench(), cycles: [4], duration: 2 } }));
    const lines = rec('cycle-2.stdout').split('\n').filter(Boolean).map((l) => parseProgressLine(l)!);
    let last = lines[0].t;
    for (const p of lines) {
      if (p.kind !== 'tick') continue;
      results.addSecond(0, 4, ((last + p.t) / 2) * 1000, p.new_failures, tickDurations(p.times));
      last = p.t;
    }
    const s = results.summary();
    const ticks = lines.filter((p) => p.kind === 'tick') as Extract<(typeof lines)[0], { kind: 'tick' }>[];
    expect(s.timeline.reduce((n, b) => n + b.requests, 0)).toBe(ticks.reduce((n, t) => n + t.new, 0));
    expect(s.timeline.reduce((n, b) => n + b.errors, 0)).toBe(ticks.reduce((n, t) => n + t.new_failures, 0));
    expect(s.cycles[0].requests.maxRps).toBe(Math.max(...ticks.map((t) => t.new)));
    expect(s.timeline.every((b) => b.cvus === 4)).toBe(true);
  });
});

describe('a Locust run cut short, read back from its record', () => {
  const START = 1_795_646_570_000;
  /** A record of one 30 s cycle of 2 users whose files are the recorded cycle 1's. */
  function record(o: Partial<LocustRunRecord> & { window?: { start?: number; end: number } }): LocustRunRecord {
    const r = newLocustRecord(newRunInfo({ name: 'cut', runner: 'locust', start: START, bench: { ...defaultBench(), cycles: [2], duration: 30 } }));
    const files = { node: 'a', stats: 'cycle-1_stats.csv', failures: 'cycle-1_failures.csv', exceptions: 'cycle-1_exceptions.csv' };
    r.cycles.push({ cycle: 0, cvus: 2, ...o.window, files: [files], seconds: [] });
    return { ...r, ...o, info: { ...r.info, end: START + 40_000 } };
  }
  const requests = parseStatsCsv(rec('cycle-1_stats.csv')).total!.requests;

  it('a worker lost 4 s into the recording: its rates divide by those 4 s, not the 30 configured', async () => {
    const r = record({ window: { start: START + 1_000, end: START + 5_000 }, lost: [{ node: 'b', at: START + 4_900, reason: 'killed' }] });
    const [c] = (await resultsFromRecord(r, REC)).summary().cycles;
    expect(c.requests.total).toBe(requests);
    expect(c.duration).toBe(4);
    expect(c.requests.rps).toBeCloseTo(requests / 4, 6);
    // The same cycle with no node lost ran its 30 s.
    const whole = (await resultsFromRecord(record({ window: { start: START + 1_000, end: START + 31_000 } }), REC)).summary().cycles[0];
    expect(whole.duration).toBe(30);
  });

  it('cancelled before its last user started: the ramp-up in its files is not taken as the cycle', async () => {
    const r = record({ window: { end: START + 500 }, aborted: true, abort: { why: 'cancelled', reason: 'cancelled by a user', at: START + 500 } });
    const s = (await resultsFromRecord(r, REC)).summary();
    expect(s.aborted).toBe(true);
    expect(s.cycles[0].requests.total).toBe(0);
    expect(s.cycles[0].requests.rps).toBe(0);
  });
});

describe("a cycle from the plugin's stream, per request name", () => {
  const tick = (o: Record<string, unknown>) => ({ kind: 'tick' as const, t: 1, users: 2, requests: 0, failures: 0, new: 0, new_failures: 0, times: {}, ...o });

  it('adds up what changed per name once recording, names the texts sent once, and names what came past the limit', () => {
    const stream = new CycleStream();
    // The ramp-up: its names and texts are kept, its requests not (Locust resets its stats), its exceptions are (it does not).
    stream.add(tick({ named: [[1, 'GET', 'home']], texts: [[2, 'ZeroDivisionError', 'Traceback ...']], per_name: [[1, 5, 0, { '3': 5 }]], raised: [[2, 1]] }), false);
    stream.add(tick({ named: [[3, 'POST', 'login']], texts: [[4, "ValueError('wrong password')"]], per_name: [[1, 3, 0, { '3': 2, '40': 1 }], [3, 2, 2, { '7': 2 }], [null, 4, 1, { '5': 4 }]], failed: [[3, 4, 2], [null, null, 1]], raised: [[2, 2], [null, 1]] }), true);
    stream.add(tick({ per_name: [[1, 1, 0, { '3': 1 }], [3, 1, -1, {}]], failed: [[3, 4, 1], [3, 'x', 1]] }), true);
    expect(stream.cycle()).toEqual({
      entries: [
        { method: 'GET', name: 'home', failures: 0, durations: [[3, 3], [40, 1]] },
        { method: 'POST', name: 'login', failures: 2, durations: [[7, 2]] },
        { method: '', name: OTHER_NAMES, failures: 1, durations: [[5, 4]] },
      ],
      failures: [
        { method: 'POST', name: 'login', error: "ValueError('wrong password')", occurrences: 3 },
        { method: '', name: OTHER_NAMES, error: OTHER_FAILURES, occurrences: 1 },
      ],
      exceptions: [
        { count: 3, message: 'ZeroDivisionError', traceback: 'Traceback ...' },
        { count: 1, message: OTHER_EXCEPTIONS, traceback: '' },
      ],
    });
  });

  it('reports such a cycle as the CSV files would: a step per name, its failures under their kind and text', () => {
    const results = new RunResults(newRunInfo({ name: 'cut', runner: 'locust', start: 1000, bench: { ...defaultBench(), cycles: [2], duration: 2 } }));
    const stream = new CycleStream();
    stream.add(tick({ named: [[1, 'GET', 'home'], [2, 'GET', 'missing item']], texts: [[3, "HTTPError('404 Client Error: Not Found for url: missing item')"]], per_name: [[1, 6, 0, { '3': 6 }], [2, 2, 2, { '4': 2 }]], failed: [[2, 3, 2]] }), true);
    addNamedCycle(results, 0, 2, stream.cycle(), new StepNumbers(), 3000);
    results.endCycle(0, 3000);
    const s = results.summary();
    expect(s.cycles[0].steps.map((x) => [x.url, x.total, x.success])).toEqual([['home', 6, 6], ['missing item', 2, 0]]);
    expect(s.cycles[0].errors).toEqual({ 'status 404': 2 });
    expect(s.errorSamples).toMatchObject([{ url: 'missing item', code: 404, error: 'status 404', traceback: "HTTPError('404 Client Error: Not Found for url: missing item')" }]);
  });
});
