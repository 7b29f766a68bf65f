/**
 * npm run bench:queue — the queue on Redis (team mode) against the embedded journal, in one run
 * on this machine, printed as ratios (Redis / journal).
 *
 * Two queue instances per backend, as two processes would be: a producer that enqueues, a
 * consumer that is woken by the queue's own watch, claims each job onto a node and finishes it
 * at once (no runner: this measures the queue, not the jobs).
 *   enqueue → start   one job at a time: from enqueue() to the consumer's winning claim
 *   jobs/s            a burst of jobs: enqueue, claim and finish each, until the last is done
 * Both backends make every record durable before it counts: the journal fdatasyncs, Redis runs
 * with appendonly + appendfsync always (started here on a free loopback port, removed after).
 * BENCH_LATENCY_ROUNDS and BENCH_BURST change the sizes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { JobQueue } from '../src/core/queue.js';
import { JournalQueue } from '../src/core/queue.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { quantile } from './median.js';
import { measureWorkers, PACED_RATE, type WorkerFigures } from './queue-workers.js';

const ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS ?? 60);
const BURST = Number(process.env.BENCH_BURST ?? 400);
const WAIT_MS = 60_000;
const spec = { name: 'bench', source: { kind: 'dir' as const, dir: '/p', configFile: '/p/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] };

interface Figures {
  p50: number;
  p95: number;
  jobsPerSecond: number;
}

/** The consumer: every queued job it sees, claimed onto the `bench` node and finished at once. */
function consume(q: JobQueue, onStart: (id: string) => void): () => void {
  let busy = false;
  let again = false;
  const drain = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        for (const j of q.list()) {
          if (j.status !== 'queued') continue;
          const claim = await q.claim(j.id, [{ name: 'bench', max: 1_000_000 }]);
          if (!claim) continue;
          onStart(j.id);
          await q.finish(j.id, claim, { status: 'succeeded' });
        }
      } while (again);
    } finally {
      busy = false;
    }
  };
  return q.watch(() => void drain());
}

async function measure(producer: JobQueue, consumer: JobQueue): Promise<Figures> {
  await producer.open();
  await consumer.open();
  const started = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const stop = consume(consumer, (id) => {
    started.set(id, performance.now());
    waiters.get(id)?.();
  });
  const startedOf = (id: string) =>
    new Promise<void>((resolve, reject) => {
      if (started.has(id)) return resolve();
      const t = setTimeout(() => reject(new Error(`job ${id} did not start within ${WAIT_MS} ms`)), WAIT_MS);
      waiters.set(id, () => {
        clearTimeout(t);
        resolve();
      });
    });
  try {
    const latencies: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const j = await producer.enqueue(spec);
      await startedOf(j.id);
      latencies.push(started.get(j.id)! - t0);
    }
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < BURST; i++) ids.push((await producer.enqueue(spec)).id);
    await Promise.all(ids.map(startedOf));
    await consumer.sync();
    const end = performance.now();
    if (ids.some((id) => consumer.get(id)?.status !== 'succeeded')) throw new Error('a burst job did not finish');
    latencies.sort((a, b) => a - b);
    return {
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      jobsPerSecond: BURST / ((end - t0) / 1000),
    };
  } finally {
    stop();
    await producer.close();
    await consumer.close();
  }
}

