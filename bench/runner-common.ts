/**
 * What bench:runner and bench:runner-ci share: the loopback app in its own process, measured by
 * the server (requests served per second in the steady part of a run), autocannon's run, and
 * the check that both tools send the very same request. The reasons for each measure are in
 * bench/runner.ts's header.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { fileURLToPath } from 'node:url';
import { builtinConfigSchema, runBench } from '../src/runners/builtin/index.js';
import { PINNED, setCpus } from './pinning.js';

export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Whole seconds (autocannon ends a run on a 1 s sample tick), and long enough for a steady state. */
export const ROUND_SECONDS = Math.max(2, Math.round(SECONDS / ROUNDS));
export const MAX_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
export const FIRST_MARK = Math.min(100_000, Math.floor(MAX_REQUESTS / 10));
// Whatever happens, the memory phase stops after this long.
export const MEMORY_PHASE_LIMIT_S = Number(process.env.BENCH_MEMORY_LIMIT_S ?? 90);
/**
 * BENCH_APP=raw serves from a bare node:net responder instead of the node:http app: cheaper per
 * request than either client, so each tool is its own bottleneck and the ratio compares the
 * clients. With the http app, the app is the bottleneck (its CPU share says so): both tools
 * measure it, and the faster client pays for its speed, see the note printed below the ratios.
 */
export const RAW_APP = process.env.BENCH_APP === 'raw';

/**
 * The app on one CPU and the client (autocannon, the builtin runner, the `--ci` job) on the
 * other, the same for every tool; BENCH_PIN=0 leaves placement to the scheduler. Unpinned on two
 * cores, where the scheduler put the three processes swung the app between 25k and 46k req/s from
 * one round to the next, and a paired ratio compared placements rather than clients.
 */
const APP_CPU = '0';
const CLIENT_CPU = '1';

/**
 * A command line run on `cpu` when pinned: taskset runs it in its own place (exec), so the pid,
 * the pipes and an IPC channel are the command's own.
 */
function onCpu(cpu: string, argv: string[]): [string, string[]] {
  return PINNED ? ['taskset', ['-c', cpu, ...argv]] : [argv[0], argv.slice(1)];
}

/** The command line for a client process: on the client's CPU when pinned. */
export const clientCommand = (argv: string[]): [string, string[]] => onCpu(CLIENT_CPU, argv);

/** Put this process (all its threads) on the client's CPU: autocannon and the in-process runner run here. */
export function pinThisProcess(): void {
  if (PINNED) setCpus(process.pid, CLIENT_CPU);
}

/** How the header says where the processes ran. */
export const placement = PINNED ? `app on CPU ${APP_CPU}, the client on CPU ${CLIENT_CPU} (taskset; BENCH_PIN=0 to let the scheduler place them)` : 'placed by the scheduler';

export interface Target {
  url: string;
  /** Open a measurement on the server. */
  start(): void;
  /** Close it: [ms, requests served] samples since start(), and the server's CPU seconds. */
  stop(): Promise<{ samples: [number, number][]; cpuSeconds: number }>;
  close(): Promise<void>;
}

export const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(what)), ms).unref())]);

export async function startTarget(): Promise<Target> {
  const [command, args] = onCpu(APP_CPU, [process.execPath, new URL('./runner-target.js', import.meta.url).pathname, ...(RAW_APP ? ['raw'] : [])]);
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
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

export interface Run {
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
export function steadyRate(samples: [number, number][]): number {
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
export async function measure(target: Target, name: string, call: () => Promise<() => { counted: number; seconds: number }>): Promise<Run> {
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
export const AUTOCANNON_HEADERS = { 'user-agent': 'marteau-tui' };

const AUTOCANNON_CLI = fileURLToPath(new URL('../../node_modules/autocannon/autocannon.js', import.meta.url));

/** The autocannon command line for `connections` against `url`, with the builtin runner's headers. */
export function autocannonCliArgs(connections: number, url: string): string[] {
  return [AUTOCANNON_CLI, '-c', String(connections), ...Object.entries(AUTOCANNON_HEADERS).flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
}

/** Run autocannon's CLI (on the client's CPU, as clientCommand places it) to its end: its --json result. */
export async function autocannonCli(args: string[]): Promise<{ requests: { total: number }; duration: number; errors: number; non2xx: number }> {
  const [command, argv] = clientCommand([process.execPath, ...args, '--json']);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`autocannon's CLI exited with ${code}`);
  return JSON.parse(out);
}

/**
 * The request line and headers (names lower-cased, in order) of each tool's first request, read
 * by a bare responder: the bench fails unless they match, as the app's work per request would not.
 */
export async function sameRequest(): Promise<void> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (heads.length < 3) heads.push(chunk.toString('latin1'));
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await autocannon({ url: `${url}/`, connections: 1, amount: 1, headers: AUTOCANNON_HEADERS });
    const one = heads.length;
    await autocannonCli([...autocannonCliArgs(1, `${url}/`), '-a', '1']);
    const two = heads.length;
    // Last: the builtin runner sends requests for a second (only its first is kept).
    await runBench(builtinConfigSchema.parse({ base_url: url, cycles: [1], duration: 1, startup_delay: 0, scenario: [{ get: '/' }] }));
    const shape = (head?: string) => (head ?? '').split('\r\n').map((l, i) => (i === 0 ? l : l.replace(/^[^:]*/, (n) => n.toLowerCase()))).join(' | ');
    if (one !== 1 || two !== 2 || shape(heads[0]) !== shape(heads[2]) || shape(heads[1]) !== shape(heads[2])) {
      const [api, cli, builtin] = heads.map((h) => JSON.stringify(shape(h)));
      throw new Error(`the tools send different requests, the app would not do the same work: autocannon ${api}, its CLI ${cli}, builtin ${builtin}`);
    }
  } finally {
    server.close();
  }
}

export function withAutocannon(target: Target, seconds: number): Promise<Run> {
  return measure(target, 'autocannon', async () => {
    const r = await autocannon({ url: `${target.url}/`, connections: CONNECTIONS, duration: seconds, pipelining: 1, headers: AUTOCANNON_HEADERS });
    if (r.errors || r.non2xx) throw new Error(`autocannon saw ${r.errors} errors and ${r.non2xx} non-2xx answers`);
    // Its own measured duration (it runs to the sample tick after `seconds`), not the nominal one.
    return () => ({ counted: r.requests.total, seconds: r.duration });
  });
}

