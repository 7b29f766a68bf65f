/**
 * Part of `npm run bench:queue`: the team queue as workers are added. Each worker is a real
 * Engine on the Redis queue in a process of its own, with one local node and a runner that holds
 * the node for HOLD_MS; one producer Engine enqueues the jobs (a real project, its config
 * snapshot stored with its record in Redis). Three phases, once each worker has run jobs:
 *   1. a burst: the producer enqueues jobs that end at once as fast as it can, while the workers
 *      are woken, claim and run them: enqueue jobs/s, and the Redis commands (all clients) and
 *      CPU per job. Every process is on the same cores, so this rate is the machine's: with one
 *      worker, each job's end claims the next in the same call and its CPU largely falls after
 *      the burst, while 30 worker processes each take a job through a wake-up, on a cold cache,
 *      within it (see the per-job CPU);
 *   2. a steady pace the team keeps up with (PACED_RATE jobs/s): each enqueue's time, what a user
 *      enqueueing waits for while the team runs the others' jobs. This is the queue's scaling:
 *      what it costs an enqueuer to have more workers, with the cores not saturated;
 *   3. a backlog (all enqueued at once, as 150 jobs of 0.5 s for 30 workers): node gap, from a
 *      job's end on a node to the next job's start on it when one was waiting, and the wall time
 *      against the ideal (rounds x HOLD_MS).
 * claims/job counts claim records in the stream per job (1 is the floor: no losing claims).
 * The baseline is the same run with one worker, measured first. BENCH_PROF=DIR writes a CPU
 * profile of the first worker of each multi-worker run there (where does a worker's time go).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { NodesConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { parseQueueUrl } from '../src/config/queue-url.js';
import type { Runner } from '../src/core/runner-contract.js';
import { runnerRegistry } from '../src/core/runner-contract.js';
import { quantile } from './median.js';
import { processCpuMs } from './proc-cpu.js';

const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 500);
const JOBS_PER_WORKER = Number(process.env.BENCH_JOBS_PER_WORKER ?? 5);
/** Held jobs each worker runs before anything is timed (see measureWorkers). */
const WARM_ROUNDS = Number(process.env.BENCH_WARM ?? 5);
/** The steady pace (jobs/s) and how many jobs, for the enqueue time a user waits. */
export const PACED_RATE = Number(process.env.BENCH_PACED_RATE ?? 20);
const PACED_JOBS = Number(process.env.BENCH_PACED_JOBS ?? 60);
/** The project whose jobs end at once (phase 1). */
const QUICK = 'quick';

/** Stands in for the command runner (config names are fixed): holds the node, starts nothing. */
const hold: Runner = {
  name: 'command',
  description: 'holds its node for a while (benchmark)',
  run: async (ctx) => {
    ctx.loadStarted();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ctx.config.name === QUICK ? 0 : HOLD_MS);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return { status: 'succeeded' };
  },
};
const runners = runnerRegistry([hold]);

function nodes(url: string, names: string[]): NodesConfig {
  return {
    file: '(bench)',
    nodes: names.map((name) => ({ type: 'local' as const, name, maxJobs: 1, tags: [], enabled: true })),
    probeIntervalMs: 60_000,
    probeTimeoutMs: 2000,
    queue: { url: parseQueueUrl(url), lostJobs: 'interrupt' },
  };
}

export interface WorkerFigures {
  workers: number;
  jobs: number;
  enqueuePerSecond: number;
  /** One enqueue's time (ms) at PACED_RATE jobs/s, their jobs run meanwhile. */
  pacedP50: number;
  pacedP95: number;
  /** Enqueue rate with the workers up but no job for them to run, against the same with the workers frozen. */
  enqueueIdleRatio: number;
  /** Redis commands (all clients, a Lua script's own counted too) per job, from its enqueue to its end. */
  commandsPerJob: number;
  /** Those commands by name, per job, most first. */
  commandsByName: [string, number][];
  /** Round trips the producer sent per enqueue. */
  producerCommandsPerJob: number;
  /** CPU (ms) per job: the producer while it enqueued, all workers and redis-server from the enqueues to the jobs' end. */
  cpuPerJob: { producer: number; workers: number; redis: number };
  /** With no job at all: Redis commands per second and the workers' CPU (ms per second), all together. */
  idle: { commandsPerSecond: number; workersCpuPerSecond: number };
  gapP50: number;
  gapP95: number;
  claimsPerJob: number;
  /** Jobs that did not succeed (their worker judged dead). */
  lost: number;
  wallMs: number;
  idealMs: number;
}

