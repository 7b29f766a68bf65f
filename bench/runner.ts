/**
 * bench:runner — the builtin load generator against autocannon on the same loopback app (its own
 * process), same concurrency, then memory of the results model from 100k to 1M requests. Prints
 * ratios measured in this run (machines differ; ratios travel).
 *
 *   npm run bench:runner                   # defaults: 32 connections, 10 s per tool in 5 rounds, 1M requests
 *   BENCH_CONNECTIONS=64 BENCH_SECONDS=6 BENCH_REQUESTS=300000 npm run bench:runner
 *
 * How each figure is made, and why (an earlier version printed 0.55x where the truth was ~0.85x):
 * - autocannon only stops on its once-a-second sample tick, so a 1.33 s round (BENCH_SECONDS=4,
 *   BENCH_ROUNDS=3) runs 2 s. Its requests were divided by the nominal 1.33 s, crediting it 1.5x
 *   its real rate. Rounds are now whole seconds, and the rate of both tools is measured the same
 *   way by the server: requests served per second in the steady part of the run (connection
 *   set-up and tear-down trimmed; autocannon's own window includes its connects, the builtin
 *   runner's excludes its ramp-up). Each tool's own figure is printed beside it.
 * - The server counts requests too: each run's count is checked against the server's, and the
 *   bench fails rather than print a ratio built on a wrong count.
 * - The pair's order alternates (autocannon first, then builtin first), so neither always meets
 *   the machine right after the other's connections closed.
 * - Client CPU per request divides by the requests the server served during the call, for both
 *   tools, and the results summary is computed outside the CPU window.
 * - Client CPU share per run (CPU time / wall time) says whether the client was the bottleneck:
 *   on a loaded machine the server may be, and then both tools measure the server (ratios near
 *   1.0x that say nothing about the client: the 0.97x of an earlier closing note).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { builtinConfigSchema, runBench } from '../src/runners/builtin/index.js';
import { CONNECTIONS, FIRST_MARK, MAX_REQUESTS, measure, MEMORY_PHASE_LIMIT_S, pinThisProcess, placement, RAW_APP, ROUND_SECONDS, ROUNDS, sameRequest, startTarget, withAutocannon, type Run, type Target } from './runner-common.js';
import { median } from './median.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapMB = () => {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size / 1024 / 1024;
};

function withBuiltin(target: Target, seconds: number): Promise<Run> {
  const cfg = builtinConfigSchema.parse({ base_url: target.url, cycles: [CONNECTIONS], duration: seconds, startup_delay: 0, scenario: [{ get: '/' }] });
  return measure(target, 'builtin', async () => {
    const results = await runBench(cfg);
    return () => {
      const c = results.summary().cycles[0];
      if (c.requests.success !== c.requests.total) throw new Error(`the builtin runner saw ${c.requests.total - c.requests.success} failed requests`);
      // Over the measured recording window, not the nominal duration: a late timer cannot flatter us.
      return { counted: c.requests.total, seconds: (c.end! - c.start!) / 1000 };
    };
  });
}

async function main(): Promise<void> {
  await sameRequest();
  pinThisProcess();
  const target = await startTarget();
  try {
    console.log(`bench:runner: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS}s per tool, loopback app in its own process (${target.url})${RAW_APP ? ', a bare node:net responder' : ''}; ${placement}`);
    // Warm both up (JIT, connection setup), then alternate so drift hits both alike.
    await withAutocannon(target, 2);
    await withBuiltin(target, 2);
    const ac: Run[] = [];
    const bi: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        ac.push(await withAutocannon(target, ROUND_SECONDS));
        bi.push(await withBuiltin(target, ROUND_SECONDS));
      } else {
        bi.push(await withBuiltin(target, ROUND_SECONDS));
        ac.push(await withAutocannon(target, ROUND_SECONDS));
      }
    }
    const line = (name: string, runs: Run[]) =>
      console.log(`${name.padEnd(10)}  ${median(runs.map((r) => r.rps)).toFixed(0)} req/s median  (runs: ${runs.map((r) => r.rps.toFixed(0)).join(', ')}; its own figure ${runs.map((r) => r.ownRps.toFixed(0)).join(', ')}; client CPU share ${runs.map((r) => r.cpuShare.toFixed(2)).join(', ')}; server ${runs.map((r) => r.serverShare.toFixed(2)).join(', ')})`);
    line('autocannon', ac);
    line('builtin', bi);
    const acRps = Math.max(...ac.map((r) => r.rps));
    const biRps = Math.max(...bi.map((r) => r.rps));
    // Each round's pair ran back to back, so its ratio is the least affected by load drift.
    const paired = median(bi.map((b, i) => b.rps / ac[i].rps));
    const acCpu = median(ac.map((r) => r.cpuPerRequest));
    const biCpu = median(bi.map((r) => r.cpuPerRequest));
    console.log(`ratio builtin/autocannon: median of paired rounds ${paired.toFixed(2)}x, best rounds ${(biRps / acRps).toFixed(2)}x  (goal >= 1.00x)`);
    console.log(`client CPU per request (median): autocannon ${acCpu.toFixed(1)} µs, builtin ${biCpu.toFixed(1)} µs: ${(acCpu / biCpu).toFixed(2)}x autocannon's efficiency`);
    const acApp = median(ac.map((r) => r.appPerRequest));
    const biApp = median(bi.map((r) => r.appPerRequest));
    console.log(`app CPU per request (median): ${acApp.toFixed(1)} µs under autocannon, ${biApp.toFixed(1)} µs under builtin; client sleeps per request: autocannon ${median(ac.map((r) => r.waitsPerRequest)).toFixed(3)}, builtin ${median(bi.map((r) => r.waitsPerRequest)).toFixed(3)}`);
    const appShare = median(bi.map((r) => r.serverShare));
    if (!RAW_APP && appShare >= 0.95 && median(bi.map((r) => r.cpuShare)) < 0.95) {
      console.log(
        `note: the app used ${(appShare * 100).toFixed(0)} % of a core during the builtin runs: it was their bottleneck. A client faster than the app drains every reply and sleeps in epoll, and each of the app's writes then pays for waking it (the app's CPU per request above grows; the builtin runner naps off epoll while ahead to spare the app that), so the faster client can measure lower here; BENCH_APP=raw compares the clients themselves`,
      );
    }
    const saturated = Math.min(median(ac.map((r) => r.cpuShare)), median(bi.map((r) => r.cpuShare)));
    if (saturated < 0.85) {
      console.log(`note: a client used only ${(saturated * 100).toFixed(0)} % of a core: the server or the machine's other load was the bottleneck, so the req/s ratio tells about the machine more than the clients; the CPU per request ratio still compares the clients`);
    }

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
        JSON.stringify({ connections: CONNECTIONS, autocannon_rps: Math.round(acRps), builtin_rps: Math.round(biRps), ratio: Number((biRps / acRps).toFixed(3)), paired_ratio: Number(paired.toFixed(3)), cpu_ratio: Number((acCpu / biCpu).toFixed(3)), heap_mb: marks.map((m) => Number(m.heapMB.toFixed(2))), requests: marks.map((m) => m.requests), bytes_per_request: Number(per.toFixed(3)) }),
      );
    } else {
      console.log(`memory: the time limit (${MEMORY_PHASE_LIMIT_S}s) came before ${MAX_REQUESTS} requests; set BENCH_REQUESTS lower on a slow machine`);
    }
  } finally {
    await target.close();
  }
}

await main();
