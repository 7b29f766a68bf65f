/**
 * Real service faults in a `chaos:` schedule: the config (every mistake at its file:line), and
 * end to end as a user runs it: `marteau-tui --ci fixtures/sweep/service-faults.marteau.yml`
 * starts a real PostgreSQL, a real redis-server and the demo shop (pg and ioredis), restarts
 * PostgreSQL and SIGKILLs redis under load. The shop sees the real thing (its clients log the
 * dropped connections), the report has one fault window per fault, measured like a proxy's.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { TimelineEvent } from '../src/core/events.js';
import { ServiceFaultPlayer } from '../src/core/service-faults.js';
import { ServiceSet } from '../src/core/services.js';
import type { JsonReport } from '../src/report/json.js';
import { dist, ROOT } from './helpers/dist.js';
import { cliDone } from './helpers/marteau-cli.js';
import { configError, parseConfig } from './helpers/marteau-config.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { havePostgres } from './helpers/postgres.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const HEAD = `name: faults
cycles: [1]
duration: 20
scenario: [{get: /}]
base_url: http://127.0.0.1:1
services:
  redis: {command: [redis-server, --port, "\${port}"]}
  db: {command: [postgres, -p, "\${port}"], stop_signal: SIGINT}
proxies:
  cache: {listen: 127.0.0.1:0, upstream: "\${MARTEAU_SERVICE_REDIS}", protocol: redis}
`;
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('{service, fault} entries of chaos:', () => {
  it('are parsed next to the proxy entries, with default names, and the stop signal is kept', () => {
    const c = parseConfig(`${HEAD}chaos:
  - {proxy: cache, at: 1s, for: 2s, behaviors: "100:blackout"}
  - {service: db, at: 4s, fault: restart}
  - {name: redis_down, service: redis, at: 5s, for: 3s, fault: kill}
  - {service: db, at: 9s, for: 1s, fault: freeze}
  - {service: db, at: 12s, fault: stop}
`);
    expect(c.chaos.map((e) => e.name)).toEqual(['cache-1']);
    expect(c.serviceFaults).toEqual([
      { name: 'db-restart-1', service: 'db', fault: 'restart', atMs: 4000 },
      { name: 'redis_down', service: 'redis', fault: 'kill', atMs: 5000, forMs: 3000 },
      { name: 'db-freeze-2', service: 'db', fault: 'freeze', atMs: 9000, forMs: 1000 },
      { name: 'db-stop-3', service: 'db', fault: 'stop', atMs: 12_000 },
    ]);
    expect(c.services.find((s) => s.name === 'db')!.stopSignal).toBe('SIGINT');
    expect(c.services.find((s) => s.name === 'redis')!.stopSignal).toBe('SIGTERM');
  });

  const cases: [string, string, RegExp][] = [
    ['unknown service', '  - {service: dbx, at: 1s, fault: kill}', /unknown service "dbx".*services declared in this config: redis, db/s],
    ['a fault without a service', '  - {proxy: cache, at: 1s, fault: kill}', /`fault:` is for a service/],
    ['a service without a fault', '  - {service: db, at: 1s}', /say what happens to service db: `fault: kill \| stop \| freeze \| restart`/],
    ['a restart with for', '  - {service: db, at: 1s, for: 2s, fault: restart}', /a restart starts the service again at once: it has no `for`/],
    ['behaviors on a service', '  - {service: db, at: 1s, fault: kill, behaviors: "100:delay"}', /`behaviors` is for a proxy/],
    ['a fault past the end of the run', '  - {service: db, at: 19s, for: 5s, fault: stop}', /ends at 24\.0s, past the end of the run/],
    ['an unknown fault', '  - {service: db, at: 1s, fault: explode}', /unknown fault "explode".*one of kill, stop, freeze, restart/s],
  ];
  for (const [what, line, message] of cases) {
    it(`refuses ${what}, at its line`, () => {
      const text = `${HEAD}chaos:\n${line}\n`;
      const e = configError(text);
      expect(e.message).toMatch(message);
      expect(e.line).toBe(lineOf(text, line.trim()));
    });
  }

  it('refuses two faults of one service at once, and allows a proxy and a service at once', () => {
    const text = `${HEAD}chaos:
  - {service: db, at: 2s, for: 5s, fault: kill}
  - {service: db, at: 4s, fault: restart}
`;
    const e = configError(text);
    expect(e.message).toMatch(/overlaps "db-kill-1" on service db \(2\.0s–7\.0s and restart at 4\.0s\)/);
    expect(e.line).toBe(lineOf(text, 'at: 4s'));
    expect(() => parseConfig(`${HEAD}chaos:
  - {service: redis, at: 2s, for: 5s, fault: stop}
  - {proxy: cache, at: 3s, for: 2s, behaviors: "100:error"}
`)).not.toThrow();
  });
});

describe('ServiceFaultPlayer ended before a fault was due', () => {
  it("says the fault was not applied, as a proxy's entry is (a cancelled sweep's db-kill went unsaid)", async () => {
    const lines: string[] = [];
    const player = new ServiceFaultPlayer([{ name: 'db-kill', service: 'db', fault: 'kill', atMs: 35_000, forMs: 3000 }], new ServiceSet({ log: () => {} }), () => {}, (m) => lines.push(m));
    player.start();
    await player.teardown();
    expect(lines).toEqual(['chaos db-kill was not applied: the run ended before 35s']);
  });
});

describe.skipIf(!haveServer('redis-server'))('ServiceFaultPlayer on a real redis-server', () => {
  it('freezes (commands time out) and thaws it, stops it and starts it again on the same port, each on the timeline', async () => {
    const events: TimelineEvent[] = [];
    const services = new ServiceSet({ log: () => {} });
    const ctl = new AbortController();
    const [spec] = parseConfig(`name: f\ncycles: [1]\nduration: 10\nscenario: [{get: /}]\nbase_url: http://127.0.0.1:1\nservices:\n  redis: {command: [redis-server, --port, "\${port}", --save, ""]}\n`).services;
    await services.start([{ ...spec, cwd: tmpdir() }], {}, ctl.signal);
    const port = Number(services.vars().MARTEAU_SERVICE_REDIS_PORT);
    const client = new Redis({ port, host: '127.0.0.1', commandTimeout: 300, maxRetriesPerRequest: 0, retryStrategy: () => 50, lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    const player = new ServiceFaultPlayer(
      [
        { name: 'ice', service: 'redis', fault: 'freeze', atMs: 0, forMs: 1000 },
        { name: 'halt', service: 'redis', fault: 'stop', atMs: 1500, forMs: 500 },
      ],
      services,
      (e) => events.push(e),
      () => {},
    );
    try {
      expect(await client.ping()).toBe('PONG');
      player.start();
      await until(() => events.length === 1);
      // SIGSTOP reaches redis a moment after the event: a command sent meanwhile may still pass.
      await until(async () => /timed out/i.test(await client.ping().catch((e: Error) => e.message)), 900);
      await until(() => events.length === 2);
      expect(await client.ping()).toBe('PONG');
      await until(() => events.length === 3);
      await until(async () => (await client.ping().catch(() => 'down')) === 'down', 400);
      await until(() => events.length === 4);
      await until(async () => (await client.ping().catch(() => '')) === 'PONG');
      expect(events.map((e) => [e.fixture, e.kind, e.action, e.mix, e.label])).toEqual([
        ['ice', 'service', 'apply', 'freeze', 'SIGSTOP'],
        ['ice', 'service', 'restore', '', 'thawed (SIGCONT)'],
        ['halt', 'service', 'apply', 'stop', 'stopped'],
        ['halt', 'service', 'restore', '', expect.stringMatching(/^started again, ready in \d+\.\d\ds$/)],
      ]);
      // On the load clock (a timer may fire a millisecond before Date.now() says it is due).
      expect(events[2].offsetMs).toBeGreaterThanOrEqual(1490);
    } finally {
      client.disconnect();
      await player.teardown();
      await services.stop();
    }
  }, 30_000);
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ready = haveServer('redis-server') && havePostgres();

describe.skipIf(!ready)('a real PostgreSQL restarted and a real redis killed under load', () => {
  let code: number;
  let out: string;
  let report: JsonReport;
  let consoleLog: string;

  beforeAll(async () => {
    const text = (await readFile(path.join(ROOT, 'fixtures/sweep/service-faults.marteau.yml'), 'utf8')).replaceAll('../../dist/fixtures/sweep/', `${dist('fixtures/sweep')}/`);
    const config = path.join(await project(text), '.marteau.yml');
    const r = await cliDone(['--ci', config, '--state-dir', await stateDir()]);
    code = r.code;
    out = r.out;
    const dir = / results: (\S+)/.exec(r.out)?.[1];
    if (!dir) throw new Error(`no results in the output (exit ${r.code}):\n${r.out}\n${r.err}`);
    report = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as JsonReport;
    consoleLog = await readFile(path.join(dir, 'console.log'), 'utf8');
  }, 120_000);

  it('runs the faults on the load clock and the shop sees them for real', () => {
    expect(code, out).toBe(0);
    expect(out).toMatch(/chaos db_restart: service db restart: stopping/);
    expect(out).toMatch(/chaos db_restart: service db started again, ready in \d+\.\d\ds/);
    expect(out).toMatch(/service:redis: exited \(killed by SIGKILL\): a chaos fault/);
    expect(out).toMatch(/chaos redis_kill: service redis started again/);
    // PostgreSQL itself shut down fast (stop_signal SIGINT) and came back on the same data.
    expect(consoleLog).toMatch(/service:db \w+ .*received fast shutdown request/);
    expect(consoleLog.match(/database system is ready to accept connections/g)!.length).toBeGreaterThanOrEqual(2);
    // The shop's real clients lost their connections.
    expect(consoleLog).toMatch(/service:shop stderr pg: /);
    expect(consoleLog).toMatch(/service:shop stderr redis: (?:read ECONNRESET|connect ECONNREFUSED|Connection is closed)/);
  });

  it('measures each as a fault window: 503s while it lasts, then recovered', () => {
    const windows = report.fault_windows!;
    expect(windows.map((w) => [w.name, w.proxy, w.kind, w.mix, w.source])).toEqual([
      ['db_restart', 'db', 'service', 'restart', 'chaos'],
      ['redis_kill', 'redis', 'service', 'kill', 'chaos'],
    ]);
    const [restart, kill] = windows;
    // Timers fire late on a busy machine: starts are about, not exactly, where the config says.
    expect(kill.start - restart.start).toBeGreaterThan(4000);
    expect(kill.start - restart.start).toBeLessThan(6500);
    // kill: down for 2 s, then as long as redis takes to be ready.
    expect(kill.end! - kill.start).toBeGreaterThanOrEqual(2000);
    for (const w of windows) {
      expect(w.effect.requests, w.name).toBeGreaterThan(5);
      expect(w.effect.classes['5xx'], w.name).toBeGreaterThan(0);
      expect(w.effect.classes['5xx'] / (w.effect.requests - w.effect.classes['2xx']), w.name).toBe(1);
      expect(w.effect.injected, w.name).toEqual({});
      expect(w.recovery.status, w.name).toBe('recovered');
      expect(w.recovery.ms!, w.name).toBeLessThan(3000);
    }
    expect(out).toMatch(/fault window redis_kill \(service redis: kill, \d+\.\ds\) → [<>]?\d+ % HTTP 503/);
  });

  it('removes the PostgreSQL data directory with the service at the end of the run', () => {
    const key = /--key (\S+)/.exec(consoleLog)![1];
    expect(existsSync(path.join(tmpdir(), `marteau-pg-${key}`))).toBe(false);
  });
});
