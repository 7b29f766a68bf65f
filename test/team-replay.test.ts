/**
 * Replay, retry and the team queue's guarantees, each on the real path: real `marteau-tui`
 * processes (--ci, replay, retry, queue, worker), a real redis-server, kill -9 of a worker.
 *   - a --ci job replayed or retried afterwards runs (it is not reaped as the --ci run's orphan);
 *   - in team mode a replay started from another terminal uses the recorded seed and the named
 *     chaos file, whoever runs it, and `queue` says where the results are;
 *   - /16 on a 16-database Redis is refused; two workers may not share a node name;
 *   - a killed worker's job process dies with it: with lost_jobs: requeue, two copies never overlap;
 *   - one claim record per job however many workers; the stream is trimmed, `queue --purge` empties it.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { TimelineEvent } from '../src/core/events.js';
import type { JournalRecord } from '../src/core/jobs.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { ROOT } from './helpers/dist.js';
import { startEchoServer } from './helpers/echo.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, started, until, urlOf, viewer, worker } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(async () => {
  await removeTemp();
});

/** A job with a chaos proxy (its seed is drawn, logged and recorded) that exits at once. */
async function seededProject(upstreamPort: number, chaosFile = false): Promise<string> {
  const chaos = `- {name: flaky, proxy: echo, at: 0s, behaviors: "50:delay"}\n`;
  return project(
    `name: seeded\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 300)'])}\ntimeout: 30s\n` +
      `proxies:\n  echo: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstreamPort}", protocol: tcp}\n` +
      (chaosFile ? 'chaos: chaos.yml\n' : `chaos:\n  ${chaos}`),
    chaosFile ? { 'chaos.yml': chaos } : {},
  );
}

const resultOf = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8')) as { seed: string; status: string };
const changesOf = async (dir: string) => (JSON.parse(await readFile(path.join(dir, 'timeline.json'), 'utf8')) as TimelineEvent[]).map((e) => [e.fixture, e.action, e.mix]);

