/**
 * Seeds and replay on a real backend: a job drives the same redis traffic through a chaos
 * proxy; replaying it (same seed, same config) hits the same exchanges with the same faults,
 * a retry (new seed) does not. Also `fail_first` on a real redis, and `marteau-tui replay`.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { TimelineEvent } from '../src/core/events.js';
import type { ProxyEvent } from '../src/proxy/proxy.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';

const run = haveServer('redis-server');
let redis: RunningServer;
beforeAll(async () => {
  if (run) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  await removeTemp();
});
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

/**
 * The job: 80 INCRs one after the other on one connection (a new one after the proxy closes
 * it), each outcome written down in order. Bounded: every reply waits at most 2 s.
 */
const CLIENT = `
import net from 'node:net';
import { writeFileSync } from 'node:fs';
const [host, port] = process.env.MARTEAU_PROXY_REDIS.split(':');
const seen = [];
const connect = (h, p) => new Promise((ok, ko) => { const s = net.connect(Number(p), h, () => ok(s)); s.once('error', ko); s.setEncoding('utf8'); });
// With a second proxy, a PING through it before each INCR: its draws interleave with redis's.
const cache = process.env.MARTEAU_PROXY_CACHE && await connect(...process.env.MARTEAU_PROXY_CACHE.split(':'));
let sock;
for (let i = 0; i < 80; i++) {
  if (cache) {
    await new Promise((done) => { cache.once('data', done); cache.write('*1\\r\\n$4\\r\\nPING\\r\\n'); });
  }
  if (!sock) sock = await connect(host, port);
  const got = await new Promise((done) => {
    let data = '';
    const finish = (v) => { clearTimeout(t); sock.removeAllListeners('data'); sock.removeAllListeners('close'); sock.removeAllListeners('error'); done(v); };
    const t = setTimeout(() => finish('timeout'), 2000);
    sock.on('data', (d) => { data += d; if (data.endsWith('\\r\\n')) finish(data.trim()); });
    sock.on('close', () => finish('closed'));
    sock.on('error', () => finish('closed'));
    sock.write('*2\\r\\n$4\\r\\nINCR\\r\\n$7\\r\\nchaos:n\\r\\n');
  });
  if (got === 'closed' || got === 'timeout') { sock.destroy(); sock = undefined; }
  // The counter's value depends on earlier runs: only "a number" matters.
  seen.push(got.startsWith(':') ? 'ok' : got);
}
sock?.destroy();
cache?.destroy();
writeFileSync(process.env.MARTEAU_RESULT_DIR + '/seen.json', JSON.stringify(seen));
`;

async function chaosProject(extra = '', moreProxies = ''): Promise<string> {
  return project(
    `name: seeded
${commandYaml([process.execPath, 'client.mjs'])}
timeout: 60s
proxies:
${moreProxies}  redis: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${redis.port}", protocol: redis}
chaos:
  - {name: flaky, proxy: redis, at: 0s, behaviors: {error: 20, blackout: 10, delay: {percent: 15, sleep: 0.01}}}
${extra}`,
    { 'client.mjs': CLIENT },
  );
}

async function engine(state?: string): Promise<Engine> {
  const e = new Engine({ runners: loadRunners, stateDir: state ?? (await stateDir()), nodes: localNodes(1), run: 'all' });
  engines.push(e);
  await e.start();
  return e;
}

const seen = async (e: Engine, id: string): Promise<string[]> => {
  const text = await readFile(path.join(e.resultDir(id), 'seen.json'), 'utf8').catch(async () => {
    throw new Error(`the client wrote nothing:\n${await readFile(path.join(e.resultDir(id), 'console.log'), 'utf8')}`);
  });
  return JSON.parse(text);
};
const result = async (e: Engine, id: string) => JSON.parse(await readFile(path.join(e.resultDir(id), 'result.json'), 'utf8')) as { seed: string; status: string };

