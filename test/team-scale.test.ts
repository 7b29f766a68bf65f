/**
 * The team queue as workers are added, on the real path (a real redis-server, real
 * `marteau-tui worker` processes): one claim record per job however many workers race for it,
 * and no job run twice or lost. How fast is bench:queue's business, not a test's.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/core/engine.js';
import type { JournalRecord } from '../src/core/jobs.js';
import { parseQueueUrl } from '../src/core/queue-url.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { removeTemp } from './helpers/projects.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, readTrace, tracedProject, until, urlOf, viewer, worker } from './helpers/team.js';

const HAVE = haveServer('redis-server');
afterAll(async () => {
  await removeTemp();
});

const spec = { name: 'j', source: { kind: 'dir' as const, dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] };

/** Two queue connections (two processes' views) on a fresh redis-server. */
async function withTwoQueues(fn: (a: RedisQueue, b: RedisQueue, port: number) => Promise<void>): Promise<void> {
  const redis = await startRedis();
  const url = parseQueueUrl(urlOf(redis));
  const [a, b] = [new RedisQueue({ url }), new RedisQueue({ url })];
  try {
    await a.open();
    await b.open();
    await fn(a, b, redis.port);
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
}

describe.skipIf(!HAVE)('the team queue with many workers', () => {
  it('a claim falls through to the next job when another worker holds the first, in one call', () =>
    withTwoQueues(async (a, b, port) => {
      const ids = [(await a.enqueue(spec)).id, (await a.enqueue(spec)).id, (await a.enqueue(spec)).id];
      await b.sync();
      expect(await a.claimFirst(ids, [{ name: 'na', max: 5 }])).toMatchObject({ id: ids[0] });
      // b has not read a's claim yet: the gate in Redis, not b's view, sends it to the second job.
      const got = await b.claimFirst(ids, [{ name: 'nb', max: 5 }]);
      expect(got?.id).toBe(ids[1]);
      expect(b.get(ids[1])?.claim).toBe(got?.claim);
      expect(await b.claimFirst(ids.slice(0, 2), [{ name: 'nb', max: 5 }])).toBeUndefined();
      const raw = new Redis(port, '127.0.0.1');
      const claims = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as JournalRecord).filter((r) => r.t === 'claimed');
      raw.disconnect();
      expect(claims.map((r) => (r as { id: string }).id)).toEqual([ids[0], ids[1]]);
    }));

  it("a job's end hands its node to the next queued job in the same call: the claim follows the end record", () =>
    withTwoQueues(async (a, b, port) => {
      const [j1, j2, j3] = [(await a.enqueue(spec)).id, (await a.enqueue(spec)).id, (await a.enqueue(spec)).id];
      await b.sync();
      const node = [{ name: 'nb', max: 1 }];
      const claim = await b.claim(j1, node);
      // Another worker holds j2's gate: the node falls through to j3.
      expect(await a.claimFirst([j2], [{ name: 'na', max: 1 }])).toMatchObject({ id: j2 });
      const next = await b.finishAndClaim(j1, claim!, { status: 'succeeded' }, [j2, j3], node);
      expect(next?.id).toBe(j3);
      // The node (max_jobs 1) was free for it only because the end came first, in the same script.
      expect(b.get(j1)?.status).toBe('succeeded');
      expect(b.get(j3)).toMatchObject({ status: 'running', claim: next?.claim, nodesTaken: ['nb'] });
      const raw = new Redis(port, '127.0.0.1');
      const records = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as JournalRecord);
      raw.disconnect();
      expect(records.slice(-2).map((r) => [r.t, 'id' in r ? r.id : undefined])).toEqual([
        ['finished', j1],
        ['claimed', j3],
      ]);
      // Nothing to hand over: only the end is recorded.
      expect(await b.finishAndClaim(j3, next!.claim, { status: 'succeeded' }, [], node)).toBeUndefined();
      expect(b.get(j3)?.status).toBe('succeeded');
    }));

  it('a worker with all its nodes taken reads nothing until a cancel of its job, then has every record; freed, it takes the next wake-up at once', () =>
    withTwoQueues(async (a, b, port) => {
      const raw = new Redis(port, '127.0.0.1');
      const blocked = async () => Number(/blocked_clients:(\d+)/.exec(await raw.info('clients'))?.[1]);
      try {
        const mine = (await a.enqueue(spec)).id;
        await b.sync();
        const claim = await b.claim(mine, [{ name: 'nb', max: 1 }]);
        expect(claim).toBeDefined();
        b.setBusy(true);
        let wakeUps = 0;
        const stop = b.watch(() => wakeUps++);
        await until('the busy worker waits', async () => (await blocked()) === 1, 10_000);
        const ids: string[] = [];
        for (let i = 0; i < 40; i++) ids.push((await a.enqueue(spec)).id);
        // Woken on each record, 30 busy workers cost more CPU than the jobs they run.
        expect(wakeUps).toBe(0);
        expect(b.get(ids[0])).toBeUndefined();
        await a.cancel(mine);
        await until('the cancel reaches the worker running the job', () => b.get(mine)?.cancelRequested === true, 10_000);
        expect(ids.every((id) => b.get(id)?.status === 'queued')).toBe(true);
        await b.finish(mine, claim!, { status: 'cancelled' });
        // Blocked again on its notify list alone: freed, the wait ends at once (not after its 2 s).
        await until('the busy worker waits again', async () => (await blocked()) === 1, 10_000);
        const before = wakeUps;
        b.setBusy(false);
        await a.enqueue(spec);
        await until('the freed worker takes the wake-up', () => wakeUps > before, 1500);
        stop();
      } finally {
        raw.disconnect();
      }
    }));

  it('free workers are woken one per job, not all on every record: each job claimed once', async () => {
    const redis = await startRedis();
    // A heartbeat tick reads the log too: kept out of the way, wake-ups are the only path here.
    const url = parseQueueUrl(urlOf(redis));
    const open = async () => {
      const q = new RedisQueue({ url, heartbeatTtlMs: 120_000 });
      await q.open();
      return q;
    };
    const producer = await open();
    const workers = await Promise.all(Array.from({ length: 6 }, open));
    const wakes = workers.map(() => 0);
    const stops: (() => void)[] = [];
    try {
      for (const [i, w] of workers.entries()) {
        // A worker's scheduling pass in small: claim what is queued, end it at once, report free.
        let busy = false;
        const pass = async () => {
          wakes[i]++;
          if (busy) return;
          busy = true;
          for (const j of w.list()) {
            if (j.status !== 'queued') continue;
            const claim = await w.claim(j.id, [{ name: `n${i}`, max: 1 }]);
            if (claim) await w.finish(j.id, claim, { status: 'succeeded' });
          }
          busy = false;
          w.setBusy(false);
        };
        stops.push(w.watch(() => void pass()));
        w.setBusy(false);
      }
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { id } = await producer.enqueue(spec);
        ids.push(id);
        await until(`job ${i} run`, () => { void producer.sync(); return producer.get(id)?.status === 'succeeded'; }, 20_000);
      }
      const raw = new Redis(redis.port, '127.0.0.1');
      const claims = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as JournalRecord).filter((r) => r.t === 'claimed');
      raw.disconnect();
      expect(claims.map((r) => (r as { id: string }).id).sort()).toEqual([...ids].sort());
      // Each job: the woken worker reads it, then its own claim and end; the five others sleep.
      // Woken on every record (3 per job), the six would add up to 18 per job.
      expect(wakes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(ids.length * 4);
      // The wake-ups went round: Redis hands each to the worker that waited longest.
      expect(wakes.filter((n) => n > 0).length).toBeGreaterThan(1);
    } finally {
      for (const stop of stops) stop();
      for (const q of [producer, ...workers]) await q.close();
      await redis.stop();
    }
  });

  it('a wake-up a free worker cannot use goes on to one that can, without waiting for a heartbeat tick', async () => {
    const redis = await startRedis();
    const url = parseQueueUrl(urlOf(redis));
    const queues = [0, 1, 2].map(() => new RedisQueue({ url, heartbeatTtlMs: 120_000 }));
    const [producer, picky, able] = queues;
    const stops: (() => void)[] = [];
    try {
      for (const q of queues) await q.open();
      // `picky` runs nothing (its nodes' tags fit no job): its pass ends with the job still queued.
      stops.push(picky.watch(() => picky.setBusy(false)));
      picky.setBusy(false);
      stops.push(
        able.watch(() => {
          for (const j of able.list()) if (j.status === 'queued') void able.claim(j.id, [{ name: 'able', max: 5 }]).finally(() => able.setBusy(false));
        }),
      );
      able.setBusy(false);
      for (let i = 0; i < 4; i++) {
        const { id } = await producer.enqueue(spec);
        // Well within the 24 s heartbeat tick: only a wake-up passed on gets it there.
        await until(`job ${i} claimed by the worker that can run it`, () => { void producer.sync(); return producer.get(id)?.status === 'running'; }, 10_000);
        expect(producer.get(id)?.nodesTaken).toEqual(['able']);
      }
    } finally {
      for (const stop of stops) stop();
      for (const q of queues) await q.close();
      await redis.stop();
    }
  });

  it('one process per tick checks the team for dead engines, and a lost wake-up is made good by it', async () => {
    const redis = await startRedis();
    const url = parseQueueUrl(urlOf(redis));
    // A tick every 100 ms.
    const queues = Array.from({ length: 6 }, () => new RedisQueue({ url, heartbeatTtlMs: 500 }));
    const raw = new Redis(redis.port, '127.0.0.1');
    const infoCalls = async () => Number(/cmdstat_info:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const stops: (() => void)[] = [];
    try {
      for (const q of queues) await q.open();
      // Each check asks Redis's uptime (INFO) once: six processes each checking would make six a tick.
      const before = await infoCalls();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const ticks = (performance.now() - t0) / 100;
      // Two a tick at most: the lock lapses a little before the tick, and ticks are not in step.
      expect((await infoCalls()) - before - 1).toBeLessThanOrEqual(Math.ceil(ticks * 2));

      const [producer, free] = [queues[0], queues[1]];
      const { id } = await producer.enqueue(spec);
      await raw.del('marteau:wake'); // the wake-up lost (its worker killed holding it, say)
      // Free workers read the log only when woken: the check pushes the wake-up again.
      let wakes: string[] = [];
      const poll = setInterval(() => void raw.lrange('marteau:wake', 0, -1).then((w) => (wakes = w)), 50);
      await until('a new wake-up for the job', () => wakes.includes(`${id} 0`), 5000).finally(() => clearInterval(poll));
      // The worker may know the job already (the check that pushed the wake-up may have been its
      // own): the wake-up alone must start its pass, no new record will.
      await free.sync();
      expect(free.get(id)?.status).toBe('queued');
      stops.push(
        free.watch(() => {
          for (const j of free.list()) if (j.status === 'queued') void free.claim(j.id, [{ name: 'free', max: 5 }]).finally(() => free.setBusy(false));
        }),
      );
      free.setBusy(false);
      await until('the job claimed by the free worker, woken by the check', () => { void producer.sync(); return producer.get(id)?.status === 'running'; }, 10_000);
      expect(producer.get(id)?.nodesTaken).toEqual(['free']);
    } finally {
      for (const stop of stops) stop();
      for (const q of queues) await q.close();
      raw.disconnect();
      await redis.stop();
    }
  });

  it('eight worker processes and a backlog: exactly one claim record per job, each job run once, none lost', async () => {
    const redis = await startRedis();
    const url = urlOf(redis);
    let producer: Engine | undefined;
    const raw = new Redis(redis.port, '127.0.0.1');
    try {
      const { dir, trace } = await tracedProject(150);
      const files = await Promise.all(Array.from({ length: 8 }, (_, i) => nodesFile(`nodes:\n  w${i}: {type: local, max_jobs: 1}\n`)));
      // One after another: eight Node start-ups at once on a loaded machine outlast the start bound.
      for (const f of files) await worker(url, f);
      producer = await viewer(url);
      // All at once: a backlog, so the workers free their nodes together and race for its head.
      const ids = (await Promise.all(Array.from({ length: 40 }, () => producer!.enqueue(dir, { origin: 'cli' })))).map((j) => j.id);
      const done = await producer.waitFor(ids);
      expect(done.map((j) => j.status)).toEqual(ids.map(() => 'succeeded'));

      const records = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as JournalRecord);
      const claimed = records.filter((r) => r.t === 'claimed').map((r) => (r as { id: string }).id);
      expect(claimed.sort()).toEqual([...ids].sort());
      const starts = (await readTrace(trace)).filter((t) => t.kind === 'start');
      expect(starts.map((t) => t.id).sort()).toEqual([...ids].sort());
      // The work spread over the team rather than one worker taking it all.
      expect(new Set(starts.map((t) => t.node)).size).toBeGreaterThan(1);
    } finally {
      raw.disconnect();
      await producer?.stop();
      await redis.stop();
    }
  }, 180_000);
});