/** One run: `n` worker processes, then `n * JOBS_PER_WORKER` jobs (at least 20), on database `db`. */
export async function measureWorkers(redisUrl: string, db: number, n: number): Promise<WorkerFigures> {
  const url = redisUrl.replace(/\/\d+$/, `/${db}`);
  const base = mkdtempSync(path.join(os.tmpdir(), 'marteau-bench-workers-'));
  const children: ChildProcess[] = [];
  const names = Array.from({ length: n }, (_, i) => `w${i}`);
  const producer = new Engine({ stateDir: path.join(base, 'producer'), nodes: nodes(url, []), run: 'none', probe: false, runners });
  try {
    for (const name of names) {
      const c = fork(fileURLToPath(import.meta.url), [], { execArgv: process.env.BENCH_PROF && name === 'w0' && n > 1 ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : [], env: { ...process.env, BENCH_WORKER: JSON.stringify({ url, name, state: path.join(base, name) }) } });
      children.push(c);
    }
    await Promise.all(children.map((c) => once(c, 'message')));
    await producer.start();
    const project = (name: string) => {
      const dir = path.join(base, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, '.marteau.yml'), `name: ${name}\ncommand: [hold]\n`);
      return dir;
    };
    const [quick, dir] = [project(QUICK), project('bench')];
    const enqueueAll = async (count: number, origin = 'cli') => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await producer.enqueue(quick, { origin })).id);
      return ids;
    };
    // A job not succeeded is counted, not fatal: on an overloaded machine a worker starved of
    // CPU past its heartbeat TTL is judged dead, and that is a figure too.
    let lost = 0;
    const succeeded = async (ids: string[]) => {
      const done = await producer.waitFor(ids);
      lost += done.filter((j) => j.status !== 'succeeded').length;
      return done.filter((j) => j.status === 'succeeded');
    };

    const jobs = Math.max(20, n * JOBS_PER_WORKER);
    // Rounds of one job on each worker first (held, so that no worker takes two): a worker's first
    // job compiles the code it runs, and V8 optimizes it only after several; timed with cold code,
    // 30 processes that each ran one job cost 3x the CPU per job of one warm process (51-57 ms
    // against 16.5 at 10 and 30 workers, 16 with 6 rounds): start-up, not the queue. A long-lived
    // worker is warm.
    for (let round = 0; round < WARM_ROUNDS; round++) await succeeded((await Promise.all(names.map(() => producer.enqueue(dir, { origin: 'cli' })))).map((j) => j.id));
    // What the team costs with nothing to do: heartbeats, presence, lease and dead-worker checks.
    const idle0 = await costs(url, children);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle1 = await costs(url, children);
    // The queue's own cost to an enqueuer: the workers up and free but no job for them (a `--ci`
    // job is left to its run: no wake-up, no claim), against the same with the workers frozen
    // (SIGSTOP), in alternating rounds so that the machine's other load hits both alike. The rate
    // below adds running the jobs, whose CPU at 30 workers falls inside the timed window, where one
    // worker runs most of them after it.
    const timed = { up: 0, frozen: 0 };
    const unrun: string[] = [];
    for (let round = 0; round < 6; round++) {
      const frozen = round % 2 === 1;
      if (frozen) for (const c of children) c.kill('SIGSTOP');
      const t = performance.now();
      try {
        unrun.push(...(await enqueueAll(10, 'ci')));
      } finally {
        if (frozen) for (const c of children) c.kill('SIGCONT');
      }
      timed[frozen ? 'frozen' : 'up'] += performance.now() - t;
    }
    const enqueueIdleRatio = timed.frozen / timed.up;
    for (const id of unrun) await producer.cancel(id);
    const calls0 = await costs(url, children);
    const sent0 = sent.count;
    const t0 = performance.now();
    const first = await enqueueAll(Math.max(20, 2 * n));
    const enqueuePerSecond = first.length / ((performance.now() - t0) / 1000);
    const producerCommands = sent.count - sent0;
    const calls1 = await costs(url, children);
    await succeeded(first);
    // A job's whole life (enqueue, wake-up, claim, run, end), not only what fell in the enqueue window.
    const calls2 = await costs(url, children);
    const per = (a: number, b: number) => (b - a) / first.length;
    const byName = [...calls2.calls].map(([name, c]) => [name, per(calls0.calls.get(name) ?? 0, c)] as [string, number]).filter(([, c]) => c >= 0.05);

    // At a steady pace the team keeps up with on these cores, each enqueue's own time: what a
    // user enqueueing waits, with the jobs of the others running meanwhile but the cores not saturated.
    const pacedMs: number[] = [];
    const paced: string[] = [];
    for (let i = 0; i < PACED_JOBS; i++) {
      const t = performance.now();
      paced.push((await producer.enqueue(quick, { origin: 'cli' })).id);
      pacedMs.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / PACED_RATE - (performance.now() - t))));
    }
    await succeeded(paced);
    pacedMs.sort((a, b) => a - b);

    // All at once (the appends pipeline on one connection): a backlog builds faster than the
    // nodes take it, so each node finds a job waiting when its job ends.
    const t1 = performance.now();
    const backlog = (await Promise.all(Array.from({ length: jobs }, () => producer.enqueue(dir, { origin: 'cli' })))).map((j) => j.id);
    const done = await succeeded(backlog);
    const wallMs = performance.now() - t1;

    const gaps: number[] = [];
    const byNode = new Map<string, typeof done>();
    for (const j of done) byNode.set(j.nodesTaken[0], [...(byNode.get(j.nodesTaken[0]) ?? []), j]);
    for (const list of byNode.values()) {
      list.sort((a, b) => a.startedAt! - b.startedAt!);
      for (let i = 1; i < list.length; i++) if (list[i].enqueuedAt <= list[i - 1].endedAt!) gaps.push(list[i].startedAt! - list[i - 1].endedAt!);
    }
    gaps.sort((a, b) => a - b);
    const raw = new Redis(url);
    const records = await raw.xrange('marteau:log', '-', '+');
    raw.disconnect();
    const claims = records.filter(([, f]) => f[1].startsWith('{"t":"claimed"')).length;
    return {
      workers: n,
      jobs,
      enqueuePerSecond,
      enqueueIdleRatio,
      pacedP50: quantile(pacedMs, 0.5),
      pacedP95: quantile(pacedMs, 0.95),
      commandsPerJob: per(total(calls0.calls), total(calls2.calls)),
      commandsByName: byName.sort((a, b) => b[1] - a[1]),
      producerCommandsPerJob: producerCommands / first.length,
      cpuPerJob: { producer: per(calls0.producer, calls1.producer), workers: per(calls0.workers, calls2.workers), redis: per(calls0.redis, calls2.redis) },
      idle: { commandsPerSecond: ((total(idle1.calls) - total(idle0.calls)) * 1000) / IDLE_MS, workersCpuPerSecond: ((idle1.workers - idle0.workers) * 1000) / IDLE_MS },
      gapP50: quantile(gaps, 0.5),
      gapP95: quantile(gaps, 0.95),
      claimsPerJob: claims / (n * WARM_ROUNDS + first.length + paced.length + jobs),
      lost,
      wallMs,
      idealMs: Math.ceil(jobs / n) * HOLD_MS,
    };
  } finally {
    await producer.stop().catch(() => {});
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null) return;
        const exited = once(c, 'exit');
        c.send('stop');
        await exited;
      }),
    );
    rmSync(base, { recursive: true, force: true });
  }
}