/** redis-server on a port the kernel just gave us, ready once a queue can open on it. */
async function startRedis(dir: string): Promise<{ url: string; stop: () => void }> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
  child.once('error', (e) => {
    process.stderr.write(`redis-server: ${e.message} (install redis-server)\n`);
    process.exit(3);
  });
  const url = `redis://127.0.0.1:${port}/0`;
  for (let i = 0; ; i++) {
    const q = new RedisQueue({ url: parseQueueUrl(url) });
    try {
      await q.open();
      await q.close();
      return { url, stop: () => child.kill('SIGTERM') };
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function row(name: string, f: Figures): string {
  return `${name.padEnd(22)} ${f.p50.toFixed(2).padStart(9)} ms ${f.p95.toFixed(2).padStart(9)} ms ${f.jobsPerSecond.toFixed(0).padStart(9)} jobs/s`;
}

/** Enqueue time at a steady pace, 1 worker against 30 (a rate >= 0.8x): "independent of the workers", with room for noise. */
const ENQUEUE_TARGET = 0.8;

/** Workers added to one Redis: 1 (the baseline), then 10 and 30 (BENCH_WORKERS), each on its own database. */
async function workersTable(url: string): Promise<void> {
  const counts = (process.env.BENCH_WORKERS ?? '10,30').split(',').map(Number);
  process.stdout.write(`\nworkers on one Redis (real engines, one process and one node each, enqueue/s with jobs ending at once, the backlog's jobs holding their node ${process.env.BENCH_HOLD_MS ?? 500} ms)\n`);
  process.stdout.write(
    `${'workers'.padStart(7)} ${'jobs'.padStart(5)} ${'enqueue/s'.padStart(10)} ${'cmds/job'.padStart(9)} ${'gap p50'.padStart(9)} ${'gap p95'.padStart(9)} ${'claims/job'.padStart(10)} ${'wall/ideal'.padStart(10)} ${'lost'.padStart(5)}   vs 1 worker: enqueue, gap p95\n`,
  );
  const rows: WorkerFigures[] = [];
  for (const [i, n] of [1, ...counts].entries()) {
    const r = await measureWorkers(url, 1 + i, n);
    rows.push(r);
    const base = rows[0];
    // A gap of 0 ms (the next claim recorded with the end) has no ratio.
    const gapRatio = base.gapP95 > 0 ? `${(r.gapP95 / base.gapP95).toFixed(2)}x` : `${r.gapP95.toFixed(1)} vs ${base.gapP95.toFixed(1)} ms`;
    const ratios = r === base ? '(baseline)' : `${(r.enqueuePerSecond / base.enqueuePerSecond).toFixed(2)}x, ${gapRatio}`;
    process.stdout.write(
      `${String(r.workers).padStart(7)} ${String(r.jobs).padStart(5)} ${r.enqueuePerSecond.toFixed(0).padStart(10)} ${r.commandsPerJob.toFixed(1).padStart(9)} ${`${r.gapP50.toFixed(1)} ms`.padStart(9)} ${`${r.gapP95.toFixed(1)} ms`.padStart(9)} ${r.claimsPerJob.toFixed(2).padStart(10)} ${(r.wallMs / r.idealMs).toFixed(2).padStart(9)}x ${String(r.lost).padStart(5)}   ${ratios}\n`,
    );
  }
  // Where the enqueue phase goes: on a machine of few cores the workers' CPU competes with the
  // enqueuer's, whatever Redis does; the idle line is what the team costs doing nothing.
  process.stdout.write(`\nper job: CPU ms (the producer while enqueuing / all workers and redis-server from enqueue to end), producer round trips per enqueue, Redis commands; idle: the team with nothing queued\n`);
  for (const r of rows) {
    const top = r.commandsByName.slice(0, 6).map(([name, c]) => `${name} ${c.toFixed(1)}`).join(', ');
    process.stdout.write(
      `${String(r.workers).padStart(7)}  cpu ${r.cpuPerJob.producer.toFixed(1)} / ${r.cpuPerJob.workers.toFixed(1)} / ${r.cpuPerJob.redis.toFixed(1)} ms   ${r.producerCommandsPerJob.toFixed(1)} trips/enqueue   idle ${r.idle.commandsPerSecond.toFixed(0)} cmds/s, workers ${r.idle.workersCpuPerSecond.toFixed(0)} ms CPU/s   cmds: ${top}\n`,
    );
  }
  const worst = rows.at(-1)!;
  const ratio = worst.enqueuePerSecond / rows[0].enqueuePerSecond;
  const steady = rows[0].pacedP50 / worst.pacedP50;
  process.stdout.write(
    `target: enqueue at ${worst.workers} workers >= ${ENQUEUE_TARGET}x as fast as with 1 (one enqueue's p50 time at a steady ${PACED_RATE} jobs/s): ${steady >= ENQUEUE_TARGET ? 'met' : 'NOT met'} (${steady.toFixed(2)}x: ${worst.pacedP50.toFixed(1)} vs ${rows[0].pacedP50.toFixed(1)} ms)\n`,
  );
  process.stdout.write(`  burst, the cores saturated by the workers' jobs: ${ratio.toFixed(2)}x the 1-worker enqueue rate at ${worst.workers} workers (CPU per job above)\n`);
  process.stdout.write(
    `  the queue's own cost: enqueue rate with the workers up and free but no job for them, against the same workers frozen (SIGSTOP), alternating: ${rows.map((r) => `${r.enqueueIdleRatio.toFixed(2)}x`).join(' / ')} at ${rows.map((r) => r.workers).join(' / ')} workers\n`,
  );
  process.stdout.write(`  enqueue time at a steady ${PACED_RATE} jobs/s, p50 / p95: ${rows.map((r) => `${r.pacedP50.toFixed(1)} / ${r.pacedP95.toFixed(1)} ms`).join(', ')} at ${rows.map((r) => r.workers).join(' / ')} workers\n`);
  process.stdout.write(`target: node gap p95 <= 50 ms at ${worst.workers} workers: ${worst.gapP95 <= 50 ? 'met' : 'NOT met'} (${worst.gapP95.toFixed(1)} ms)\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'marteau-bench-queue-'));
  const redis = await startRedis(dir);
  try {
    const file = path.join(dir, 'journal.jsonl');
    const journal = await measure(new JournalQueue(file), new JournalQueue(file));
    const url = parseQueueUrl(redis.url);
    const team = await measure(new RedisQueue({ url }), new RedisQueue({ url }));
    process.stdout.write(`${ROUNDS} single jobs, then a burst of ${BURST}; durable appends on both sides\n`);
    process.stdout.write(`${''.padEnd(22)} ${'start p50'.padStart(12)} ${'start p95'.padStart(12)} ${'throughput'.padStart(16)}\n`);
    process.stdout.write(`${row('journal (embedded)', journal)}\n${row('redis (team mode)', team)}\n`);
    process.stdout.write(
      `ratio redis/journal:   p50 ${(team.p50 / journal.p50).toFixed(2)}x, p95 ${(team.p95 / journal.p95).toFixed(2)}x, jobs/s ${(team.jobsPerSecond / journal.jobsPerSecond).toFixed(2)}x\n`,
    );
    await workersTable(redis.url);
  } finally {
    redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
