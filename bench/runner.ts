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
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import autocannon from 'autocannon';
import { builtinConfigSchema, runBench } from '../src/runners/builtin/index.js';
import { median } from './median.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Whole seconds (autocannon ends a run on a 1 s sample tick), and long enough for a steady state. */
const ROUND_SECONDS = Math.max(2, Math.round(SECONDS / ROUNDS));
const MAX_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
const FIRST_MARK = Math.min(100_000, Math.floor(MAX_REQUESTS / 10));
// Whatever happens, the memory phase stops after this long.
const MEMORY_PHASE_LIMIT_S = Number(process.env.BENCH_MEMORY_LIMIT_S ?? 90);
/**
 * BENCH_APP=raw serves from a bare node:net responder instead of the node:http app: cheaper per
 * request than either client, so each tool is its own bottleneck and the ratio compares the
 * clients. With the http app, the app is the bottleneck (its CPU share says so): both tools
 * measure it, and the faster client pays for its speed, see the note printed below the ratios.
 */
const RAW_APP = process.env.BENCH_APP === 'raw';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapMB = () => {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size / 1024 / 1024;
};

interface Target {
  url: string;
  /** Open a measurement on the server. */
  start(): void;
  /** Close it: [ms, requests served] samples since start(), and the server's CPU seconds. */
  stop(): Promise<{ samples: [number, number][]; cpuSeconds: number }>;
  close(): Promise<void>;
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(what)), ms).unref())]);

async function startTarget(): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, [new URL('./runner-target.js', import.meta.url).pathname, ...(RAW_APP ? ['raw'] : [])], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [chunk] = (await within(once(child.stdout!, 'data'), 10_000, 'target did not start')) as [Buffer];
  const port = Number(chunk.toString().trim());
  return {
    url: `http://127.0.0.1:${port}`,
    start: () => child.send('start'),
    stop: async () => {
      child.send('stop');
      const [answer] = (await within(once(child, 'message'), 10_000, 'target did not answer')) as [{ samples: [number, number][]; cpuSeconds: number }];
      return answer;
    },
    close: async () => {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}

interface Run {
  /** Steady-state rate, as the server saw it. */
  rps: number;
  /** The tool's own figure (its count over its own window), for comparison. */
  ownRps: number;
  /** Client CPU µs per request the server served during the call. */
  cpuPerRequest: number;
  /** Client CPU time over wall time: near 1.0 when the client is the bottleneck. */
  cpuShare: number;
  /** The server's CPU time over the same wall time: near 1.0 when the server is the bottleneck. */
  serverShare: number;
  /** The app's CPU µs per request served: what the client's way of waiting costs the app. */
  appPerRequest: number;
  /** The client process's sleeps (voluntary context switches) per request served. */
  waitsPerRequest: number;
}

/** Trimmed from each end of the server's active span: connection set-up and tear-down. */
const EDGE_MS = 200;

/** Requests per second the server served between its first and last request, edges trimmed. */
function steadyRate(samples: [number, number][]): number {
  const total = samples[samples.length - 1][1];
  const first = samples.find(([, n]) => n > 0)?.[0] ?? 0;
  const last = samples.find(([, n]) => n === total)?.[0] ?? 0;
  const inside = samples.filter(([t]) => t >= first + EDGE_MS && t <= last - EDGE_MS);
  if (inside.length < 2 || inside[inside.length - 1][0] - inside[0][0] < 500) {
    throw new Error(`the load lasted ${((last - first) / 1000).toFixed(2)}s on the server: too short to measure (raise BENCH_SECONDS)`);
  }
  const [ta, na] = inside[0];
  const [tb, nb] = inside[inside.length - 1];
  return ((nb - na) * 1000) / (tb - ta);
}

/**
 * Measure one tool's call. The rate is the server's (the same measure for both tools); the
 * tool's own count is checked against the server's (which also sees the few requests in flight
 * when the tool stopped, and the builtin runner's unrecorded ramp-down: at most one per
 * connection each), so a wrong count fails the bench instead of printing a wrong ratio.
 */
async function measure(target: Target, name: string, call: () => Promise<() => { counted: number; seconds: number }>): Promise<Run> {
  target.start();
  const w0 = process.resourceUsage().voluntaryContextSwitches;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const done = await call();
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(c0);
  const waits = process.resourceUsage().voluntaryContextSwitches - w0;
  // Summing up the results is outside the CPU window: autocannon has done its own by now.
  const { counted, seconds } = done();
  const { samples, cpuSeconds } = await target.stop();
  const served = samples[samples.length - 1][1];
  if (counted <= 0 || served < counted || served > counted + 2 * CONNECTIONS) {
    throw new Error(`${name} counted ${counted} requests but the server served ${served}: the bench would print a wrong rate`);
  }
  const cpu = (used.user + used.system) / 1e6;
  return { rps: steadyRate(samples), ownRps: counted / seconds, cpuPerRequest: (cpu * 1e6) / served, cpuShare: cpu / wall, serverShare: cpuSeconds / wall, appPerRequest: (cpuSeconds * 1e6) / served, waitsPerRequest: waits / served };
}

// The very request the builtin runner sends (same headers), so the server does the same work:
// autocannon writes `Connection: keep-alive` itself, and given it again (another case) it sent it
// twice, one more header for the app to parse in its runs than in the builtin runner's.
const AUTOCANNON_HEADERS = { 'user-agent': 'marteau-tui' };

/**
 * The request line and headers (names lower-cased, in order) of each tool's first request, read
 * by a bare responder: the bench fails unless they match, as the app's work per request would not.
 */
async function sameRequest(): Promise<void> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (heads.length < 2) heads.push(chunk.toString('latin1'));
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await autocannon({ url: `${url}/`, connections: 1, amount: 1, headers: AUTOCANNON_HEADERS });
    const one = heads.length;
    await runBench(builtinConfigSchema.parse({ base_url: url, cycles: [1], duration: 1, startup_delay: 0, scenario: [{ get: '/' }] }));
    const shape = (head?: string) => (head ?? '').split('\r\n').map((l, i) => (i === 0 ? l : l.replace(/^[^:]*/, (n) => n.toLowerCase()))).join(' | ');
    if (one !== 1 || shape(heads[0]) !== shape(heads[1])) throw new Error(`the two tools send different requests, the app would not do the same work: autocannon ${JSON.stringify(shape(heads[0]))}, builtin ${JSON.stringify(shape(heads[1]))}`);
  } finally {
    server.close();
  }
}

function withAutocannon(target: Target, seconds: number): Promise<Run> {
  return measure(target, 'autocannon', async () => {
    const r = await autocannon({ url: `${target.url}/`, connections: CONNECTIONS, duration: seconds, pipelining: 1, headers: AUTOCANNON_HEADERS });
    if (r.errors || r.non2xx) throw new Error(`autocannon saw ${r.errors} errors and ${r.non2xx} non-2xx answers`);
    // Its own measured duration (it runs to the sample tick after `seconds`), not the nominal one.
    return () => ({ counted: r.requests.total, seconds: r.duration });
  });
}

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
  const target = await startTarget();
  try {
    console.log(`bench:runner: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_SECONDS}s per tool, loopback app in its own process (${target.url})${RAW_APP ? ', a bare node:net responder' : ''}`);
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