/** Commands this process (the producer, and the figures' own INFO calls outside the window) sent to Redis. */
const sent = { count: 0 };
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof sendCommand>) {
  sent.count++;
  return sendCommand.apply(this, args);
};

/** How long the team is watched doing nothing. */
const IDLE_MS = 3000;

interface Costs {
  /** Commands Redis has run so far (all clients), by name; the INFO calls of this function included. */
  calls: Map<string, number>;
  /** CPU used so far (ms). */
  producer: number;
  workers: number;
  redis: number;
}

const total = (calls: Map<string, number>) => [...calls.values()].reduce((a, b) => a + b, 0);

/** What the machine has spent so far on the team: Redis commands, and CPU on each side. */
async function costs(url: string, children: ChildProcess[]): Promise<Costs> {
  const c = new Redis(url);
  try {
    const stats = await c.info('commandstats');
    const cpu = await c.info('cpu');
    const calls = new Map([...stats.matchAll(/cmdstat_(\S+?):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    const seconds = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
    const self = process.cpuUsage();
    return {
      calls,
      producer: (self.user + self.system) / 1000,
      workers: children.reduce((sum, ch) => sum + (processCpuMs(ch.pid!) ?? 0), 0),
      redis: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000,
    };
  } finally {
    c.disconnect();
  }
}

/** A worker process: a real Engine running jobs from the queue on its one node until told to stop. */
async function workerProcess(spec: string): Promise<void> {
  const { url, name, state } = JSON.parse(spec) as { url: string; name: string; state: string };
  const engine = new Engine({ stateDir: state, nodes: nodes(url, [name]), run: 'all', probe: false, runners });
  await engine.start();
  process.on('message', () => {
    void engine.stop().then(() => process.exit(0));
  });
  process.send!('ready');
}

if (process.env.BENCH_WORKER) await workerProcess(process.env.BENCH_WORKER);
