/**
 * The builtin job's compact sample log: the XML made from it is byte for byte what the streaming
 * FunkLoad writer writes for the same samples (real benches against a real app, and odd
 * strings); a log cut anywhere is read up to its last whole record; a job killed mid-run leaves a
 * log that the report step turns into its result file.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, copyFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import { loadResults } from '../../src/report/load.js';
import { builtinConfigSchema, runBench } from '../../src/runners/builtin/index.js';
import { benchRunInfo } from '../../src/runners/builtin/bench.js';
import { FunkloadXmlWriter } from '../../src/runners/funkload-writer.js';
import type { ProxyTimelineEvent } from '../../src/runners/results.js';
import { SampleLogWriter } from '../../src/runners/sample-log.js';
import { convertSampleLog, readSampleLog } from '../../src/runners/sample-log-read.js';
import type { RequestSample, TestSample } from '../../src/runners/samples.js';
import { cli } from '../helpers/marteau-cli.js';

let app: LoadApp;
beforeAll(async () => {
  app = await startLoadApp();
});
afterAll(async () => {
  await app?.close();
});

const tmp = () => mkdtempSync(join(tmpdir(), 'marteau-samplelog-'));

type Writer = Pick<FunkloadXmlWriter, 'begin' | 'request' | 'test' | 'cycle' | 'proxyEvent' | 'flush' | 'close'>;

/** Feed the same calls to the streaming XML writer and to the log; the XML made from the log. */
async function bothWays(feed: (w: Writer) => Promise<void> | void): Promise<{ streamed: string; converted: string }> {
  const dir = tmp();
  const info = benchRunInfo(builtinConfigSchema.parse({ base_url: 'http://127.0.0.1:9', cycles: [2, 3], duration: 1, scenario: [{ get: '/' }] }), { name: 'both', start: 1_700_000_000_123.456, meta: { job: 'j1' }, version: 'marteau-tui test' });
  const streamedPath = join(dir, 'streamed.xml');
  const xml = new FunkloadXmlWriter(streamedPath, info, { generator: 'gen "1"', deferHeader: true });
  const convertedPath = join(dir, 'results.xml');
  const log = new SampleLogWriter(join(dir, 'results.samples'), info, { path: streamedPath, generator: 'gen "1"', deferHeader: true });
  const both: Writer = {
    begin: () => (xml.begin(), log.begin()),
    request: (s) => (xml.request(s), log.request(s)),
    test: (t) => (xml.test(t), log.test(t)),
    cycle: (c, n, a, b) => (xml.cycle(c, n, a, b), log.cycle(c, n, a, b)),
    proxyEvent: (e) => (xml.proxyEvent(e), log.proxyEvent(e)),
    flush: () => (xml.flush(), log.flush()),
    close: () => (xml.close(), log.close()),
  };
  await feed(both);
  both.close();
  const read = await convertSampleLog(join(dir, 'results.samples'), convertedPath);
  expect(read.complete).toBe(true);
  expect(existsSync(join(dir, 'results.samples'))).toBe(false);
  return { streamed: readFileSync(streamedPath, 'utf8'), converted: readFileSync(convertedPath, 'utf8') };
}

