/**
 * Fault windows, recovery and attribution for every runner, not only builtin: one `chaos:`
 * schedule (a blackout of the redis proxy, then a real PostgreSQL restart) over the sweep demo
 * shop (real redis-server behind the chaos proxy, real PostgreSQL, pg and ioredis) under
 *  - the real FunkLoad 1.17.2 (its result XML's per-request times),
 *  - the real Locust (the plugin's per-request counts),
 *  - a command running the real fl-run-bench that writes FunkLoad XML (`xml:`),
 *  - a command that measures nothing itself (a node script requesting the shop).
 * Each report has both windows, measured by the same code as builtin's; the service fault is on
 * its fault timeline as a mix event, like the proxy's.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import type { EngineEvent } from '../../src/core/events.js';
import type { Job } from '../../src/core/jobs.js';
import type { JsonReport } from '../../src/report/json.js';
import { dist } from '../helpers/dist.js';
import { realFunkload } from '../helpers/funkload.js';
import { havePostgres } from '../helpers/postgres.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer } from '../helpers/servers.js';

const fl = realFunkload();
const ready = fl !== undefined && haveServer('redis-server') && havePostgres() && haveServer('locust');

const SHOP = `services:
  redis: {command: [redis-server, --port, "\${port}", --bind, 127.0.0.1, --save, "", --appendonly, "no"]}
  db:
    command: [node, ${JSON.stringify(dist('fixtures/sweep/postgres-service.js'))}, --port, "\${port}", --key, "\${MARTEAU_JOB_ID}"]
    ready: {log: ready to accept connections}
    stop_signal: SIGINT
  shop:
    command: [node, ${JSON.stringify(dist('fixtures/sweep/shop-app.js'))}, --port, "\${port}", --redis, "\${MARTEAU_PROXY_CACHE}", --pg, "\${MARTEAU_SERVICE_DB}"]
    ready: {http: /health}
proxies:
  cache: {listen: 127.0.0.1:0, upstream: "\${MARTEAU_SERVICE_REDIS}", protocol: redis}
chaos:
  - {name: cache_down, proxy: cache, at: 5s, for: 2s, behaviors: "100:blackout"}
  - {name: db_restart, service: db, at: 11s, fault: restart}
recovery: {window: 1s, baseline: 4s, success_rate_tolerance: 1%, p95_tolerance: 50%, p95_slack: 30ms}
timeout: 3m
`;

const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase


class Shop(FunkLoadTestCase):
    def test_product(self):
        self.get(self.conf_get('main', 'url') + '/product/7', description='a product page')
`;
const CONF = `[main]\ntitle=Shop\ndescription=The sweep demo shop\nurl=http://127.0.0.1:1\n\n[test_product]\ndescription=a product page\n\n[bench]\ncycles = 3\nduration = 18\nstartup_delay = 0.01\nsleep_time = 0.05\ncycle_time = 0\nlog_to =\nlog_path = shop-bench.log\nresult_path = shop-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0.05\n`;
const LOCUSTFILE = `from locust import HttpUser, task, between


class Shopper(HttpUser):
    wait_time = between(0.02, 0.05)

    @task
    def product(self):
        self.client.get("/product/7", name="product")
`;
/** A command that requests the shop and measures nothing itself: bounded in time and count. */
const LOAD_SCRIPT = `const url = process.argv[2];
const end = Date.now() + 16000;
for (let i = 0; i < 20000 && Date.now() < end; i++) {
  await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.arrayBuffer()).catch(() => {});
  await new Promise((r) => setTimeout(r, 20));
}
`;

afterAll(removeTemp);

