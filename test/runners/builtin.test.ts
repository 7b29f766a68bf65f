/**
 * The builtin runner against a REAL loopback HTTP app: request counts per cycle, concurrency as
 * the server sees it, failing steps, abort, and memory that does not grow with the request count.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadApp, type LoadApp } from '../../fixtures/load/app.js';
import { parse as parseYaml } from 'yaml';
import { startDemoApp } from '../../fixtures/demo/app.js';
import { builtinConfigSchema, runBench, type BenchProgress } from '../../src/runners/builtin/index.js';
import { parseThresholds } from '../../src/config/thresholds.js';

let app: LoadApp;
beforeAll(async () => {
  app = await startLoadApp();
});
afterAll(async () => {
  await app?.close();
});

const config = (extra: Record<string, unknown>) => builtinConfigSchema.parse({ base_url: app.url, startup_delay: 0, ...extra });

describe('builtin runner', () => {
  it('runs each cycle with its number of concurrent users and counts only the recording window', async () => {
    const before = app.stats();
    const perCycleMax: number[] = [];
    const cfg = config({ cycles: [2, 4], duration: 1.5, scenario: [{ get: '/slow?ms=50' }], cycle_time: 0.2 });
    const ends: [number, number][] = [];
    const results = await runBench(cfg, {
      onRequest: (r) => ends.push([r.cycle, r.start + r.duration]),
      onCycle: (e) => {
        if (e.phase === 'start') app.resetMax();
        else perCycleMax.push(app.stats().maxInFlight);
      },
    });
    const s = results.summary();
    expect(s.cycles.map((c) => c.cvus)).toEqual([2, 4]);
    // The server saw exactly as many requests in flight as users, never more.
    expect(perCycleMax).toEqual([2, 4]);
    // One keep-alive connection per user.
    expect(app.stats().connections - before.connections).toBe(6);
    for (const c of s.cycles) {
      // Each user does one 50 ms request after the other: at most ~20/s each over 1.5 s, and at
      // least half of what the latencies it saw allow (a loaded machine stretches them).
      const expected = (c.cvus * 1.5) / 0.05;
      expect(c.requests.total).toBeGreaterThan(((c.cvus * 1500) / c.requests.latency.avg) * 0.5);
      expect(c.requests.total).toBeLessThanOrEqual(expected * 1.05);
      expect(c.requests.success).toBe(c.requests.total);
      expect(c.tests.total).toBe(c.requests.total); // one step per test
      expect(c.requests.latency.min).toBeGreaterThanOrEqual(49);
      expect(c.requests.latency.p50).toBeLessThan(200);
      expect(c.requests.rps).toBeCloseTo(c.requests.total / 1.5, 5);
      expect(c.end! - c.start!).toBeGreaterThanOrEqual(1490);
    }
    // Every recorded request ended inside its cycle's recording window (1 ms for clock rounding).
    for (const [cycle, end] of ends) {
      const c = s.cycles[cycle];
      expect(end).toBeGreaterThanOrEqual(c.start! - 1);
      expect(end).toBeLessThanOrEqual(c.end! + 1);
    }
    expect(ends.length).toBe(s.overall.requests.total);
    expect(s.overall.requests.total).toBe(s.cycles[0].requests.total + s.cycles[1].requests.total);
    // Ramp-up and ramp-down requests hit the server but are not recorded.
    expect(app.stats().requests - before.requests).toBeGreaterThanOrEqual(s.overall.requests.total);
  });

  it('ends a test at its first failing step, records the failure and the status', async () => {
    app.hits.clear();
    const cfg = config({
      cycles: [2],
      duration: 0.6,
      scenario: [{ get: '/' }, { get: '/status/503', expect: 200 }, { post: '/echo', json: { a: 1 } }],
    });
    const s = (await runBench(cfg)).summary();
    const c = s.cycles[0];
    expect(c.tests.total).toBeGreaterThan(5);
    expect(c.tests.failures).toBe(c.tests.total);
    expect(c.tests.success).toBe(0);
    expect(app.hits.get('/echo') ?? 0).toBe(0);
    expect(c.errors['status 503']).toBeGreaterThan(0);
    expect(c.successRate).toBeCloseTo(0.5, 1);
    expect(c.steps.map((x) => x.key)).toEqual(['001.001', '002.001']);
  });

  it('counts connection errors as errors', async () => {
    const dead = await startLoadApp();
    const url = dead.url;
    await dead.close();
    const cfg = builtinConfigSchema.parse({ base_url: url, cycles: [1], duration: 0.3, startup_delay: 0, sleep_time: 0.01, scenario: [{ get: '/' }] });
    const s = (await runBench(cfg)).summary();
    expect(s.cycles[0].requests.total).toBeGreaterThan(0);
    expect(s.cycles[0].requests.success).toBe(0);
    expect(Object.keys(s.cycles[0].errors)).toContain('ECONNREFUSED');
    expect(s.cycles[0].tests.errors).toBe(s.cycles[0].tests.total);
  });

  it('reports progress every second', async () => {
    const seen: BenchProgress[] = [];
    const cfg = config({ cycles: [3], duration: 2.2, scenario: [{ get: '/slow?ms=5' }] });
    await runBench(cfg, { onProgress: (p) => seen.push(p) });
    // two ticks plus the final one
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThanOrEqual(5); // a loaded machine may stretch the stop
    const tick = seen[0];
    expect(tick.cvus).toBe(3);
    expect(tick.users).toBe(3);
    expect(tick.requestsPerSecond).toBeGreaterThan(50);
    expect(seen.at(-1)!.phase).toBe('done');
  });

  it('stops promptly on abort, with requests in flight', async () => {
    const ctl = new AbortController();
    const cfg = config({ cycles: [5, 10], duration: 30, scenario: [{ get: '/slow?ms=2000' }, { get: '/' }] });
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 300);
    const results = await runBench(cfg, { signal: ctl.signal });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(results.aborted).toBe(true);
    expect(results.summary().cycles.length).toBe(1);
    // nothing left hanging on the server side
    await new Promise((r) => setTimeout(r, 100));
    expect(app.stats().openConnections).toBe(0);
  });

  it('keeps memory flat whatever the number of requests', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = () => {
      gc();
      gc();
      return v8.getHeapStatistics().used_heap_size;
    };
    // Warm-up: JIT, undici internals and lazily built module state settle in a first run.
    await runBench(config({ cycles: [8], duration: 0.5, scenario: [{ get: '/' }] }));
    // Then heap after GC at the 2,000th and the 12,000th recorded request of one run: counts,
    // not durations, so a slow machine changes the time taken, not what is measured.
    const marks: number[] = [];
    let n = 0;
    const ctl = new AbortController();
    const r = await runBench(config({ cycles: [8], duration: 50, scenario: [{ get: '/' }] }), {
      signal: ctl.signal,
      onRequest: () => {
        n++;
        if (n === 2_000 || n === 12_000) marks.push(heap());
        if (n === 12_000) ctl.abort();
      },
    });
    expect(marks.length).toBe(2);
    const grown = marks[1] - marks[0];
    // eslint-disable-next-line no-console
    console.log(`heap after GC: ${marks[0]} B at 2000 requests, ${marks[1]} B at 12000 (${(grown / 10_000).toFixed(2)} B/request)`);
    // 10,000 kept samples would take ~2.5 MB (a RequestSample is ~250 B with its URL string).
    expect(grown).toBeLessThan(512 * 1024);
    expect(r.summary().overall.requests.total).toBeGreaterThanOrEqual(12_000);
  });
});

describe('builtin config', () => {
  it('reads FunkLoad-style keys, with defaults', () => {
    const c = builtinConfigSchema.parse({ url: 'http://127.0.0.1:1/api/', cycles: '1:5:10', scenario: [{ get: '/x?a=1' }, { method: 'put', path: '/y', json: { a: 1 } }] });
    expect(c.cycles).toEqual([1, 5, 10]);
    expect([c.duration, c.startup_delay, c.sleep_time, c.cycle_time, c.apdex_t, c.request_timeout]).toEqual([10, 0.01, 0, 0, 1.5, 30]);
    expect(c.scenario[0]).toEqual({ method: 'GET', path: '/x?a=1', headers: {}, body: undefined, expect: [200, 301, 302, 303, 307], description: 'GET /x?a=1' });
    expect(c.scenario[1]).toMatchObject({ method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  });

  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ cycles: '1:x', scenario: [{ get: '/' }] }, 'cycles', /a list such as \[5, 10, 20\] or FunkLoad's "5:10:20"/],
    [{ cycles: [0], scenario: [{ get: '/' }] }, 'cycles.0', />=\s*1/],
    [{ scenario: [{ get: '/', post: '/' }] }, 'scenario.0', /one method, found get and post/],
    [{ scenario: [{ get: 'items' }] }, 'scenario.0.get', /must start with \/ or be an http\(s\) URL/],
    [{ scenario: [{ method: 'BREW', path: '/' }] }, 'scenario.0.method', /unknown method "BREW"/],
    [{ scenario: [{ get: '/', expect: 999 }] }, 'scenario.0.expect', /./],
    [{ scenario: [{ get: '/', bogus: 1 }] }, 'scenario.0', /bogus/],
    [{ scenario: [{ get: '/' }], sleep_time_min: 2, sleep_time_max: 1 }, 'sleep_time_max', /below sleep_time_min/],
    [{ scenario: [{ get: '/' }], duration: -1 }, 'duration', /./],
    [{ scenario: [] }, 'scenario', /./],
  ];
  it.each(bad)('rejects %j at %s', (raw, path, message) => {
    const r = builtinConfigSchema.safeParse({ base_url: 'http://127.0.0.1:1', ...raw });
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0];
    expect(issue.path.join('.')).toBe(path);
    expect(issue.message).toMatch(message);
  });

  it('needs a base_url for relative paths', () => {
    const r = builtinConfigSchema.safeParse({ scenario: [{ get: '/' }] });
    expect(r.error!.issues[0].path).toEqual(['base_url']);
    expect(builtinConfigSchema.safeParse({ scenario: [{ get: 'http://127.0.0.1:1/' }] }).success).toBe(true);
  });

  it('the example job runs against the demo app and meets its thresholds', async () => {
    // Its services: (the demo app, started by the engine) are the engine's part: here the app is started by hand.
    const { services: _, ...raw } = parseYaml(readFileSync(new URL('../../fixtures/load/builtin.marteau.yml', import.meta.url), 'utf8')) as Record<string, unknown>;
    const demo = await startDemoApp();
    try {
      const c = builtinConfigSchema.parse({ ...raw, base_url: `http://127.0.0.1:${demo.port}`, cycles: [2, 3], duration: 1, cycle_time: 0 });
      const s = (await runBench(c)).summary();
      expect(s.overall.requests.total).toBeGreaterThan(20);
      expect(s.overall.successRate).toBe(1);
      expect(parseThresholds(raw.thresholds).length).toBe(3);
    } finally {
      await demo.close();
    }
  });
});
