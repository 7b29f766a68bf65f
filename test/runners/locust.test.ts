/**
 * The locust runner for real: Debian's Locust against the demo shop app, run through the engine
 * on this machine: results per cycle, the 404 step counted as failures, reports, thresholds deciding the job, and the clear errors of a
 * missing locustfile, a broken one, and a missing locust binary.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApp, type DemoApp } from '../../fixtures/demo/app.js';
import { ConfigError } from '../../src/config/errors.js';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import type { EngineEvent } from '../../src/core/events.js';
import { dist, ROOT } from '../helpers/dist.js';
import { cliDone } from '../helpers/marteau-cli.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer } from '../helpers/servers.js';
import { processesWith } from '../helpers/sshd.js';

// Real Locust starts in ~1 s per cycle on an idle machine; much more on a busy shared one.
const SLOW = 180_000;
const LOCUSTFILE = path.join(import.meta.dirname, '../../fixtures/locust/locustfile.py');

let app: DemoApp;
let locustfile: string;
beforeAll(async () => {
  app = await startDemoApp(0);
  locustfile = await readFile(LOCUSTFILE, 'utf8');
});
afterAll(async () => {
  await app?.close();
  await removeTemp();
});

const yaml = (extra = '') => `name: shop-locust
runner: locust
locustfile: locustfile.py
base_url: http://127.0.0.1:${app.port}
cycles: [1, 3]
duration: 1.5
spawn_rate: 100
cycle_time: 0.2
timeout: 180s
${extra}`;

interface Summary {
  passed: boolean;
  cycles: { cvus: number; start: number; end: number; duration: number; requests: { total: number; success: number; rps: number }; errors: Record<string, number>; steps: { url: string; total: number; success: number }[] }[];
  overall: { requests: { total: number; rps: number } };
  timeline: { requests: number }[];
  thresholds: { name: string; passed: boolean }[];
}

async function runJob(dir: string, nodes = localNodes(1)) {
  const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes, run: 'all' });
  const events: EngineEvent[] = [];
  e.events.on('*', (x) => events.push(x));
  await e.start();
  try {
    const job = await e.enqueue(dir);
    if (process.env.LOCUST_DEBUG) e.events.on('log.line', (x) => console.log('LOG', x.node, x.stream, x.line));
    const [done] = await e.waitFor([job.id]);
    const logs = events.flatMap((x) => (x.type === 'log.line' ? [`${x.node ?? ''} ${x.stream} ${x.line}`] : []));
    return { done, events, logs, resultDir: e.resultDir(job.id) };
  } finally {
    await e.stop();
  }
}

const summaryOf = async (resultDir: string): Promise<Summary> => JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8'));

describe.skipIf(!haveServer('locust'))('locust runner (real Locust, demo app)', () => {
  it('runs each cycle with its users, counts the 404 step as failures, writes the reports', async () => {
    const dir = await project(yaml('thresholds: {success_rate: ">= 50%", p95: "< 2s"}\n'), { 'locustfile.py': locustfile });
    const { done, events, logs, resultDir } = await runJob(dir);
    expect(done.status, logs.join('\n')).toBe('succeeded');
    const s = await summaryOf(resultDir);
    expect(s.cycles.map((c) => c.cvus)).toEqual([1, 3]);
    for (const c of s.cycles) {
      expect(c.requests.total).toBeGreaterThan(0);
      // Recording starts when the last user is up and lasts `duration`.
      expect((c.end - c.start) / 1000).toBeGreaterThan(1.3);
      expect((c.end - c.start) / 1000).toBeLessThan(2.5);
      const missing = c.steps.find((st) => st.url === 'missing item');
      const failed = c.requests.total - c.requests.success;
      // Only the 404 step fails, every time, and under its status.
      expect(failed).toBe(missing?.total ?? 0);
      expect(missing?.success ?? 0).toBe(0);
      expect(c.errors).toEqual(failed ? { 'status 404': failed } : {});
      for (const st of c.steps.filter((x) => x.url !== 'missing item')) expect(st.success).toBe(st.total);
    }
    // Three users do more than one in the same time.
    expect(s.cycles[1].requests.total).toBeGreaterThan(s.cycles[0].requests.total);
    expect(s.timeline.reduce((n, b) => n + b.requests, 0)).toBe(s.overall.requests.total);
    expect(s.thresholds.map((t) => [t.name, t.passed])).toEqual([['success_rate >= 50%', true], ['p95 < 2s', true]]);
    for (const f of ['index.html', 'summary.json', 'junit.xml', 'nodes/local/cycle-0_stats.csv', 'nodes/local/cycle-1_failures.csv']) {
      expect(existsSync(path.join(resultDir, f)), f).toBe(true);
    }
    expect(await readFile(path.join(resultDir, 'index.html'), 'utf8')).toContain('missing item');
    expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toMatch(/<testcase [^>]*name="success_rate/);
    const finished = events.find((x) => x.type === 'job.finished');
    expect(finished && 'summary' in finished ? finished.summary : '').toMatch(/\(\d+ requests, [\d.]+ % errors, [\d.]+ req\/s, p95 /);
    // Live progress: users of each cycle as Locust reports them, with request counts.
    const progress = events.flatMap((x) => (x.type === 'job.progress' ? [x.progress] : []));
    expect(progress.some((p) => p.cycle === 0 && p.users === 1 && (p.requests ?? 0) > 0)).toBe(true);
    expect(progress.some((p) => p.cycle === 1 && p.users === 3 && (p.requestsPerSecond ?? 0) > 0)).toBe(true);
    // The plugin's lines are progress, not log noise.
    expect(logs.some((l) => l.includes('##marteau'))).toBe(false);
    // `marteau-tui report` rebuilds the same results from the job's directory (record + CSVs).
    const out = path.join(resultDir, 'again');
    const again = await cliDone(['report', resultDir, '-o', out]);
    expect(again.code, again.out + again.err).toBe(0);
    const rebuilt = await summaryOf(out);
    expect(rebuilt.cycles).toEqual(s.cycles);
    expect(rebuilt.timeline).toEqual(s.timeline);
    const diff = await cliDone(['report', '--diff', resultDir, resultDir, '-o', path.join(resultDir, 'diff')]);
    expect(diff.code, diff.out + diff.err).toBe(0);
    expect(existsSync(path.join(resultDir, 'diff', 'diff.html'))).toBe(true);
  }, SLOW);

  it('a threshold that fails gives a failed job (a test failure) with its reason, reports still written', async () => {
    const dir = await project(yaml('thresholds: {success_rate: ">= 99.9%"}\n'), { 'locustfile.py': locustfile.replace('@task(1)', '@task(5)') });
    const { done, resultDir } = await runJob(dir);
    expect(done).toMatchObject({ status: 'failed', failure: 'test' });
    expect(done.reason).toMatch(/1 threshold\(s\) failed: success_rate >= 99\.9%/);
    const s = await summaryOf(resultDir);
    expect(s.passed).toBe(false);
    expect(existsSync(path.join(resultDir, 'index.html'))).toBe(true);
  }, SLOW);

  it('a Python error in the locustfile is a config failure naming file:line, with no stack trace', async () => {
    const dir = await project(yaml(), { 'locustfile.py': `from locust import HttpUser, task\nimport shop_client_that_is_not_installed\n` });
    const { done } = await runJob(dir);
    expect(done).toMatchObject({ status: 'failed', failure: 'config' });
    expect(done.reason).toBe(
      `node "local": Locust could not start locustfile.py: locustfile.py:2: ModuleNotFoundError: No module named 'shop_client_that_is_not_installed'`,
    );
  }, SLOW);

  it('cancel mid-cycle stops Locust at once (no process left) and keeps what was measured', async () => {
    const dir = await project(yaml().replace('cycles: [1, 3]', 'cycles: [2, 2]').replace('duration: 1.5', 'duration: 60'), { 'locustfile.py': locustfile });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
    await e.start();
    try {
      const job = await e.enqueue(dir);
      const recording = new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId === job.id && x.progress.users === 2 && (x.progress.requests ?? 0) > 0) resolve();
        }),
      );
      await recording;
      // Locust's command line holds the job's result dir, hence its id.
      expect(processesWith(job.id).length).toBeGreaterThan(0);
      const started = Date.now();
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      expect(done.status).toBe('cancelled');
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(processesWith(job.id)).toEqual([]);
      const s = JSON.parse(await readFile(path.join(e.resultDir(job.id), 'summary.json'), 'utf8')) as Summary & { aborted: boolean };
      expect(s.aborted).toBe(true);
      expect(s.cycles.map((c) => c.cvus)).toEqual([2]);
      // Locust's shutdown on SIGTERM wrote the cycle's CSVs: the counts are in the report.
      expect(s.cycles[0].requests.total).toBeGreaterThan(0);
      expect(s.timeline.reduce((n, b) => n + b.requests, 0)).toBeGreaterThan(0);
      // Rates over the seconds it ran, as builtin's: not the configured 60 s, which would read ~30 times too slow.
      const [c] = s.cycles;
      const ran = (c.end - c.start) / 1000;
      expect(ran).toBeGreaterThan(0);
      expect(ran).toBeLessThan(30);
      // summary.json keeps times to the ms and rates to 4 digits: compared within 0.5 %.
      expect(c.duration).toBeCloseTo(ran, 2);
      expect((c.requests.rps * ran) / c.requests.total).toBeCloseTo(1, 2);
      expect((s.overall.requests.rps * ran) / c.requests.total).toBeCloseTo(1, 2);
      // `marteau-tui report` rebuilds the same rates from the job's record (exit 130: it was interrupted).
      const out = path.join(e.resultDir(job.id), 'again');
      const again = await cliDone(['report', e.resultDir(job.id), '-o', out]);
      expect(again.code, again.out + again.err).toBe(130);
      expect((await summaryOf(out)).cycles).toEqual(s.cycles);
    } finally {
      await e.stop();
    }
  }, SLOW);

  it('no locust on the node is an infrastructure failure that says how to install it', async () => {
    const dir = await project(yaml(`env: {PATH: ${JSON.stringify(path.join(os.tmpdir(), 'no-such-dir'))}}\n`), { 'locustfile.py': locustfile });
    const { done } = await runJob(dir);
    expect(done).toMatchObject({ status: 'failed', failure: 'infrastructure' });
    expect(done.reason).toMatch(/node "local": locust is not installed \(install Debian's python3-locust, or pip install locust\)/);
  });
  // On several nodes Locust runs distributed: see locust-distributed.test.ts.
});

describe.skipIf(!haveServer('locust'))('marteau-tui --ci with the locust runner (built CLI)', () => {
  it('fixtures/locust passes: the demo app as a service, Locust through the chaos proxy, three reports', async () => {
    dist('fixtures/demo/serve.js');
    const state = await stateDir();
    const r = await cliDone(['--ci', path.join(ROOT, 'fixtures/locust'), '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/queued \(runner locust, 1 node\)/);
    expect(r.out).toMatch(/fixture shop_errors: applied shop mix 20:error/);
    expect(r.out).toMatch(/PASS success_rate >= 75%/);
    const done = /succeeded in .*\((\d+) requests, ([\d.]+) % errors.*results: (\S+)  report: (\S+)/.exec(r.out);
    expect(done, r.out).not.toBeNull();
    expect(Number(done![1])).toBeGreaterThan(0);
    // The 404 step and the proxy's injected errors are both failures.
    expect(Number(done![2])).toBeGreaterThan(0);
    const s = await summaryOf(done![3]);
    expect(Object.keys(s.cycles[1].errors)).toContain('status 404');
    expect(existsSync(done![4])).toBe(true);
    // Nothing left in the project (no __pycache__, no CSV).
    expect(readdirSync(path.join(ROOT, 'fixtures/locust')).sort()).toEqual(['.marteau.yml', 'locustfile.py', 'recorded']);
  }, SLOW);

  it('a locustfile that does not import exits 2 with one line naming file:line, the traceback in a file', async () => {
    const dir = await project(yaml(), { 'locustfile.py': `from locust import HttpUser, task\nimport shop_client_that_is_not_installed\n` });
    const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out + r.err).toContain(`locustfile.py:2: ModuleNotFoundError: No module named 'shop_client_that_is_not_installed'`);
    expect(r.out + r.err).not.toMatch(/Traceback|File "/);
    const log = /its output is in (\S+)/.exec(r.out + r.err)?.[1];
    expect(log, r.out + r.err).toBeDefined();
    expect(await readFile(log!, 'utf8')).toMatch(/Traceback[\s\S]*line 2, in <module>/);
  }, SLOW);
});

describe('locust runner config', () => {
  it('a locustfile that does not exist is a config error at its line, with a hint', async () => {
    const dir = await project('name: x\nrunner: locust\ncycles: [1]\nlocustfile: tests/nope.py\n');
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'none' });
    await e.start();
    try {
      const err = await e.enqueue(dir).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/\.marteau\.yml:4:\d+: locustfile: tests\/nope\.py does not exist in /);
      expect((err as ConfigError).message).toMatch(/relative to the project directory/);
    } finally {
      await e.stop();
    }
  });

  it('master_host must be one address: all interfaces is refused at its line', async () => {
    const dir = await project('name: x\nrunner: locust\ncycles: [1]\nmaster_host: 0.0.0.0\n', { 'locustfile.py': 'from locust import User\n' });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'none' });
    await e.start();
    try {
      const err = await e.enqueue(dir).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/\.marteau\.yml:4:\d+: .*master_host.*one address of this machine, not all of them/);
    } finally {
      await e.stop();
    }
  });
});