describe.skipIf(!ready)('a chaos schedule on every runner (real shop, redis behind the proxy, real PostgreSQL)', () => {
  const jobs: Record<string, { done: Readonly<Job>; report: JsonReport; log: string[] }> = {};

  beforeAll(async () => {
    const projects: Record<string, string> = {
      funkload: await project(`name: fl-chaos\nrunner: funkload\nscript: loadtest.py\ntest: Shop.test_product\ncycles: [3]\nduration: 18\nurl: http://\${MARTEAU_SERVICE_SHOP}\nthresholds: {success_rate: ">= 10%"}\n${SHOP}`, {
        'loadtest.py': LOADTEST,
        'Shop.conf': CONF,
      }),
      locust: await project(`name: locust-chaos\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://\${MARTEAU_SERVICE_SHOP}\ncycles: [3]\nduration: 18\nspawn_rate: 100\nthresholds: {success_rate: ">= 10%"}\n${SHOP}`, {
        'locustfile.py': LOCUSTFILE,
      }),
      flcommand: await project(
        `name: fl-command\nrunner: command\ncommand: [${JSON.stringify(`${fl!.bin}/fl-run-bench`)}, loadtest.py, Shop.test_product, --url, "http://\${MARTEAU_SERVICE_SHOP}"]\nxml: shop-bench.xml\n${SHOP}`,
        { 'loadtest.py': LOADTEST, 'Shop.conf': CONF },
      ),
      command: await project(`name: plain-command\nrunner: command\ncommand: [node, load.mjs, "http://\${MARTEAU_SERVICE_SHOP}/product/7"]\n${SHOP}`, { 'load.mjs': LOAD_SCRIPT }),
    };
    const nodes = localNodes(2);
    nodes.nodes = [{ type: 'local', name: 'local', maxJobs: 2, tags: [], enabled: true, funkload: fl!.bin }];
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes, run: 'all' });
    const events: EngineEvent[] = [];
    e.events.on('*', (x) => events.push(x));
    await e.start();
    try {
      const ids: Record<string, string> = {};
      for (const [name, dir] of Object.entries(projects)) ids[name] = (await e.enqueue(dir)).id;
      const done = await e.waitFor(Object.values(ids));
      for (const [name, id] of Object.entries(ids)) {
        const log = events.flatMap((x) => (x.type === 'log.line' && x.jobId === id ? [`${x.node ?? '-'} ${x.stream}: ${x.line}`] : []));
        const job = done.find((j) => j.id === id)!;
        const file = path.join(e.resultDir(id), 'summary.json');
        const report = JSON.parse(await readFile(file, 'utf8').catch(() => { throw new Error(`${name}: no summary.json (${job.status}: ${job.reason})\n${log.join('\n')}`); })) as JsonReport;
        jobs[name] = { done: job, report, log };
      }
    } finally {
      await e.stop();
    }
  }, 600_000);

  for (const name of ['funkload', 'locust', 'flcommand', 'command']) {
    it(`${name}: both fault windows, the service fault on the fault timeline as a mix event`, () => {
      const { done, report, log } = jobs[name];
      // A command's exit status stays its verdict: fl-run-bench exits 1 on the 503s (FAILURE).
      expect(done.status, `${done.reason}\n${log.join('\n')}`).toBe(name === 'flcommand' ? 'failed' : 'succeeded');
      if (name === 'flcommand') expect(done.exitCode).toBe(1);
      const windows = report.fault_windows!;
      expect(windows.map((w) => [w.name, w.proxy, w.kind ?? 'proxy', w.mix, w.source])).toEqual([
        ['cache_down', 'cache', 'proxy', '100:blackout', 'chaos'],
        ['db_restart', 'db', 'service', 'restart', 'chaos'],
      ]);
      // On the load clock: about 6 s apart, whatever the runner's start-up took.
      expect(windows[1].start - windows[0].start).toBeGreaterThan(5000);
      expect(windows[1].start - windows[0].start).toBeLessThan(7500);
      // 2 s on the schedule's clock: a loaded machine may apply the start late (1.74 s seen at
      // load 35), never the end early.
      expect(windows[0].end! - windows[0].start).toBeGreaterThanOrEqual(1500);
      expect(windows[0].end! - windows[0].start).toBeLessThan(2600);
      // The proxy's blackout is counted as it injected it; the restart is the real thing.
      expect(windows[0].effect.injected.blackout).toBeGreaterThan(0);
      expect(windows[1].effect.injected).toEqual({});
      const mixes = report.proxy_events.filter((e) => e.kind === 'mix').map((e) => [e.proxy, (e as { mix: string }).mix]);
      expect(mixes).toContainEqual(['cache', '100:blackout']);
      expect(mixes).toContainEqual(['service db', 'restart']);
      expect(report.proxy_events.some((e) => e.kind === 'fault' && e.proxy === 'cache' && e.behavior === 'blackout' && e.count > 0)).toBe(true);
      // Proxy counts: the shop's redis commands went through the proxy, some blacked out.
      const a = report.attribution!;
      expect(a.proxies.find((p) => p.proxy === 'cache')!.exchanges).toBeGreaterThan(10);
      expect(a.rows.find((r) => r.proxy === 'cache' && r.behavior === 'blackout')!.faults).toBeGreaterThan(0);
      // The log line gives the window as measured above (1.5 to 2.6 s).
      expect(log.some((l) => /fault window cache_down \(cache: 100:blackout, (1\.[5-9]|2\.[0-6])s\)/.test(l)), log.join('\n')).toBe(true);
    });
  }

  for (const name of ['funkload', 'locust', 'flcommand']) {
    it(`${name}: the requests measure each window (503s while it lasts), recovery and attribution`, () => {
      const { report } = jobs[name];
      for (const w of report.fault_windows!) {
        expect(w.effect.requests, w.name).toBeGreaterThan(5);
        expect(w.effect.classes['5xx'], w.name).toBeGreaterThan(0);
        expect(w.recovery.status, `${w.name}: ${w.recovery_text}`).toBe('recovered');
        expect(w.recovery.baseline!.requests, w.name).toBeGreaterThan(5);
      }
      const a = report.attribution!;
      expect(a.requests).toBe(report.overall.requests.total);
      // Each page the shop served counted a view in redis through the proxy, while in flight.
      const cache = a.proxies.find((p) => p.proxy === 'cache')!;
      expect(cache.overlapped).toBeGreaterThan(a.requests / 2);
      const row = a.rows.find((r) => r.proxy === 'cache' && r.behavior === 'blackout')!;
      expect(row.overlapped).toBeGreaterThan(0);
      expect(row.failed).toBeGreaterThan(0);
    });
  }

  it('command without its own measure: the windows and proxy counts, and no recovery claimed', () => {
    const { report } = jobs.command;
    expect(report.overall.requests.total).toBe(0);
    // Nothing measured, nothing claimed: "no baseline", or "ongoing" when a loaded machine's
    // PostgreSQL restart outlasted the command.
    for (const w of report.fault_windows!) expect(w.recovery.status, w.name).toBe(w.end === undefined ? 'ongoing' : 'no baseline');
  });
});