describe('replay and retry of a --ci job (the README sequence)', () => {
  it('--ci, then replay and retry: both stay queued (no orphan reaping) and a worker runs them, the replay with the seed', async () => {
    const echo = await startEchoServer();
    try {
      const state = await stateDir();
      const dir = await seededProject(echo.port);
      const ci = await cliDone(['--ci', dir, '--state-dir', state]);
      expect(ci.code, ci.out + ci.err).toBe(0);
      const id = /job ([0-9a-f]{8}) /.exec(ci.out)![1];
      const seed = /seed (\d+) \(marteau-tui replay/.exec(ci.out)![1];

      const replay = await cliDone(['replay', id, '--state-dir', state]);
      expect(replay.code, replay.err).toBe(0);
      expect(replay.out).toContain(`(replay of ${id}, seed ${seed})`);
      const retry = await cliDone(['retry', id, '--state-dir', state]);
      expect(retry.code, retry.err).toBe(0);
      // Any later command used to reap them as the dead --ci process's jobs.
      const listed = await cliDone(['queue', '--json', '--state-dir', state]);
      const jobs = JSON.parse(listed.out) as { id: string; status: string; origin?: string; retryOf?: string }[];
      const again = jobs.filter((j) => j.retryOf?.startsWith(id));
      expect(again.map((j) => [j.status, j.origin])).toEqual([
        ['queued', 'cli'],
        ['queued', 'cli'],
      ]);

      const w = await cliDone(['worker', '--drain', '--nodes', path.join(ROOT, 'marteau.nodes.yml'), '--state-dir', state]);
      expect(w.code, w.out + w.err).toBe(0);
      const [replayed, retried] = await Promise.all(again.map((j) => resultOf(path.join(state, 'jobs', j.id))));
      expect(replayed).toMatchObject({ status: 'succeeded', seed });
      expect(retried.status).toBe('succeeded');
    } finally {
      await echo.close();
    }
  }, 240_000);
});

describe.skipIf(!HAVE)('team mode: replay from any terminal', () => {
  it('the seed, the named chaos file and the config travel through Redis; queue says where the results are', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    const echo = await startEchoServer();
    let v: Engine | undefined;
    try {
      const dir = await seededProject(echo.port, true);
      v = await viewer(url);
      const first = await v.enqueue(dir, { origin: 'cli' });
      // The chaos file as enqueued is what runs, even if it is gone from the project now.
      await rm(path.join(dir, 'chaos.yml'));
      const s1 = await stateDir();
      const w1 = await worker(url, await nodesFile('nodes:\n  box1: {type: local}\n'), s1);
      const [done] = await v.waitFor([first.id]);
      expect(done.status, done.reason).toBe('succeeded');
      const dir1 = path.join(s1, 'jobs', first.id);
      const { seed } = await resultOf(dir1);
      expect(await changesOf(dir1)).toEqual([
        ['flaky', 'apply', '50:delay'],
        ['flaky', 'restore', '100:dummy'],
      ]);
      w1.child.kill('SIGTERM');
      expect(await w1.exited).toBe(130);

      // Another terminal (its own state dir): where the results are, and a replay with the seed.
      const other = await stateDir();
      const listed = await cliDone(['queue', '--json', '--queue', url, '--state-dir', other]);
      expect((JSON.parse(listed.out) as { id: string; resultDir: string }[]).find((j) => j.id === first.id)?.resultDir).toBe(dir1);
      const replay = await cliDone(['replay', first.id.slice(0, 8), '--queue', url, '--state-dir', other]);
      expect(replay.code, replay.err).toBe(0);
      expect(replay.out).toContain(`seed ${seed})`);
      const againId = /^queued ([0-9a-f]{8})/.exec(replay.out)![1];

      // A third machine's worker runs it: the recorded seed, the same chaos.
      const s2 = await stateDir();
      const w2 = await cliDone(['worker', '--drain', '--queue', url, '--nodes', await nodesFile('nodes:\n  box2: {type: local}\n'), '--state-dir', s2]);
      expect(w2.code, w2.out + w2.err).toBe(0);
      // Its seed line's replay command finds the job through the shared queue: no --state-dir in it.
      expect(w2.out + w2.err).toMatch(/seed \d+ \(marteau-tui replay [0-9a-f]{8} runs the same faults again\)/);
      await v.queue.sync();
      const again = v.queue.get(v.queue.resolve(againId))!;
      expect(again.status).toBe('succeeded');
      expect(again.nodesTaken).toEqual(['box2']);
      const dir2 = path.join(s2, 'jobs', again.id);
      expect((await resultOf(dir2)).seed).toBe(seed);
      expect(await changesOf(dir2)).toEqual(await changesOf(dir1));
    } finally {
      await v?.stop();
      await echo.close();
      await redis.stop();
    }
  }, 240_000);
});

