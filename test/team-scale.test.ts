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

  it('a worker with all its nodes taken reads the records in batches, and misses none', () =>
    withTwoQueues(async (a, b) => {
      let wakeUps = 0;
      const stop = b.watch(() => wakeUps++);
      b.setBusy(true);
      const t0 = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push((await a.enqueue(spec)).id);
      const elapsed = performance.now() - t0;
      await until('the busy reader has every job', () => ids.every((id) => b.get(id)?.status === 'queued'), 10_000);
      // One read per pause (250 ms) at most, where an idle reader would wake on each record.
      expect(wakeUps).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 3);
      stop();
    }));

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
