/** FunkLoad's bench result format: reading real FunkLoad output, writing, round trips, merging. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import { builtinConfigSchema, runBench } from '../../src/runners/builtin/index.js';
import { FunkloadScanner, type XmlElement } from '../../src/runners/funkload-scanner.js';
import { epochSeconds, pyFloat, quoteattr, timeRoundingMs, zonelessStart } from '../../src/runners/funkload-text.js';
import { formatFunkloadXml, FunkloadXmlWriter, responseLine, testResultLine } from '../../src/runners/funkload-writer.js';
import { parseFunkloadXml, readFunkloadXml, readFunkloadXmlFiles } from '../../src/runners/funkload-xml.js';
import { newRunInfo, RunResults } from '../../src/runners/results.js';
import type { RequestSample, TestSample } from '../../src/runners/samples.js';
import { realFunkload } from '../helpers/funkload.js';

const real = (name: string) => new URL(`../../fixtures/funkload/real/${name}`, import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'marteau-fl-'));

describe('Python-compatible formatting', () => {
  it('quoteattr picks quotes like xml.sax.saxutils', () => {
    expect(quoteattr('a&b<c>')).toBe('"a&amp;b&lt;c&gt;"');
    expect(quoteattr('say "hi"')).toBe(`'say "hi"'`);
    expect(quoteattr(`it's "x"`)).toBe('"it\'s &quot;x&quot;"');
    expect(quoteattr('l1\nl2\t')).toBe('"l1&#10;l2&#9;"');
  });
  it('floats print as Python 2 str()', () => {
    expect(pyFloat(1)).toBe('1.0');
    expect(pyFloat(0.01)).toBe('0.01');
    expect(pyFloat(1296080586.2912345)).toBe('1296080586.29');
    expect(pyFloat(0.00213289260864123)).toBe('0.00213289260864');
  });
  it("prints floats and quotes attributes as the real Python 2.7 does, over the ranges samples take", () => {
    const fl = realFunkload();
    if (!fl) return;
    // Durations and times in seconds from a microsecond to years, whole ones, and their neighbours.
    const floats = [0, 1, 0.1, 0.5, 1e-6, 1.5e-6, 5e-5, 9.99999999999999e-5, 99999999999, 1e11 - 0.5, 99999999999.9999, 1e11, 1.2e12, 1e10, 123.456, 0.001, 1296080586.2912345];
    const rand = fc.sample(fc.tuple(fc.double({ min: 1, max: 10, noNaN: true }), fc.integer({ min: -8, max: 12 })), { numRuns: 3000, seed: 42 });
    for (const [m, e] of rand) floats.push(m * 10 ** e, (m * 10 ** e) / 1000, Math.round(m * 10 ** e) / 1e6);
    const texts = ['http://127.0.0.1:8080/items?a=1&b=2', 'GET /', 'say "hi"', `it's "x"`, 'l1\nl2\t\r', '<b>', ...fc.sample(fc.string({ unit: fc.constantFrom('a', '&', '<', '>', '"', "'", '\n', '\r', '\t', ' ') }), { numRuns: 300, seed: 7 })];
    const script = 'import sys, json\nfrom xml.sax.saxutils import quoteattr\nd = json.load(sys.stdin)\nprint(json.dumps([[str(float(x)) for x in d[0]], [quoteattr(t) for t in d[1]]]))';
    const out = execFileSync(fl.python, ['-c', script], { input: JSON.stringify([floats.map(String), texts]), encoding: 'utf8' });
    const [pyFloats, pyQuoted] = JSON.parse(out) as [string[], string[]];
    expect(floats.map(pyFloat)).toEqual(pyFloats);
    expect(texts.map(quoteattr)).toEqual(pyQuoted);
  });
  it('writes response and testResult lines in FunkLoad attribute order', () => {
    const r: RequestSample = {
      cycle: 1, cvus: 10, thread: 3, step: 1, number: 2, type: 'image', url: 'http://localhost/logo.png', description: '',
      start: 1296080586290, duration: 1.1, code: 200, result: 'success', suite: 'Simple', name: 'test_simple',
    };
    expect(responseLine(r)).toBe(
      '<response cycle="001" cvus="010" thread="003" suite="Simple" name="test_simple" step="001" number="002" type="image" result="Successful" url="http://localhost/logo.png" code="200" description="" time="1296080586.290000" duration="0.0011" />',
    );
    const t: TestSample = {
      cycle: 1, cvus: 10, thread: 3, start: 1296080586280, duration: 1130, connectionDuration: 51, result: 'success',
      steps: 20, requests: 40, pages: 20, images: 20, suite: 'Simple', name: 'test_simple',
    };
    expect(testResultLine(t)).toBe(
      '<testResult cycle="001" cvus="010" thread="003" suite="Simple" name="test_simple"  time="1296080586.280000" result="Successful" steps="20" duration="1.13" connection_duration="0.051" requests="40" pages="20" xmlrpc="0" redirects="0" images="20" links="0" />',
    );
    expect(testResultLine({ ...t, result: 'failure', traceback: 'boom' })).toMatch(/links="0" traceback="boom" \/>$/);
  });
});

describe('times', () => {
  it("a real FunkLoad time is known to 10 ms, and a fault that close to a request's written start overlaps it", () => {
    const text = readFileSync(real('mixed-bench.xml'), 'utf8');
    const times = [...text.matchAll(/<response [^>]*time="([\d.]+)"/g)].map((m) => m[1]);
    // Python 2's str(): 12 significant digits, a trailing zero dropped (1796175166.3).
    expect(times.some((t) => /\.\d$/.test(t))).toBe(true);
    for (const t of times) expect(timeRoundingMs(t)).toBe(5);
    expect(timeRoundingMs(epochSeconds(1296080586291.2345))).toBeLessThan(0.001);
    // The run's first request: a fault 4 ms before its written start may have come while it was
    // in flight; one 6 ms before it came before any request started.
    const first = Math.min(...times.map(Number)) * 1000;
    const overlapped = (at: number) => {
      const { results } = parseFunkloadXml(text, { onModel: (r) => r.addFault('redis', 'blackout', at) });
      return results.attribution.result().rows[0].overlapped;
    };
    expect(overlapped(first - 4)).toBe(1);
    expect(overlapped(first - 6)).toBe(0);
  });

  it('sample times keep the microsecond and never leave the second they were measured in', () => {
    expect(epochSeconds(1296080586291.2345)).toBe('1296080586.291234');
    expect(epochSeconds(1296080586999.9996)).toBe('1296080586.999999');
    expect(epochSeconds(1296080587000)).toBe('1296080587.000000');
    fc.assert(
      fc.property(fc.double({ min: 1e12, max: 2e12, noNaN: true }), (ms) => {
        expect(Math.floor(Number(epochSeconds(ms)))).toBe(Math.floor(ms / 1000));
        expect(Math.abs(Number(epochSeconds(ms)) * 1000 - ms)).toBeLessThan(0.002);
      }),
    );
  });

  it("reads a zoneless start time in the zone the samples' epoch times tell, not this machine's", () => {
    // A real file (ajbone/study_python, UTC+8): start 13:13:49 local, first sample 05:13:49.37 UTC.
    const wall = Date.UTC(2015, 6, 30, 13, 13, 49, 362) + 0.713;
    expect(zonelessStart(wall, 1438233229370)).toBe(wall - 8 * 3_600_000);
    // A sample may print a little before the start (10 ms rounding), or come minutes after it.
    expect(zonelessStart(wall, 1438233229360 - 8)).toBe(wall - 8 * 3_600_000);
    expect(zonelessStart(wall, 1438233229370 + 10 * 60_000)).toBe(wall - 8 * 3_600_000);
    expect(zonelessStart(Date.UTC(2020, 0, 1, 4, 0), Date.UTC(2020, 0, 1, 9, 30, 5))).toBe(Date.UTC(2020, 0, 1, 9, 30)); // UTC-5:30
    expect(zonelessStart(Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 3))).toBeUndefined(); // no zone is 2 days off

    const text = [
      '<funkload version="1.17.1" time="2015-07-30T13:13:49.362713">',
      '<config key="cycles" value="[1]" />',
      '<config key="duration" value="5" />',
      '<response cycle="000" cvus="001" thread="000" suite="S" name="t" step="001" number="001" type="post" result="Successful" url="/" code="200" description="" time="1438233229.37" duration="0.338536977768" />',
      '<testResult cycle="000" cvus="001" thread="000" suite="S" name="t"  time="1438233229.37" result="Successful" steps="1" duration="0.40029501915" connection_duration="0.338536977768" requests="1" pages="1" xmlrpc="0" redirects="0" images="0" links="0" />',
      '<response cycle="000" cvus="001" thread="000" suite="S" name="t" step="001" number="001" type="post" result="Successful" url="/" code="200" description="" time="1438233233.86" duration="0.1" />',
      '</funkload>',
    ].join('\n');
    const s = parseFunkloadXml(text).results.summary();
    expect(s.info.start).toBe(Date.UTC(2015, 6, 30, 5, 13, 49, 362) + 0.713);
    expect(s.info.end).toBeCloseTo(1438233233960, 0); // the last sample's end, not the start
    expect(s.timeline[0].at).toBe(Date.UTC(2015, 6, 30, 5, 13, 49));
    // A start that carries its zone is taken as it says.
    expect(parseFunkloadXml(text.replace('13:13:49.362713', '05:13:49.362713Z')).results.info.start).toBe(s.info.start);
  });
});

describe('reading FunkLoad results (real FunkLoad 1.17.2 output, fixtures/funkload/real/CAPTURED.md)', () => {
  // Every figure below is the one the real `fl-build-report` prints for the same file
  // (fixtures/funkload/real/mixed-bench.report.rst, mixed-killed-bench.report.rst).
  it('reads the config and computes FunkLoad report figures per cycle', async () => {
    const { results, truncated, warnings } = await readFunkloadXml(real('mixed-bench.xml'));
    expect(truncated).toBe(false);
    expect(warnings).toEqual([]);
    const s = results.summary();
    expect(s.aborted).toBe(false);
    expect(s.info.bench.cycles).toEqual([1, 2]);
    expect(s.info.bench.duration).toBe(3);
    expect(s.info.bench.sleepTimeMax).toBe(0.1);
    expect(s.info.bench.serverUrl).toBe('http://127.0.0.1:41581');
    expect(s.info.suite).toBe('Mixed');
    expect(s.info.test).toBe('test_mixed');
    expect(s.info.node).toBe('vm');
    expect(s.info.meta).toEqual({});
    expect(s.info.extra.python_version).toBe('2.7.18');
    expect(s.info.apdexT).toBe(1.5);
    expect(s.info.runner).toBe('funkload');

    const [c0, c1] = s.cycles;
    expect(c0.cvus).toBe(1);
    // report: Request stats 48 total / 43 ok, RPS 16.000, maxRPS 18; Page stats 33 / 28 (an XML-RPC
    // call counts as a page), SPPS 9.333, maxSPPS 11; Test stats 14 / 9, STPS 3.000
    expect([c0.requests.total, c0.requests.success, c0.pages.total, c0.pages.success, c0.tests.total, c0.tests.success]).toEqual([48, 43, 33, 28, 14, 9]);
    expect(c0.requests.rps).toBeCloseTo(16, 3);
    expect(c0.requests.maxRps).toBe(18);
    expect(c0.pages.spps).toBeCloseTo(9.333, 3);
    expect(c0.pages.maxSpps).toBe(11);
    expect(c0.tests.stps).toBeCloseTo(3, 3);
    expect(c0.tests.errorPercent).toBeCloseTo(35.71, 2);
    // report: request MIN 0.000 AVG 0.009 MAX 0.043 (seconds, 3 decimals); ours are in ms
    expect(Math.abs(c0.requests.latency.max - 43)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(c0.requests.latency.avg - 9)).toBeLessThanOrEqual(0.5);

    expect(c1.cvus).toBe(2);
    expect([c1.requests.total, c1.requests.success, c1.pages.total, c1.pages.success, c1.tests.total, c1.tests.success]).toEqual([81, 70, 58, 47, 23, 12]);
    expect(c1.requests.errorPercent).toBeCloseTo(13.58, 2);
    expect(c1.pages.errorPercent).toBeCloseTo(18.97, 2);
    expect(c1.tests.errorPercent).toBeCloseTo(47.83, 2);
    expect([c1.requests.rps, c1.requests.maxRps, c1.pages.maxSpps, c1.tests.stps]).toEqual([27, 27, 16, 4]);
    // report: Failures "12 times, code: 503", Errors "4 times, code: -1" (socket error: refused)
    expect([c0.tests.failures + c1.tests.failures, c0.tests.errors + c1.tests.errors]).toEqual([12, 4]);
    expect(c1.errors).toEqual({ 'status 503': 9, 'error: [Errno 111] Connection refused': 2 });
    expect(c0.errors).toEqual({ 'status 503': 3, 'error: [Errno 111] Connection refused': 2 });
    // the page's image sub-request, the xmlrpc call (its line ends with the writer's stray `"`),
    // and the single-quoted description FunkLoad writes for a value holding `"`
    expect(c1.steps.find((x) => x.key === '001.002')?.type).toBe('image');
    expect(c1.steps.find((x) => x.key === '002.001')).toMatchObject({ type: 'xmlrpc', description: 'Get status' });
    expect(c1.steps.find((x) => x.key === '003.001')?.description).toBe('Get "unavailable" page');
    // the Failure's CDATA body is kept as the sample detail; the Error keeps its traceback
    expect(s.errorSamples.find((e) => e.code === 503)?.traceback).toContain('Back & <soon>');
    expect(s.errorSamples.find((e) => e.code === -1)?.traceback).toMatch(/^Traceback[\s\S]*error: \[Errno 111\] Connection refused/);
    expect(s.overall.requests.total).toBe(129);
    expect(c1.start).toBeCloseTo(1796175169520, 0); // its earliest sample, not its first line
  });

  it('reads a bench killed with SIGKILL, as FunkLoad does', async () => {
    const { results, truncated, warnings } = await readFunkloadXml(real('mixed-killed-bench.xml'));
    expect(truncated).toBe(true);
    expect(warnings[0]).toMatch(/missing <\/funkload>/i);
    const s = results.summary();
    expect(s.aborted).toBe(true);
    // killed during cycle #1: the report of the same file shows both cycles as far as they got
    expect(s.cycles.map((c) => [c.requests.total, c.requests.success, c.pages.total, c.tests.total, c.tests.success])).toEqual([
      [53, 46, 38, 16, 9],
      [84, 73, 60, 25, 14],
    ]);
    expect([s.cycles[1].tests.stps, s.cycles[1].requests.maxRps]).toEqual([3.5, 29]);
  });

  it('reads a killed bench whose last line is cut inside a tag up to the cut', async () => {
    // The real kill above left a whole last line; this copy of it is cut by hand inside the
    // first line of cycle #1 (a <testResult>), as a kill during a write would leave it.
    const text = readFileSync(real('mixed-killed-bench.xml'), 'utf8');
    const firstOfCycle1 = text.indexOf('<testResult cycle="001"');
    const cutAt = text.indexOf('result="Success', firstOfCycle1) + 'result="Success'.length;
    const path = join(tmp, 'mixed-killed-cut.xml');
    writeFileSync(path, text.slice(0, cutAt));
    const { results, truncated, warnings } = await readFunkloadXml(path);
    expect(truncated).toBe(true);
    expect(warnings[0]).toMatch(/missing <\/funkload>/i);
    const s = results.summary();
    expect(s.aborted).toBe(true);
    // Cycle #0 whole, as in the report; cycle #1 recorded nothing before the cut: no row, as
    // fl-build-report has none (only a complete file's empty cycles are shown).
    expect(s.cycles.map((c) => [c.cvus, c.requests.total, c.tests.total])).toEqual([[1, 53, 16]]);
  });

  it('gives the same elements whatever the chunking', () => {
    const text = readFileSync(real('mixed-bench.xml'), 'utf8');
    const collect = (chunks: string[]) => {
      const out: XmlElement[] = [];
      const sc = new FunkloadScanner((e) => out.push(e));
      for (const c of chunks) sc.feed(c);
      sc.end();
      return out;
    };
    const whole = collect([text]);
    expect(whole.filter((e) => e.name === 'response').length).toBe(129);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 30 }), (cuts) => {
        const sorted = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const c of sorted) {
          chunks.push(text.slice(prev, c));
          prev = c;
        }
        chunks.push(text.slice(prev));
        expect(collect(chunks)).toEqual(whole);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a file that is not a bench result', () => {
    expect(() => parseFunkloadXml('<testsuite name="x"></testsuite>')).toThrow(/not a FunkLoad bench result/);
  });

  it('merges the files of a distributed bench and skips mismatching ones', async () => {
    const a = real('mixed-bench.xml');
    const other = join(tmp, 'other.xml');
    writeFileSync(other, readFileSync(a, 'utf8').replace('value="[1, 2]"', 'value="[1, 5]"'));
    const { results, warnings } = await readFunkloadXmlFiles([a, a, other]);
    const s = results.summary();
    expect(warnings.some((w) => w.includes('other.xml: skipped'))).toBe(true);
    expect(s.info.bench.cycles).toEqual([2, 4]);
    expect(s.cycles.map((c) => c.cvus)).toEqual([2, 4]);
    expect(s.overall.requests.total).toBe(2 * 129);
    expect(s.info.node).toBe('vm, vm');
  });
});

describe('round trip', () => {
  const sample = fc.record({
    cycle: fc.integer({ min: 0, max: 2 }),
    thread: fc.integer({ min: 0, max: 5 }),
    step: fc.integer({ min: 1, max: 4 }),
    page: fc.boolean(),
    startOffset: fc.integer({ min: 0, max: 30_000 }),
    duration: fc.double({ min: 0.05, max: 20_000, noNaN: true }),
    result: fc.constantFrom('success', 'failure', 'error') as fc.Arbitrary<'success' | 'failure' | 'error'>,
    description: fc.string({ maxLength: 12 }),
  });

  it('what we write reads back to the same figures', () => {
    fc.assert(
      fc.property(fc.array(sample, { minLength: 1, maxLength: 80 }), (samples) => {
        const start = 1_700_000_000_000;
        const info = newRunInfo({ start, name: 'rt', bench: { cycles: [1, 2, 3], duration: 10 } as never });
        const direct = new RunResults(info);
        const items: Parameters<typeof formatFunkloadXml>[1] = [];
        for (const s of samples) {
          const r: RequestSample = {
            cycle: s.cycle, cvus: s.cycle + 1, thread: s.thread, step: s.step, number: s.page ? 1 : 2, type: s.page ? 'get' : 'image',
            url: `http://127.0.0.1/p${s.step}?q="x"&y`, description: s.description, start: start + s.startOffset,
            // what 12 significant digits of seconds keep
            duration: Number((s.duration / 1000).toPrecision(12)) * 1000,
            code: s.result === 'error' ? -1 : s.result === 'failure' ? 503 : 200, result: s.result,
            error: s.result === 'error' ? 'ECONNRESET' : undefined,
          };
          r.start = Number((r.start / 1000).toPrecision(12)) * 1000;
          direct.addRequest(r);
          items.push({ request: r });
          const t: TestSample = {
            cycle: r.cycle, cvus: r.cvus, thread: r.thread, start: r.start, duration: r.duration, connectionDuration: r.duration,
            result: r.result, steps: 1, requests: 1, pages: 1,
          };
          direct.addTest(t);
          items.push({ test: t });
        }
        direct.addProxyEvent({ at: start + 1000, proxy: 'db', kind: 'mix', mix: '100:blackout' });
        items.push({ proxy: { at: start + 1000, proxy: 'db', kind: 'mix', mix: '100:blackout' } });
        direct.finish(start + 40_000);
        const back = parseFunkloadXml(formatFunkloadXml(info, items)).results.summary();
        const want = direct.summary();
        expect(back.proxyEvents).toEqual(want.proxyEvents);
        expect(back.info.bench).toEqual(want.info.bench);
        expect(back.info.name).toBe('rt');
        for (const c of want.cycles) {
          const b = back.cycles.find((x) => x.cycle === c.cycle)!;
          expect(b.requests.total).toBe(c.requests.total);
          expect(b.requests.success).toBe(c.requests.success);
          expect(b.pages.total).toBe(c.pages.total);
          expect(b.tests).toEqual(c.tests);
          expect(b.errors).toEqual(c.errors);
          expect(b.requests.latency.p95).toBeCloseTo(c.requests.latency.p95, 3);
          expect(b.requests.apdex).toEqual(c.requests.apdex);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the builtin runner writes FunkLoad XML as it runs', () => {
  let app: LoadApp;
  beforeAll(async () => {
    app = await startLoadApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('streams every recorded sample, and the file reads back to the same figures', async () => {
    const cfg = builtinConfigSchema.parse({
      base_url: app.url, cycles: [2, 3], duration: 0.8, startup_delay: 0, scenario: [{ get: '/' }, { get: '/status/404', expect: [200, 404] }, { get: '/status/500' }],
    });
    const path = join(tmp, 'bench.xml');
    const results = new RunResults(newRunInfo({ start: Date.now(), name: 'stream', bench: { cycles: cfg.cycles, duration: cfg.duration, serverUrl: app.url } as never }));
    const writer = new FunkloadXmlWriter(path, results.info);
    await runBench(cfg, {
      results,
      onRequest: (s) => writer.request(s),
      onTest: (t) => writer.test(t),
      onCycle: (e) => {
        if (e.phase === 'end') {
          const c = results.cycles.get(e.cycle)!;
          writer.cycle(e.cycle, e.cvus, c.start!, c.end!);
        }
      },
    });
    writer.close();
    const text = readFileSync(path, 'utf8');
    expect(text.startsWith('<funkload version=')).toBe(true);
    expect(text.trimEnd().endsWith('</funkload>')).toBe(true);
    const back = (await readFunkloadXml(path)).results.summary();
    const want = results.summary();
    expect(back.cycles.map((c) => [c.cvus, c.requests.total, c.tests.failures, c.start])).toEqual(
      want.cycles.map((c) => [c.cvus, c.requests.total, c.tests.failures, expect.closeTo(c.start!, -1)]),
    );
    expect(back.cycles[0].errors).toEqual(want.cycles[0].errors);
    expect(want.cycles[0].errors['status 500']).toBeGreaterThan(0);
  });
});