describe.skipIf(!HAVE)('team mode: queue URL and node names', () => {
  it('a database past the server\'s last is exit 2 with the range, never db 0', async () => {
    const redis = await startRedis();
    try {
      const r = await cliDone(['queue', '--queue', `redis://127.0.0.1:${redis.port}/16`, '--state-dir', await stateDir()]);
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.err).toContain(`redis://127.0.0.1:${redis.port}/16: database 16 does not exist on this Redis (it has 16: 0 to 15)`);
      expect(r.err).not.toMatch(/\n\s+at /);
      const db0 = new Redis(redis.port, '127.0.0.1');
      expect(await db0.dbsize()).toBe(0); // nothing written to db 0 either
      db0.disconnect();
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it('two workers with the packaged nodes file: the second is refused (exit 2) with the fix', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    try {
      const packaged = path.join(ROOT, 'marteau.nodes.yml');
      await worker(url, packaged);
      const second = await cliDone(['worker', '--queue', url, '--nodes', packaged, '--state-dir', await stateDir()]);
      expect(second.code, second.out + second.err).toBe(2);
      expect(second.err).toMatch(/node "local" is already run by another worker on redis:\/\/127\.0\.0\.1:\d+\/0 \(pid \d+ on .+\): on a shared queue every worker's nodes need names of their own/);
      expect(second.err).toMatch(/instead of "local"\) with --nodes FILE or \$MARTEAU_NODES/);
    } finally {
      for (const w of started.splice(0)) w.child.kill('SIGKILL');
      await redis.stop();
    }
  }, 90_000);

  it('a worker stalled past its heartbeat TTL on this host still holds its node names', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    const raw = new Redis(redis.port, '127.0.0.1');
    let first: Awaited<ReturnType<typeof worker>> | undefined;
    try {
      const packaged = path.join(ROOT, 'marteau.nodes.yml');
      first = await worker(url, packaged);
      // Stalled (as a loaded machine can stall it), its heartbeat gone as if its TTL had lapsed.
      first.child.kill('SIGSTOP');
      const alive = await raw.keys('*alive:*');
      expect(alive.length).toBeGreaterThan(0);
      await raw.del(...alive);
      const second = cli(['worker', '--queue', url, '--nodes', packaged, '--state-dir', await stateDir()]);
      started.push(second);
      const code = await Promise.race([second.exited, new Promise<string>((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
      expect(code, second.out() + second.err()).toBe(2);
      expect(second.err()).toMatch(/node "local" is already run by another worker/);
    } finally {
      first?.child.kill('SIGCONT');
      for (const w of started.splice(0)) w.child.kill('SIGKILL');
      raw.disconnect();
      await redis.stop();
    }
  }, 60_000);
});

/**
 * A job that writes `tick <pid> <ms>` to its trace every 50 ms for HOLD_MS: long enough that a
 * first copy left running would still tick when the requeued copy starts (about 6 s later).
 */
const TICKER = `
const fs = require('node:fs');
const t = setInterval(() => fs.appendFileSync(process.env.TRACE, 'tick ' + process.pid + ' ' + Date.now() + '\\n'), 50);
setTimeout(() => clearInterval(t), Number(process.env.HOLD_MS));
`;

describe.skipIf(!HAVE)('team mode: a lost worker\'s job', () => {
  it('lost_jobs: requeue and kill -9 of its worker: the copy that ran there is dead before the new one starts', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    let v: Engine | undefined;
    try {
      const trace = path.join(await temp('trace'), 'trace.log');
      await writeFile(trace, '');
      const dir = await project(`name: ticker\n${commandYaml([process.execPath, 'tick.cjs'])}\ntimeout: 60s\nenv: {TRACE: ${JSON.stringify(trace)}, HOLD_MS: "12000"}\n`, { 'tick.cjs': TICKER });
      const nodes = (name: string) => nodesFile(`queue: {url: "${url}", lost_jobs: requeue}\nnodes:\n  ${name}: {type: local}\n`);
      v = await viewer(url);
      const w1 = await worker(url, await nodes('box1'));
      const w2 = await worker(url, await nodes('box2'));
      const job = await v.enqueue(dir, { origin: 'cli' });
      await until('the second job running', () => v!.queue.get(job.id)?.status === 'running' && v!.queue.get(job.id)?.procs.length, 20_000);
      const victim = v.queue.get(job.id)!.owner!.pid === w1.child.pid ? w1 : w2;
      const firstCopy = v.queue.get(job.id)!.procs[0].pgid;
      // Killed once it ticks: a loaded machine may take longer than any fixed pause to start it.
      await until('the first copy ticking', () => readFileSync(trace, 'utf8').includes(`tick ${firstCopy} `), 20_000);
      victim.child.kill('SIGKILL');
      await until('the job requeued', () => v!.queue.get(job.id)?.status !== 'running' || v!.queue.get(job.id)?.owner?.pid !== victim.child.pid, 20_000);
      const [done] = await v.waitFor([job.id]);
      expect(done.status, done.reason).toBe('succeeded');
      expect(done.owner?.pid).not.toBe(victim.child.pid);

      const ticks = (await readFile(trace, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ').slice(1).map(Number));
      const secondCopy = done.procs[0].pgid;
      const lastOfFirst = Math.max(...ticks.filter(([pid]) => pid === firstCopy).map(([, at]) => at));
      const firstOfSecond = Math.min(...ticks.filter(([pid]) => pid === secondCopy).map(([, at]) => at));
      expect(Number.isFinite(lastOfFirst) && Number.isFinite(firstOfSecond)).toBe(true);
      expect(lastOfFirst).toBeLessThan(firstOfSecond);
    } finally {
      for (const w of started.splice(0)) w.child.kill('SIGKILL');
      await v?.stop();
      await redis.stop();
    }
  }, 120_000);
});

describe.skipIf(!HAVE)('team mode: the stream', () => {
  it('eight engines: exactly one claim record per job; the history is trimmed to its limit and `queue --purge 0` empties it', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    const engines: Engine[] = [];
    const raw = new Redis(redis.port, '127.0.0.1');
    try {
      for (let i = 0; i < 8; i++) {
        const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), nodes: [{ ...localNodes(1).nodes[0], name: `n${i}` }], queue: { url: parseQueueUrl(url), lostJobs: 'interrupt' } }, run: 'all' });
        await e.start();
        engines.push(e);
      }
      const dir = await project(`name: quick\n${commandYaml(['true'])}\n`);
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) ids.push((await engines[i % 8].enqueue(dir, { origin: 'cli' })).id);
      const done = await engines[0].waitFor(ids);
      expect(done.map((j) => j.status)).toEqual(ids.map(() => 'succeeded'));
      const records = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as JournalRecord);
      const claims = records.filter((r) => r.t === 'claimed');
      expect(claims).toHaveLength(24);
      expect(new Set(claims.map((r) => (r as { id: string }).id))).toEqual(new Set(ids));
      for (const e of engines.splice(0)) await e.stop();

      // A queue keeping 10 finished jobs trims the other 14 at its first heartbeat round.
      const q = new RedisQueue({ url: parseQueueUrl(url), keepFinished: 10, heartbeatTtlMs: 500 });
      await q.open();
      await until('the trim', () => q.list().length === 10, 10_000);
      await q.close();
      // The newest ten by their end stay; a reader that joins now never sees the others.
      const byEnd = [...done].sort((a, b) => a.endedAt! - b.endedAt!).map((j) => j.id);
      const fresh = new RedisQueue({ url: parseQueueUrl(url) });
      await fresh.open();
      expect(new Set(fresh.list().map((j) => j.id))).toEqual(new Set(byEnd.slice(14)));
      await fresh.close();
      expect(await raw.exists(...byEnd.slice(0, 14).map((id) => `marteau:files:${id}`))).toBe(0);
      expect(await raw.hlen('marteau:claims')).toBe(10);
      const before = await raw.xlen('marteau:log');

      const purge = await cliDone(['queue', '--purge', '0', '--queue', url, '--state-dir', await stateDir()]);
      expect(purge.code, purge.err).toBe(0);
      expect(purge.out).toContain(`purged 10 finished jobs from ${url}`);
      const listed = await cliDone(['queue', '--json', '--queue', url, '--state-dir', await stateDir()]);
      expect(JSON.parse(listed.out)).toEqual([]);
      expect(await raw.xlen('marteau:log')).toBeLessThan(before);
      expect(await raw.hlen('marteau:claims')).toBe(0);
    } finally {
      raw.disconnect();
      for (const e of engines) await e.stop();
      await redis.stop();
    }
  }, 180_000);
});

describe('a cancelled job', () => {
  it('says it was stopped, never "exit 0" nor "exit stopped"', async () => {
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
    await e.start();
    try {
      const summaries: string[] = [];
      e.events.on('job.finished', (ev) => summaries.push(ev.summary));
      const engineLines: string[] = [];
      e.events.on('log.line', (ev) => ev.stream === 'engine' && engineLines.push(ev.line));
      const job = await e.enqueue(await project(`name: long\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 30000)'])}\n`));
      await until('running', () => e.queue.get(job.id)?.procs.length, 20_000);
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      expect(done.status).toBe('cancelled');
      expect(done.exitCode).toBeUndefined();
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatch(/^cancelled: by a user in .* \(stopped on 1 node\)$/);
      expect(summaries[0]).not.toContain('exit 0');
      expect(engineLines).toContain('stopped: cancelled by a user');
      expect(engineLines.join('\n')).not.toMatch(/exit stopped/);
    } finally {
      await e.stop();
    }
  }, 60_000);
});
