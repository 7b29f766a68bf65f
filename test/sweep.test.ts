/**
 * The resilience sweep. Pure: the plan (backends found from proxies and services, the seed's
 * order, --only, per-backend expectations, mistakes at file:line). End to end, as a user runs it:
 * `marteau-tui sweep` on the demo shop (a real redis-server behind the chaos proxy, a real
 * PostgreSQL killed for real, the shop on pg and ioredis) gives the matrix in HTML (read in a
 * real headless Chromium), JSON and JUnit; the same seed runs the same schedule again; and a cell
 * that misses its expectation fails `sweep --ci` with exit 1.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonReport } from '../src/report/json.js';
import { dist, ROOT } from './helpers/dist.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { steadyVerdict } from '../src/config/sweep.js';
import { cellMix, type MatrixCell } from '../src/runners/matrix.js';
import { steadyFromThresholds } from '../src/runners/steady.js';
import { parseThresholds } from '../src/config/thresholds.js';
import { configError, parseConfig } from './helpers/marteau-config.js';
import { havePostgres } from './helpers/postgres.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const SHOP = `name: shop
cycles: [3, 6]
scenario: [{get: /product/1}]
base_url: http://\${MARTEAU_SERVICE_SHOP}
services:
  redis: {command: [redis-server, --port, "\${port}"]}
  db: {command: [postgres, -p, "\${port}"]}
  mq: {command: [mq, "\${port}"]}
  shop: {command: [shop, --redis, "\${MARTEAU_PROXY_CACHE}", --pg, "\${MARTEAU_SERVICE_DB}"], ready: {http: /health}}
proxies:
  cache: {listen: 127.0.0.1:0, upstream: "\${MARTEAU_SERVICE_REDIS}", protocol: redis}
  api: {listen: 127.0.0.1:0, upstream: 127.0.0.1:9, protocol: http}
`;

describe('the sweep plan', () => {
  it('finds the backends: each proxy (with the service behind it) and each service the app uses, not the app', () => {
    const c = parseConfig(`${SHOP}chaos: sweep\nseed: 1\n`);
    const plan = c.sweep!;
    expect(plan.backends).toEqual([
      { name: 'cache', proxy: 'cache', service: 'redis' },
      { name: 'api', proxy: 'api' },
      { name: 'db', service: 'db' },
      { name: 'mq', service: 'mq' },
    ]);
    expect(plan.cells.map((x) => x.name).sort()).toEqual(['api-down', 'api-errors', 'api-slow', 'cache-down', 'cache-errors', 'cache-kill', 'cache-slow', 'db-kill', 'mq-kill']);
    // Each step 3s then 4s of gap (8s after a process fault), after a 3s lead; the load is one
    // cycle (the first's users) that long.
    const starts: number[] = [];
    let t = 3000;
    for (const x of plan.cells) {
      starts.push(t);
      t += 3000 + (x.kind === 'process' ? 8000 : 4000);
    }
    expect(plan.cells.map((x) => x.atMs)).toEqual(starts);
    expect(plan.lengthMs).toBe(3000 + 6 * (3000 + 4000) + 3 * (3000 + 8000));
    expect(c.cycles).toEqual([3]);
    expect(c.runLength.ms).toBeGreaterThanOrEqual(plan.lengthMs);
    // The schedule the players run: proxy steps and real service faults.
    expect(c.chaos.find((e) => e.name === 'cache-slow')).toMatchObject({ proxy: 'cache', forMs: 3000, shape: { kind: 'step', behaviors: { delay: { percent: 100, sleep: 2 } } } });
    expect(c.serviceFaults.find((e) => e.name === 'cache-kill')).toMatchObject({ service: 'redis', fault: 'kill', forMs: 3000 });
    expect(c.recovery).toMatchObject({ windowMs: 1000, steadyStateMs: 3000 });
  });

  it('orders the steps by the seed: the same seed, the same schedule; another seed, another order', () => {
    const order = (seed: string) => parseConfig(`${SHOP}chaos: sweep\nseed: ${seed}\n`).sweep!.cells.map((c) => c.name);
    const a = order('42');
    expect(order('42')).toEqual(a);
    const others = ['1', '2', '3', '4'].map((s) => order(s));
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true);
    expect([...a].sort()).toEqual([...others[0]].sort());
  });

  it('narrows with only, takes the durations, the process fault and per-backend expectations', () => {
    const c = parseConfig(`${SHOP}seed: 3
chaos:
  sweep: {only: [db, redis], step: 2s, gap: 1s, lead: 1s, process: restart, faults: [down, process], backends: {redis: {expect: [2xx, 503], within: 300ms}}}
`);
    const plan = c.sweep!;
    expect(plan.backends.map((b) => b.name)).toEqual(['cache', 'db']);
    expect(plan.cells.map((x) => [x.name, x.expect, x.withinMs]).sort()).toEqual([
      ['cache-down', ['2xx', '503'], 300],
      ['cache-restart', ['2xx', '503'], 300],
      ['db-restart', ['5xx'], 1000],
    ]);
    expect(c.serviceFaults.map((e) => e.fault)).toEqual(['restart', 'restart']);
    expect(c.serviceFaults.every((e) => e.forMs === undefined)).toBe(true);
    expect(plan.lengthMs).toBe(1000 + (2000 + 1000) + 2 * (2000 + 2000));
  });

  it('judges the steady state: success rate (default 99 %) and an optional p95 bound', () => {
    const plan = parseConfig(`${SHOP}chaos:\n  sweep: {steady_state: {success_rate: 90%, p95: 200ms}}\n`).sweep!;
    expect(plan.steady).toEqual({ successRate: 0.9, p95Ms: 200, source: 'steady_state' });
    expect(parseConfig(`${SHOP}chaos: sweep\n`).sweep!.steady).toEqual({ successRate: 0.99, source: 'default' });
    expect(steadyVerdict({ requests: 100, ok: 95, p95: 150 }, plan.steady)).toMatchObject({ ok: true, successRate: 0.95 });
    expect(steadyVerdict({ requests: 100, ok: 80, p95: 350 }, plan.steady)).toMatchObject({ ok: false, why: 'success rate 80.0 % < 90.0 %, p95 350ms > 200ms' });
    expect(steadyVerdict({ requests: 0, ok: 0 }, plan.steady)).toMatchObject({ ok: false, why: 'no request finished' });
  });

  it('without steady_state, takes the steady state from the whole-run thresholds (the strictest bound), else the default', () => {
    const steadyOf = (extra: string) => {
      const c = parseConfig(`${SHOP}${extra}`);
      return steadyFromThresholds(c.sweep!.steady, parseThresholds(c.raw.thresholds));
    };
    expect(steadyOf('chaos: sweep\nthresholds: {success_rate: ">= 95%", error_rate: "< 2%", p95: "< 400ms", "during.cache-down.p95": "< 1s"}\n')).toEqual({ successRate: 0.98, p95Ms: 400, source: 'thresholds' });
    // A p95 bound alone: the default success rate stays.
    expect(steadyOf('chaos: sweep\nthresholds: {p95: "<= 250ms", rps: "> 1"}\n')).toEqual({ successRate: 0.99, p95Ms: 250, source: 'thresholds' });
    // Nothing about the steady load (a per-cycle bound, a window's): the default.
    expect(steadyOf('chaos: sweep\nthresholds: {p95: "< 1s per cycle", "during.cache-down.success_rate": "> 0%"}\n')).toEqual({ successRate: 0.99, source: 'default' });
    // steady_state: wins over thresholds.
    expect(steadyOf('chaos:\n  sweep: {steady_state: {success_rate: 50%}}\nthresholds: {success_rate: ">= 95%"}\n')).toEqual({ successRate: 0.5, source: 'steady_state' });
    expect(steadyVerdict({ requests: 10, ok: 9, p95: 500 }, { successRate: 0.98, p95Ms: 400, source: 'thresholds' }).why).toBe('success rate 90.0 % < 98.0 %, p95 500ms > 400ms (steady state from thresholds:)');
  });

  it('says what cannot be swept, at its line', () => {
    const text = `${SHOP}chaos:\n  sweep: {only: [redsi]}\n`;
    const e = configError(text);
    expect(e.message).toMatch(/"redsi" is not a backend of this project.*backends: cache, api, db, mq/s);
    expect(e.line).toBe(text.split('\n').length - 1);
    expect(configError(`${SHOP}chaos:\n  sweep: {stepp: 2s}\n`).message).toMatch(/stepp/);
    expect(configError(`name: x\nrunner: command\ncommand: [true]\nchaos: sweep\n`).message).toMatch(/nothing to sweep|builtin runner/);
  });
});

const ready = haveServer('redis-server') && havePostgres() && haveServer('chromium', ['/usr/bin']);

interface Run {
  code: number;
  out: string;
  dir: string;
  report: JsonReport;
  junit: string;
}

async function sweep(args: string[], edit: (t: string) => string = (t) => t): Promise<Run> {
  const fixture = (await readFile(path.join(ROOT, 'fixtures/sweep/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/sweep/', `${dist('fixtures/sweep')}/`);
  // Two sweeps beside a parallel test suite: latency drifts from the lead's by more than the
  // default 10 ms slack without anything failing. 250 ms still tells a recovered shop from one
  // still slow (its slow step answers after 500 ms).
  const text = edit(`${fixture}recovery: {p95_slack: 250ms}\n`);
  const dir = await project(text);
  const r = await cliDone(['sweep', dir, '--state-dir', await stateDir(), ...args]);
  const results = / results: (\S+)/.exec(r.out)?.[1];
  if (!results) throw new Error(`no results in the output (exit ${r.code}):\n${r.out}\n${r.err}`);
  return {
    code: r.code,
    out: r.out,
    dir: results,
    report: JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as JsonReport,
    junit: await readFile(path.join(results, 'junit.xml'), 'utf8'),
  };
}

describe('marteau-tui sweep flags', () => {
  it('a flag the config check refuses is a usage error naming the flag, before anything is started or printed', async () => {
    const dir = await project((await readFile(path.join(ROOT, 'fixtures/sweep/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/sweep/', `${dist('fixtures/sweep')}/`));
    const r = await cliDone(['sweep', dir, '--state-dir', await stateDir(), '--step', '0']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('marteau-tui: --step: must be more than 0\n');
    expect(r.out).toBe('');
  });

  // Plain `sweep` exits 0 on a failing cell (the matrix tells); its closing line said
  // "marteau-tui --ci: 1 job: 1 failed (4.5s) exit 1" and the command exited 0.
  it('says the exit code it exits with, and its own name: a failing cell is exit 0 without --ci, 1 with it', async () => {
    // The demo shop's proxy blacked out: its requests fail to connect, not the 5xx a cell expects.
    const demo = (await readFile(path.join(ROOT, 'fixtures/demo/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/demo/', `${dist('fixtures/demo')}/`);
    const dir = await project(demo);
    const args = ['--only', 'shop', '--faults', 'down', '--step', '1s', '--gap', '1s', '--lead', '2s'];
    const [plain, ci] = await Promise.all([
      cliDone(['sweep', dir, '--state-dir', await stateDir(), ...args]),
      cliDone(['sweep', dir, '--ci', '--state-dir', await stateDir(), ...args]),
    ]);
    expect(plain.out, plain.err).toMatch(/FAIL shop down \(100 % blackout\): .*\(expected 5xx\)\n/);
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out).toMatch(/^marteau-tui sweep: 1 job, state dir /);
    expect(plain.out).toMatch(/\nmarteau-tui sweep: 1 job: 1 failed \(.*\) exit 0 \(--ci: exit 1\)\n$/);
    expect(ci.code, ci.out).toBe(1);
    expect(ci.out).toMatch(/^marteau-tui sweep --ci: 1 job, state dir /);
    expect(ci.out).toMatch(/\nmarteau-tui sweep --ci: 1 job: 1 failed \(.*\) exit 1\n$/);
  }, 60_000);
});

describe.skipIf(!ready)('marteau-tui sweep on the demo shop (real redis-server and PostgreSQL)', () => {
  let first: Run;
  let again: Run;
  let strict: Run;

  beforeAll(async () => {
    const quick = ['--step', '2s'];
    // Two at once (separate services, proxies, ports and state dirs), not more: a shop on a
    // starved machine is not steady, and the sweep rightly refuses to fault it.
    [first, again] = await Promise.all([sweep(['--seed', '7', ...quick]), sweep(['--seed', '7', ...quick])]);
    // db answers its 503s in tens of ms: 1 ms is an expectation no app meets.
    strict = await sweep(['--ci', '--only', 'db', ...quick], (t) => t.replace('chaos: sweep', 'chaos:\n  sweep: {backends: {db: {within: 1ms}}}'));
  }, 300_000);

  it('takes each backend through each fault it can have, and the shop passes every cell', () => {
    expect(first.code, first.out).toBe(0);
    const m = first.report.matrix!;
    expect(Object.keys(first.report)[0]).toBe('matrix');
    expect(m.seed).toBe('7');
    expect(m.backends).toEqual(['redis', 'db']);
    expect(m.cells.map((c) => `${c.backend} ${c.kind}`).sort()).toEqual(['db process', 'redis down', 'redis errors', 'redis process', 'redis slow']);
    for (const c of m.cells) {
      expect(c.verdict, `${c.name}: ${c.why}`).toBe('pass');
      expect(c.requests, c.name).toBeGreaterThan(0);
      expect(c.status['5xx'], c.name).toBeGreaterThan(0);
      expect(c.p95_ms!, c.name).toBeLessThanOrEqual(1000);
      expect(c.recovery.status, c.name).toBe('recovered');
    }
    // The slow step: redis answers 2 s late, the shop gives up after 0.5 s with a 503.
    const slow = m.cells.find((c) => c.kind === 'slow')!;
    expect(slow.p95_ms!).toBeGreaterThan(400);
    expect(first.out).toMatch(/resilience matrix \(seed 7\): 5\/5 cells pass; steady before and after/);
    expect(m.steady!.before).toMatchObject({ ok: true });
    expect(m.steady!.after).toMatchObject({ ok: true });
    expect(first.out).toMatch(/PASS db process \(SIGKILL, started again after 2s\): \d+ requests: >?\d+ % 5xx/);
  });

  it('runs the same schedule again with the same seed', () => {
    expect(again.code, again.out).toBe(0);
    const plan = (r: Run) => r.report.matrix!.cells.map((c) => [c.name, c.at_s, c.for_s, c.fault]);
    expect(plan(again)).toEqual(plan(first));
    // And the windows really ran in that order on the load clock.
    const started = (r: Run) => [...r.report.fault_windows!].sort((a, b) => a.start - b.start).map((w) => w.name);
    expect(started(first)).toEqual(plan(first).map((p) => p[0]));
    expect(started(again)).toEqual(started(first));
  });

  it('writes one JUnit test case per cell', () => {
    const cases = [...first.junit.matchAll(/<testcase classname="marteau\.shop-sweep\.matrix\.(\w+)" name="(\w+): /g)].map((x) => `${x[1]} ${x[2]}`);
    expect(cases.sort()).toEqual(['db process', 'redis down', 'redis errors', 'redis process', 'redis slow']);
    expect(first.junit).toMatch(/<testcase classname="marteau\.shop-sweep\.matrix" name="steady state before" time="0"\/>/);
    expect(first.junit).toMatch(/<testcase classname="marteau\.shop-sweep\.matrix" name="steady state after" time="0"\/>/);
    expect(first.junit).toMatch(/<testsuites name="marteau-tui" tests="\d+" failures="0"/);
  });

  it('fails sweep --ci (exit 1) when a cell misses its expectation, and says why', () => {
    expect(strict.code, strict.out).toBe(1);
    const [cell] = strict.report.matrix!.cells;
    expect(strict.report.matrix!.cells).toHaveLength(1);
    expect(cell).toMatchObject({ backend: 'db', kind: 'process', verdict: 'fail', met: false, within_ms: 1 });
    expect(cell.why).toMatch(/^p95 \d+ms > 1ms/);
    expect(strict.junit).toMatch(/failures="1"/);
    expect(strict.junit).toMatch(/<failure message="p95 \d+ms &gt; 1ms/);
    expect(strict.out).toMatch(/FAIL db process .* — p95 \d+ms > 1ms/);
  });

  it('opens the HTML report with the matrix, in a real Chromium', async () => {
    const profile = mkdtempSync(path.join(tmpdir(), 'marteau-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      await page.goto(`file://${path.join(first.dir, 'index.html')}`, { waitUntil: 'load' });
      const seen = await page.evaluate(() => ({
        firstSection: document.querySelector('h2')?.textContent,
        headers: [...document.querySelectorAll('table.matrix tr:first-child th')].map((t) => t.textContent),
        rows: [...document.querySelectorAll('table.matrix tr')].slice(1).map((tr) => [...tr.children].map((td) => (td.tagName === 'TH' ? td.textContent : ((td as HTMLElement).dataset.verdict ?? td.textContent)))),
        passColor: getComputedStyle(document.querySelector('table.matrix td.pass')!).backgroundColor,
        visible: (document.querySelector('table.matrix') as HTMLElement).getBoundingClientRect().height > 50,
      }));
      expect(seen.firstSection).toBe('Resilience matrix');
      expect(seen.headers).toEqual(['backend', 'down (blackout)', 'slow (delay)', 'protocol errors', 'process fault (real)']);
      expect(seen.rows).toEqual([
        ['redis', 'pass', 'pass', 'pass', 'pass'],
        ['db', 'n/a', 'n/a', 'n/a', 'pass'],
      ]);
      expect(seen.passColor).toBe('rgb(220, 252, 231)');
      expect(seen.visible).toBe(true);
      await page.screenshot({ path: path.join(first.dir, 'matrix.png') });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.skipIf(!ready)('a sweep whose thresholds: the load cannot meet, without steady_state:', () => {
  it('takes them as the steady state: injects nothing and exits 3, saying where the rule came from', async () => {
    // No real request answers within a tenth of a millisecond.
    const r = await sweep(['--ci', '--lead', '2s', '--only', 'redis', '--faults', 'down'], (t) => `${t}thresholds: {p95: "< 0.1ms"}\n`);
    expect(r.code, r.out).toBe(3);
    expect(r.out).toMatch(/unsteady before the first fault: p95 \d+ms > 0\.1ms \(steady state from thresholds:\); no fault is injected/);
    expect(r.report.fault_windows ?? []).toEqual([]);
    expect(r.report.matrix!.steady!.before).toMatchObject({ ok: false });
  }, 120_000);
});

describe.skipIf(!ready)('a sweep of a shop that fails before any fault', () => {
  it('injects nothing and exits 3, saying the load was not steady', async () => {
    // Every request asks for a product that does not exist: 404s from the start.
    const r = await sweep(['--ci', '--lead', '2s', '--only', 'redis', '--faults', 'down'], (t) => t.replace('/product/7', '/product/9999'));
    expect(r.code, r.out).toBe(3);
    expect(r.out).toMatch(/unsteady before the first fault: success rate 0\.0 % < 99\.0 %; no fault is injected/);
    expect(r.out).toMatch(/failed: the load was not steady before the first fault \(success rate 0\.0 % < 99\.0 %\); no fault was injected/);
    expect(r.out).not.toMatch(/chaos redis-down \(step\): applied/);
    expect(r.out).toMatch(/chaos redis-down was not applied/);
    expect(r.report.fault_windows ?? []).toEqual([]);
    expect(r.report.matrix!.steady!.before).toMatchObject({ ok: false });
  }, 120_000);
});

describe.skipIf(!ready)('a sweep cancelled during its first fault', () => {
  it('judges what ran, leaves the rest and the steady state after it unjudged (SKIP), never FAIL; exit 130', async () => {
    const fixture = (await readFile(path.join(ROOT, 'fixtures/sweep/.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/sweep/', `${dist('fixtures/sweep')}/`);
    const run = cli(['sweep', await project(fixture), '--ci', '--state-dir', await stateDir(), '--only', 'redis', '--faults', 'down,errors', '--lead', '2s']);
    await run.waitFor(/chaos redis-\w+ \(step\): applied/, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exited, run.out()).toBe(130);
    const out = run.out();
    // It said 'FAIL ... the fault never ran', and 'NOT steady after the last fault' of the blackout it was cancelled in.
    expect(out).toMatch(/resilience matrix \(seed \d+\): 0\/2 cells pass; after the last fault not judged \(the run stopped before it: cancelled by a user\)/);
    // The signal may land before any request started in the window (matrix.test has both cases).
    expect(out).toMatch(/SKIP redis (down|errors) \([^)]+\): (\d+ requests: .*|no request, p95 -); ongoing: the fault was still on when the run ended — the run stopped before its recovery could be judged \(cancelled by a user\)/);
    expect(out).toMatch(/SKIP redis (down|errors) \([^)]+\): no request, p95 -; not run — the run stopped before it \(cancelled by a user\)/);
    expect(out).not.toMatch(/FAIL redis|NOT steady/);
    const results = / results: (\S+)/.exec(out)![1];
    const report = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as JsonReport;
    expect(report.matrix!.cells.map((c) => c.verdict)).toEqual(['skip', 'skip']);
    expect(report.matrix!.steady!.after).toMatchObject({ skipped: true });
    const junit = await readFile(path.join(results, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuite [^>]*skipped="3"/);
    expect(junit.match(/<skipped message="the run stopped before/g)).toHaveLength(3);
  }, 120_000);
});

describe.skipIf(!ready)("the demo shop's PostgreSQL service where PostgreSQL is not installed", () => {
  it('says which program it could not run and how to get it, exit 3 (it exited without a word)', () => {
    // A mount namespace of its own hides the PostgreSQL binaries from this one process (root, Linux).
    const key = `nopg-${process.pid}-${Date.now()}`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs none /usr/lib/postgresql && exec "${process.execPath}" "${dist('fixtures/sweep/postgres-service.js')}" --port 1 --key ${key}`], { encoding: 'utf8', timeout: 30_000 });
    rmSync(path.join(tmpdir(), `marteau-pg-${key}`), { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^cannot run PostgreSQL's initdb \(.*\): it is in none of \/usr\/lib\/postgresql\/17\/bin, .*; install PostgreSQL \(e\.g\. apt-get install postgresql\)\n$/);
  });
});

describe("a matrix cell's shares", () => {
  it('read as its fault window\'s: never all or none when neither (it read "100 % 5xx, 0 % 2xx" beside ">99 % HTTP 503, <1 % HTTP 200")', () => {
    const status = { '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 12764, timeout: 0, connection: 0 };
    expect(cellMix({ requests: 12765, status } as unknown as MatrixCell)).toBe('12765 requests: >99 % 5xx, <1 % 2xx');
    expect(cellMix({ requests: 4, status: { ...status, '2xx': 1, '5xx': 3 } } as unknown as MatrixCell)).toBe('4 requests: 75 % 5xx, 25 % 2xx');
  });
});
