/**
 * bench:runner — the builtin load generator against autocannon on the same loopback app (its own
 * process), same concurrency and duration, then memory of the results model from 100k to 1M
 * requests. Prints ratios measured in this run (machines differ; ratios travel).
 *
 *   npm run bench:runner                   # defaults: 32 connections, 9 s per tool, 1M requests
 *   BENCH_CONNECTIONS=64 BENCH_SECONDS=6 BENCH_REQUESTS=300000 npm run bench:runner
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import autocannon from 'autocannon';
import { builtinConfigSchema, runBench } from '../src/runners/builtin/index.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MAX_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
const FIRST_MARK = Math.min(100_000, Math.floor(MAX_REQUESTS / 10));
// Whatever happens, the memory phase stops after this long.
const MEMORY_PHASE_LIMIT_S = Number(process.env.BENCH_MEMORY_LIMIT_S ?? 90);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapMB = () => {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size / 1024 / 1024;
};

async function startTarget(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [new URL('./runner-target.js', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await Promise.race([once(child.stdout!, 'data'), new Promise((_, rej) => setTimeout(() => rej(new Error('target did not start')), 10_000))])) as [Buffer];
  const port = Number(chunk.toString().trim());
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}

/** CPU µs this process spent per request (user + system), to see which client works harder. */
const cpu: Record<string, number[]> = { autocannon: [], builtin: [] };

async function withAutocannon(url: string, seconds: number): Promise<number> {
  const c0 = process.cpuUsage();
  // The very request the builtin runner sends (same headers), so the server does the same work.
  const headers = { 'user-agent': 'marteau-tui', connection: 'keep-alive' };
  const r = await autocannon({ url: `${url}/`, connections: CONNECTIONS, duration: seconds, pipelining: 1, headers });
  const c = process.cpuUsage(c0);
  cpu.autocannon.push((c.user + c.system) / Math.max(1, r.requests.total));
  return r.requests.total / seconds;
}

async function withBuiltin(url: string, seconds: number): Promise<number> {
  const cfg = builtinConfigSchema.parse({ base_url: url, cycles: [CONNECTIONS], duration: seconds, startup_delay: 0, scenario: [{ get: '/' }] });
  const c0 = process.cpuUsage();
  const c = (await runBench(cfg)).summary().cycles[0];
  const used = process.cpuUsage(c0);
  // Requests of the ramp-down are not recorded: this slightly over-states our cost.
  cpu.builtin.push((used.user + used.system) / Math.max(1, c.requests.total));
  // Over the measured recording window, not the nominal duration: a late timer cannot flatter us.
  return c.requests.total / ((c.end! - c.start!) / 1000);
}

async function main(): Promise<void> {
  const target = await startTarget();
  try {
    console.log(`bench:runner: ${CONNECTIONS} connections, ${SECONDS}s per run, loopback app in its own process (${target.url})`);
    // Warm both up (JIT, connection setup), then alternate so drift hits both alike.
    await withAutocannon(target.url, 1);
    await withBuiltin(target.url, 1);
    const ac: number[] = [];
    const bi: number[] = [];
    // Other processes on a shared machine only ever slow a run down: the best of ROUNDS short rounds
    // per tool, interleaved, is the steadiest estimate of what each can do.
    for (let round = 0; round < ROUNDS; round++) {
      ac.push(await withAutocannon(target.url, SECONDS / ROUNDS));
      bi.push(await withBuiltin(target.url, SECONDS / ROUNDS));
    }
    const acRps = Math.max(...ac);
    const biRps = Math.max(...bi);
    console.log(`autocannon  ${acRps.toFixed(0)} req/s  (runs: ${ac.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`builtin     ${biRps.toFixed(0)} req/s  (runs: ${bi.map((x) => x.toFixed(0)).join(', ')})`);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // Each round's pair ran back to back, so its ratio is the least affected by load drift.
    const paired = med(bi.map((b, i) => b / ac[i]));
    console.log(`ratio builtin/autocannon: best ${(biRps / acRps).toFixed(2)}x, median of paired rounds ${paired.toFixed(2)}x`);
    console.log(`client CPU per request (median): autocannon ${med(cpu.autocannon.slice(1)).toFixed(1)} µs, builtin ${med(cpu.builtin.slice(1)).toFixed(1)} µs`);

    // Memory: one long cycle; heap after GC at FIRST_MARK and at MAX_REQUESTS recorded requests.
    const ctl = new AbortController();
    const marks: { requests: number; heapMB: number; rssMB: number }[] = [];
    const limit = setTimeout(() => ctl.abort(), MEMORY_PHASE_LIMIT_S * 1000);
    const cfg = builtinConfigSchema.parse({ base_url: target.url, cycles: [CONNECTIONS], duration: MEMORY_PHASE_LIMIT_S + 10, startup_delay: 0, scenario: [{ get: '/' }] });
    const baseline = heapMB();
    const t0 = Date.now();
    const results = await runBench(cfg, {
      signal: ctl.signal,
      onProgress: (p) => {
        const next = marks.length === 0 ? FIRST_MARK : MAX_REQUESTS;
        if (marks.length < 2 && p.requests >= next) {
          marks.push({ requests: p.requests, heapMB: heapMB(), rssMB: process.memoryUsage().rss / 1024 / 1024 });
          if (marks.length === 2) ctl.abort();
        }
      },
    });
    clearTimeout(limit);
    const total = results.summary().overall.requests.total;
    console.log(`memory: heap ${baseline.toFixed(1)} MB before, ${marks.map((m) => `${m.heapMB.toFixed(1)} MB at ${m.requests} requests (rss ${m.rssMB.toFixed(0)} MB)`).join(', ')}; ${total} requests recorded in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    if (marks.length === 2) {
      const growth = marks[1].heapMB - marks[0].heapMB;
      const per = (growth * 1024 * 1024) / (marks[1].requests - marks[0].requests);
      console.log(`memory growth from ${marks[0].requests} to ${marks[1].requests} requests: ${growth.toFixed(2)} MB (${per.toFixed(2)} bytes/request)`);
      console.log(
        JSON.stringify({ connections: CONNECTIONS, autocannon_rps: Math.round(acRps), builtin_rps: Math.round(biRps), ratio: Number((biRps / acRps).toFixed(3)), paired_ratio: Number(paired.toFixed(3)), heap_mb: marks.map((m) => Number(m.heapMB.toFixed(2))), requests: marks.map((m) => m.requests), bytes_per_request: Number(per.toFixed(3)) }),
      );
    } else {
      console.log(`memory: the time limit (${MEMORY_PHASE_LIMIT_S}s) came before ${MAX_REQUESTS} requests; set BENCH_REQUESTS lower on a slow machine`);
    }
  } finally {
    await target.stop();
  }
}

await main();