describe.runIf(run)('seeded chaos on a real redis', () => {
  it('replay gives the same faults on the same exchanges; retry draws a new seed and others', async () => {
    const state = await stateDir();
    const e = await engine(state);
    const first = await e.enqueue(await chaosProject());
    await e.waitFor([first.id]);
    const a = await seen(e, first.id);
    const seedA = (await result(e, first.id)).seed;
    expect(seedA).toMatch(/^\d+$/);
    // The traffic met every kind of fault, and passed too: a sequence worth comparing.
    expect(a.filter((x) => x === 'ok').length).toBeGreaterThan(20);
    expect(a.some((x) => x.startsWith('-'))).toBe(true);
    expect(a).toContain('closed');

    const again = await e.replay(first.id);
    expect(again.seed).toBe(seedA);
    await e.waitFor([again.id]);
    expect(await seen(e, again.id)).toEqual(a);
    expect((await result(e, again.id)).seed).toBe(seedA);
    // And the same recorded schedule of mix changes.
    const changes = async (id: string) => (JSON.parse(await readFile(path.join(e.resultDir(id), 'timeline.json'), 'utf8')) as TimelineEvent[]).map((x) => [x.fixture, x.action, x.mix, x.label]);
    expect(await changes(again.id)).toEqual(await changes(first.id));
    expect(await changes(first.id)).toEqual([['flaky', 'apply', '20:error,10:blackout,15:delay', 'step'], ['flaky', 'restore', '100:dummy', 'end of the run']]);

    const retry = await e.retry(first.id);
    await e.waitFor([retry.id]);
    expect((await result(e, retry.id)).seed).not.toBe(seedA);
    expect(await seen(e, retry.id)).not.toEqual(a);
    await e.stop();

    // The CLI: replay queues it with the recorded seed; a job that never ran has none.
    const r = await cliDone(['replay', first.id.slice(0, 8), '--state-dir', state]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^queued [0-9a-f]{8} "seeded" \\(replay of ${first.id.slice(0, 8)}, seed ${seedA}\\)\\n$`));
  });

  it('a seed in the config gives the same sequence to separate jobs, and adding a proxy shifts no other\'s draws', async () => {
    const e = await engine();
    const j1 = await e.enqueue(await chaosProject('seed: 1234\n'));
    // Another proxy, declared first, drawing faults of its own between the redis exchanges.
    const cache = `  cache: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${redis.port}", protocol: redis}\n`;
    const j2 = await e.enqueue(await chaosProject('  - {proxy: cache, at: 0s, behaviors: "50:error"}\nseed: 1234\n', cache));
    await e.waitFor([j1.id, j2.id]);
    expect((await result(e, j1.id)).seed).toBe('1234');
    expect(await seen(e, j2.id)).toEqual(await seen(e, j1.id));
  });

  it('fail_first: the first N exchanges of each connection fail, then it passes', async () => {
    const proxy = await startProxy({ name: 'redis', listen: '127.0.0.1:0', upstream: `127.0.0.1:${redis.port}`, protocol: 'redis', behaviors: { fail_first: { percent: 100, exchanges: 2 } } });
    const faults: ProxyEvent[] = [];
    proxy.on('event', (ev: ProxyEvent) => { if (ev.type === 'proxy.fault') faults.push(ev); });
    try {
      const replies = async () => {
        const s = net.connect(proxy.port, '127.0.0.1');
        s.setEncoding('utf8');
        const out: string[] = [];
        let buf = '';
        for (let i = 0; i < 4; i++) {
          const got = new Promise<string>((ok) => {
            const onData = (d: string) => {
              buf += d;
              const end = buf.indexOf('\r\n');
              if (end === -1) return;
              s.off('data', onData);
              ok(buf.slice(0, end));
              buf = buf.slice(end + 2);
            };
            s.on('data', onData);
          });
          s.write('*1\r\n$4\r\nPING\r\n');
          out.push((await got).slice(0, 7));
        }
        s.destroy();
        return out;
      };
      expect(await replies()).toEqual(['-LOADIN', '-LOADIN', '+PONG', '+PONG']);
      expect(await replies()).toEqual(['-LOADIN', '-LOADIN', '+PONG', '+PONG']);
      expect(faults.map((f) => (f as { behavior: string }).behavior)).toEqual(['fail_first', 'fail_first', 'fail_first', 'fail_first']);
    } finally {
      await proxy.close(0);
    }
  });
});

describe('replay of a job that never ran', () => {
  it('is refused with a hint: there is no seed to replay', async () => {
    const state = await stateDir();
    const e = new Engine({ runners: loadRunners, stateDir: state, nodes: localNodes(1), run: 'none' });
    await e.start();
    const job = await e.enqueue(await project(`name: never\n${commandYaml(['true'])}\n`));
    await e.cancel(job.id);
    await expect(e.replay(job.id)).rejects.toThrow(/never started, so it has no seed to replay; use retry/);
    await e.stop();
    const r = await cliDone(['replay', job.id, '--state-dir', state]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/never started, so it has no seed to replay; use retry/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