const mix: ProxyTimelineEvent = { at: 1_700_000_000_200.7, proxy: 'web "front"', kind: 'mix', mix: '50:delay,50:error', reason: 'fixture <slow>' };
const fault: ProxyTimelineEvent = { at: 1_700_000_001_000, proxy: 'web', kind: 'fault', behavior: 'error', count: 17 };

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('compact sample log', () => {
  it('a real bench (successes, failures, connection errors): the XML made from the log is the streamed XML, byte for byte', async () => {
    const refused = await closedPort();
    const config = builtinConfigSchema.parse({
      base_url: `http://127.0.0.1:${app.port}`, cycles: [2, 3], duration: 0.4, startup_delay: 0, cycle_time: 0,
      scenario: [
        { get: '/?q="quoted"&lt=<a>', description: 'home — «accueil» & "more"' },
        { get: '/status/404', expect: 404 },
        { get: '/status/503', expect: 200, description: 'fails' },
      ],
    });
    const refusing = builtinConfigSchema.parse({ base_url: `http://127.0.0.1:${refused}`, cycles: [1], duration: 0.2, startup_delay: 0, scenario: [{ get: '/' }] });
    let requests = 0;
    const { streamed, converted } = await bothWays(async (w) => {
      w.proxyEvent(mix); // before the load: waits for the header in both
      w.begin();
      for (const c of [config, refusing]) {
        await runBench(c, {
          onRequest: (s: RequestSample) => (requests++, w.request(s)),
          onTest: (t: TestSample) => w.test(t),
          onCycle: (e) => e.phase === 'end' && w.cycle(e.cycle, e.cvus, e.at - 400, e.at),
          onProgress: () => w.flush(),
        });
      }
      w.proxyEvent(fault);
    });
    expect(requests).toBeGreaterThan(10);
    expect(streamed).toMatch(/result="Failure"/);
    expect(streamed).toMatch(/result="Error"[^\n]*traceback=/);
    expect(streamed).toMatch(/description="home — «accueil» &amp; &quot;more&quot;"|description='home — «accueil» &amp; "more"'/);
    expect(converted.split('\n').filter((l) => l.startsWith('<response ')).length).toBe(requests);
    expect(converted).toBe(streamed);
  });

  it('odd values and more distinct strings than the log keeps (scratch slots): still the streamed XML', async () => {
    const req = (i: number, o: Partial<RequestSample> = {}): RequestSample => ({
      cycle: i % 3, cvus: 5, thread: i % 5, step: 1 + (i % 2), number: 1, type: 'get', url: `http://h/p?i=${i % 7}`,
      start: 1_700_000_000_000 + i * 0.37, duration: 0.000123 + i / 1000, code: 200, result: 'success', ...o,
    });
    const { streamed, converted } = await bothWays((w) => {
      w.begin();
      w.request(req(1, { description: 'tab\there\nnewline\r', node: 'box-1' }));
      w.request(req(2, { code: -1, result: 'error', error: 'ECONNRESET', traceback: `it's "both" quotes <&>` }));
      w.request(req(3, { result: 'failure', error: 'status 503', traceback: 'expected 200, got 503', suite: 'S', name: 'n' }));
      w.request(req(4, { url: 'x'.repeat(1_500_000), duration: 1e12, start: 0 }));
      // 12,000 distinct tracebacks: past the log's interning cap; then requests whose every string is new.
      for (let i = 0; i < 12_000; i++) w.request(req(i, { result: 'error', code: -1, error: 'timeout', traceback: `timed out after ${i} ms` }));
      for (let i = 0; i < 20; i++) {
        const u = `-${i}`;
        w.request(req(i, { type: `t${u}`, url: `http://h/${u}`, description: `d${u}`, result: 'error', code: -1, error: `e${u}`, traceback: `tb${u}`, suite: `s${u}`, name: `n${u}`, node: `node${u}` }));
      }
      const t: TestSample = { cycle: 1, cvus: 5, thread: 2, start: 1_700_000_000_500.25, duration: 12.5, connectionDuration: 3.25, result: 'failure', steps: 2, requests: 2, pages: 2, error: 'status 503', traceback: 'expected 200' };
      w.test(t);
      w.test({ ...t, result: 'success', error: undefined, traceback: undefined, xmlrpc: 1, redirects: 2, images: 3, links: 4 });
      w.cycle(0, 5, 1_700_000_000_000.4, 1_700_000_002_000.6);
      w.proxyEvent(fault);
    });
    expect(converted.length).toBeGreaterThan(1_500_000);
    expect(converted).toBe(streamed);
  });

  it('a log cut anywhere is read up to its last whole record, and converts to a prefix of the whole XML', async () => {
    const dir = tmp();
    const info = benchRunInfo(builtinConfigSchema.parse({ base_url: 'http://127.0.0.1:9', cycles: [1], duration: 1, scenario: [{ get: '/' }] }), { name: 'cut', start: 1_700_000_000_000 });
    const path = join(dir, 'results.samples');
    const w = new SampleLogWriter(path, info);
    // The file's size after each sample: where each whole record ends.
    const ends: number[] = [];
    for (let i = 0; i < 40; i++) {
      w.request({ cycle: 0, cvus: 1, thread: 0, step: 1, number: 1, type: 'get', url: `http://h/${i % 3}`, start: 1_700_000_000_000 + i, duration: 1.5, code: 200, result: i % 4 ? 'success' : 'error', error: i % 4 ? undefined : `E${i}`, traceback: i % 4 ? undefined : `trace ${i}` });
      w.flush();
      ends.push(statSync(path).size);
    }
    w.close();
    const whole = join(dir, 'whole.samples');
    copyFileSync(path, whole);
    await convertSampleLog(whole, join(dir, 'whole.xml'));
    const wholeLines = readFileSync(join(dir, 'whole.xml'), 'utf8').split('\n');
    for (const cut of [...new Set([...ends, ...Array.from({ length: 150 }, (_, k) => ends[0] - 30 + 7 * k)])].filter((c) => c <= ends[ends.length - 1] + 1)) {
      const cutPath = join(dir, `cut-${cut}.samples`);
      copyFileSync(path, cutPath);
      truncateSync(cutPath, cut);
      const expected = ends.filter((e) => e <= cut).length;
      const read = await readSampleLog(cutPath, { header() {}, request() {}, test() {}, cycle() {}, proxyEvent() {}, end() {} });
      expect(read.requests).toBe(expected);
      expect(read.complete).toBe(cut > ends[ends.length - 1]);
      // What follows the last whole request: whole string records, then at most part of a record.
      if (expected) expect(read.trailing).toBeLessThanOrEqual(cut - ends[expected - 1] - (read.complete ? 1 : 0));
      if (ends.includes(cut)) expect(read.trailing).toBe(0);
      const xml = join(dir, `cut-${cut}.xml`);
      await convertSampleLog(cutPath, xml);
      const lines = readFileSync(xml, 'utf8').split('\n');
      expect(lines.filter((l) => l.startsWith('<response ')).length).toBe(expected);
      // The whole XML's lines, then where the samples of the killed job end.
      const abort = lines.at(-2)!;
      expect(abort).toMatch(/^<marteauAbort why="killed" reason="the job was killed: its samples end here"/);
      if (expected) expect(Number(/ time="([\d.]+)"/.exec(abort)![1]) * 1000).toBeCloseTo(1_700_000_000_000 + expected - 1 + 1.5, -0.5);
      expect(wholeLines.slice(0, lines.length - 2)).toEqual(lines.slice(0, -2));
    }
    // The report step, given the result file the log stands for by name.
    const cut = ends[24] + 30;
    copyFileSync(path, join(dir, 'named.samples'));
    truncateSync(join(dir, 'named.samples'), cut);
    const loaded = await loadResults(join(dir, 'named.xml'));
    expect(loaded.warnings).toEqual([
      `${join(dir, 'named.samples')}: the job did not finish; its sample log (25 requests, cut short) was converted to named.xml`,
      `${join(dir, 'named.xml')}: missing </funkload> tag: the bench was interrupted; the results read so far are used.`,
    ]);
    expect(loaded.results.summary().overall.requests.total).toBe(25);
    expect(existsSync(join(dir, 'named.samples'))).toBe(false);
  });

  it('a --ci job killed mid-run leaves its samples: the report step converts its log', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'p'));
    writeFileSync(join(dir, 'p', '.marteau.yml'), `name: killed\nrunner: builtin\nbase_url: http://127.0.0.1:${app.port}\ncycles: [4]\nduration: 60\nstartup_delay: 0\nscenario:\n  - {get: /}\n`);
    const run = cli(['--ci', join(dir, 'p'), '--state-dir', state]);
    // Two progress lines: the log was flushed at the second, with samples recorded before it.
    await run.waitFor(/progress: [^\n]*\n(?:[^\n]*\n)*[^\n]*progress: [^\n]* [1-9]\d* requests/, 60_000);
    run.child.kill('SIGKILL');
    await run.exited;
    const [id] = readdirSync(join(state, 'jobs'));
    const jobDir = join(state, 'jobs', id);
    expect(readdirSync(jobDir)).toContain('results.samples');
    expect(readdirSync(jobDir)).not.toContain('results.xml');
    const loaded = await loadResults(jobDir);
    expect(loaded.warnings.join('\n')).toMatch(/the job did not finish; its sample log \(\d+ requests, cut short\) was converted to results\.xml/);
    const total = loaded.results.summary().overall.requests.total;
    expect(total).toBeGreaterThan(0);
    expect(readdirSync(jobDir)).not.toContain('results.samples');
    const xml = readFileSync(join(jobDir, 'results.xml'), 'utf8');
    expect(xml.split('\n').filter((l) => l.startsWith('<response ')).length).toBe(total);
    expect(xml).not.toMatch(/<\/funkload>/);
    // Its rates divide by the time it ran (a few seconds), not by the 60 s it was given.
    const [cycle] = loaded.results.summary().cycles;
    expect(cycle.duration).toBeGreaterThan(0);
    expect(cycle.duration).toBeLessThan(30);
    expect(cycle.requests.rps).toBeCloseTo(cycle.requests.total / cycle.duration, 6);
  });
});
