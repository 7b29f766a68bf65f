/**
 * The protocol part of bench:proxy: each framed protocol under a pipelined (or, for HTTP,
 * many-connection keep-alive) load against its real server, through four paths measured in turn
 * in the same rounds: direct, a bare Node pipe (the floor), a second bare pipe (the control: two
 * identical pipes differ only by the machine's noise, and their ratio says how far a proxy's
 * ratio near 1.0 can be read), the proxy passing through, and the
 * proxy at 10 % error (a behavior drawn per exchange), and Toxiproxy passing through where this
 * machine has it (toxiproxy.ts). One table of ratios to the pipe, with the proxy issue's goals as
 * pass marks, and one of the proxy against Toxiproxy. Every run checks its counts: each request got exactly one
 * reply, no path but the error one saw an error reply, and the proxy's own counters (exchanges,
 * errors injected) equal what the loader sent and received.
 *
 * Beside the rates, the CPU the process in the middle (pipe or proxy) spent per reply, from
 * /proc: on two cores shared by the loader, the server and the middle, where each process lands
 * moves the rates by 10 % from round to round, while the middle's own cost per reply says what
 * the proxy adds over the pipe.
 */
import type { ChildProcess } from 'node:child_process';
import { Histogram } from '../src/stats/histogram.js';
import type { ProxyStats } from '../src/proxy/proxy.js';
import { startMariadb } from '../test/helpers/mariadb.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { findBinary, startMemcached, startRedis } from '../test/helpers/servers.js';
import { askStats, startNode } from './children.js';
import { load, type Wire } from './loader.js';
import { httpWire, memcacheWire, mysqlWire, postgresWire, redisWire, smtpWire } from './wires.js';
import { median } from './median.js';
import { roundOrder } from './order.js';
import { processCpuMs, processIoCalls } from './proc-cpu.js';
import { startToxiproxy, toxiproxyBinary, type Toxiproxy } from './toxiproxy.js';

const SECONDS = Number(process.env.BENCH_PROTOCOL_SECONDS ?? 2);
/**
 * Rounds: twice the paths by default, the length over which the order of paths (order.ts) has
 * each path follow every other one equally often; 7, the earlier default, left that uneven.
 */
const roundsFor = (paths: number) => Number(process.env.BENCH_ROUNDS ?? 2 * paths);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 2000);
const LATENCY_TURNS = 20;
/** Goals of the proxy issue, as ratios to the bare pipe, and the added p99 in ms. */
const GOAL_PASS = 1.0;
const GOAL_ERROR = 0.9;
const GOAL_P99_MS = 1;

interface Case {
  wire: Wire;
  /** The server's binary, to skip the row when it is not installed. */
  binary?: string;
  start(): Promise<{ port: number; stop(): Promise<void> }>;
  connections: number;
  depth: number;
  /** A non-fatal error kind (a fatal one closes the connection, which a pipelined load cannot count). */
  errorKind?: string;
}

const PATHS = ['direct', 'pipe', 'pipe2', 'pass', 'error10', 'toxiproxy'] as const;
type PathName = (typeof PATHS)[number];
type Middle = Exclude<PathName, 'direct'>;

function cases(webPort: number): Case[] {
  return [
    { wire: redisWire, binary: 'redis-server', start: startRedis, connections: 16, depth: 16 },
    { wire: memcacheWire, binary: 'memcached', start: startMemcached, connections: 16, depth: 16 },
    { wire: mysqlWire, binary: 'mariadbd', start: startMariadb, connections: 16, depth: 16, errorKind: '1317' },
    { wire: postgresWire, binary: 'postgres', start: startPostgres, connections: 16, depth: 16, errorKind: '57014' },
    { wire: httpWire, start: async () => ({ port: webPort, stop: async () => {} }), connections: 32, depth: 1 },
    {
      wire: smtpWire,
      start: async () => ({ port: Number((await startNode('smtp-target.js', [])).line), stop: async () => {} }),
      connections: 16,
      depth: 16,
    },
  ];
}

interface Row {
  name: string;
  load: string;
  rps: Record<PathName, number[]>;
  p99: Record<'pipe' | 'pass', number>;
  /** CPU of the process in the middle (pipe or proxy) per reply over the timed rounds, in µs. */
  cpu: Record<Middle, number>;
  /** Its read and write system calls per reply: a proxy making the pipe's calls can only tie with it. */
  calls: Record<Middle, number>;
  errorShare: number;
  skipped?: string;
}

async function measure(c: Case, toxiproxy: Toxiproxy | undefined, paths: readonly PathName[], rounds: number): Promise<Row> {
  const name = c.wire.name;
  const loadText = c.depth > 1 ? `${c.connections} conn x ${c.depth} in flight` : `${c.connections} keep-alive conn`;
  const rps: Row['rps'] = { direct: [], pipe: [], pipe2: [], pass: [], error10: [], toxiproxy: [] };
  const none = { pipe: NaN, pipe2: NaN, pass: NaN, error10: NaN, toxiproxy: NaN };
  const row: Row = { name, load: loadText, rps, p99: { pipe: NaN, pass: NaN }, cpu: { ...none }, calls: { ...none }, errorShare: NaN };
  if (c.binary && !findBinary(c.binary)) return { ...row, skipped: `no ${c.binary}` };
  const server = await c.start();
  try {
    const error = c.errorKind ? { error: { percent: 10, kind: c.errorKind } } : '10:error';
    const pass = await startNode('target.js', ['proxy', String(server.port), name, '""']);
    const error10 = await startNode('target.js', ['proxy', String(server.port), name, JSON.stringify(error)]);
    const proxies: Record<'pass' | 'error10', ChildProcess> = { pass: pass.child, error10: error10.child };
    const pipe = await startNode('target.js', ['pipe', String(server.port)]);
    const pipe2 = await startNode('target.js', ['pipe', String(server.port)]);
    // Toxiproxy is one process for every row: its CPU and calls while a row's load runs are that row's.
    const middles: Partial<Record<Middle, ChildProcess>> = { pipe: pipe.child, pipe2: pipe2.child, ...proxies, toxiproxy: toxiproxy?.child };
    const ports: Record<PathName, number> = {
      direct: server.port,
      pipe: Number(pipe.line),
      pipe2: Number(pipe2.line),
      pass: Number(pass.line),
      error10: Number(error10.line),
      toxiproxy: toxiproxy ? await toxiproxy.addProxy(name, server.port) : NaN,
    };
    // What each proxy was sent and answered with, to check against its own counters.
    const sent = { pass: 0, error10: 0 };
    const injected = { pass: 0, error10: 0 };
    const run = async (path: PathName, requests: number, opts: { connections: number; depth: number; latency?: Histogram }) => {
      const r = await load(ports[path], c.wire, { ...opts, requests, deadlineMs: 120_000 });
      if (path === 'pass' || path === 'error10') {
        sent[path] += r.replies + r.setup.exchanges;
        injected[path] += r.errors + r.setup.errors;
      } else if (r.errors) {
        throw new Error(`${name} ${path}: ${r.errors} error replies where none was injected`);
      }
      return r;
    };
    const full = { connections: c.connections, depth: c.depth };
    // Warm every path (JIT, server caches), and size the runs from the pipe's rate.
    let pipeRate = 0;
    for (const p of paths) {
      const r = await run(p, 20 * c.connections * c.depth, full);
      if (p === 'pipe') pipeRate = r.rps;
    }
    const requests = Math.max(c.connections * 100, Math.round((pipeRate * SECONDS) / c.connections) * c.connections);
    // Each round takes the paths in another order (order.ts), so that neither a drift of the
    // machine's speed over a round nor what one path's turn leaves behind weighs on one path.
    const cpuMs = { pipe: 0, pipe2: 0, pass: 0, error10: 0, toxiproxy: 0 };
    const ioCalls = { pipe: 0, pipe2: 0, pass: 0, error10: 0, toxiproxy: 0 };
    const replies = { pipe: 0, pipe2: 0, pass: 0, error10: 0, toxiproxy: 0 };
    for (let round = 0; round < rounds; round++) {
      for (const p of roundOrder(paths, round)) {
        const pid = p === 'direct' ? undefined : middles[p]!.pid!;
        const before = pid === undefined ? 0 : processCpuMs(pid) ?? NaN;
        const callsBefore = pid === undefined ? 0 : processIoCalls(pid) ?? NaN;
        const r = await run(p, requests, full);
        rps[p].push(r.rps);
        if (p === 'direct' || pid === undefined) continue;
        cpuMs[p] += (processCpuMs(pid) ?? NaN) - before;
        ioCalls[p] += (processIoCalls(pid) ?? NaN) - callsBefore;
        replies[p] += r.replies;
      }
    }
    for (const p of ['pipe', 'pipe2', 'pass', 'error10', 'toxiproxy'] as const) {
      row.cpu[p] = (cpuMs[p] * 1000) / replies[p];
      row.calls[p] = ioCalls[p] / replies[p];
    }
    // One request at a time, the two paths in short turns, so both meet the same machine noise: in
    // four turns, one stall of the host's fell on one path's turn and moved its p99 by 1.6 ms.
    const hist = { pipe: new Histogram(), pass: new Histogram() };
    for (let i = 0; i < LATENCY_TURNS; i++) {
      for (const p of ['pipe', 'pass'] as const) await run(p, LATENCY_REQUESTS / LATENCY_TURNS, { connections: 1, depth: 1, latency: hist[p] });
    }
    row.p99 = { pipe: hist.pipe.percentile(99) / 1000, pass: hist.pass.percentile(99) / 1000 };
    for (const p of ['pass', 'error10'] as const) {
      const stats = await askStats<ProxyStats>(proxies[p]);
      if (stats.exchanges !== sent[p]) throw new Error(`${name} ${p}: the proxy counted ${stats.exchanges} exchanges for ${sent[p]} requests`);
      const errors = stats.behaviors.error ?? 0;
      if (errors !== injected[p]) throw new Error(`${name} ${p}: the proxy injected ${errors} errors, the clients got ${injected[p]}`);
    }
    row.errorShare = injected.error10 / sent.error10;
    // Four standard deviations of a 10 % draw over this many exchanges.
    const tolerance = 4 * Math.sqrt((0.1 * 0.9) / sent.error10);
    if (Math.abs(row.errorShare - 0.1) > tolerance) throw new Error(`${name}: ${(row.errorShare * 100).toFixed(2)} % errors at 10:error`);
    return row;
  } finally {
    await server.stop();
  }
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');

/** A ratio in two decimals, or three where two would round a miss up to the goal (0.998, not 1.00). */
export function shownRatio(r: number, goal: number): string {
  const two = fmt(r, 2);
  return r < goal && two === fmt(goal, 2) ? fmt(r, 3) : two;
}

/**
 * The median of the rounds' ratios against its goal, and the lowest and highest round: on two
 * shared cores one round's ratio swings by 20 % either way, and the spread says how far a verdict
 * near the goal can be trusted.
 */
function versus(ratios: number[], goal: number): string {
  const r = median(ratios);
  return `${shownRatio(r, goal)}x (rounds ${spread(ratios)}; >= ${fmt(goal, 1)}: ${r >= goal ? 'yes' : '**no**'})`;
}

const spread = (ratios: number[]) => `${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)}`;

/** The control: the second bare pipe over the first, no goal (any distance from 1.0 is noise). */
function control(row: Row): string {
  const r = ratios(row, 'pipe2');
  return `${fmt(median(r), 2)}x (rounds ${spread(r)})`;
}

/** Per round, a path's rate over the baseline's (the pipe's) in the same round. */
function ratios(row: Row, p: PathName, base: PathName = 'pipe'): number[] {
  return row.rps[p].map((x, i) => x / row.rps[base][i]);
}

export async function protocolTable(webPort: number): Promise<void> {
  const rows: Row[] = [];
  // BENCH_ONLY=redis,postgres: those rows only (while working on one protocol).
  const only = process.env.BENCH_ONLY?.split(',');
  const toxiBinary = toxiproxyBinary();
  const toxiproxy = toxiBinary ? await startToxiproxy(toxiBinary) : undefined;
  const paths = PATHS.filter((p) => p !== 'toxiproxy' || toxiproxy);
  const rounds = roundsFor(paths.length);
  console.log(`\nProtocols: pipelined loads against the real servers, ${rounds} rounds of ~${SECONDS}s per path, paths in turn (in another order each round: a Williams design, reversed every other round); replies/s (median of rounds); a ratio is the median of the rounds' own ratios to the bare pipe of the same round, with the lowest and highest round; the second bare pipe, a process like the first, is the control: its ratio to the first is what the machine's noise alone gives\n`);
  try {
    for (const c of cases(webPort)) if (!only || only.includes(c.wire.name)) rows.push(await measure(c, toxiproxy, paths, rounds));
  } finally {
    toxiproxy?.stop();
  }
  const mark = (ok: boolean) => (ok ? 'yes' : '**no**');
  console.log('| protocol | load | direct | bare pipe | proxy passing | proxy 10:error | passing / pipe | 10:error / pipe | second pipe / pipe (control) | added p99 over pipe | errors at 10:error | CPU µs/reply: pipe, passing, 10:error | read+write calls/reply: pipe, passing, 10:error |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.skipped) {
      console.log(`| ${r.name} | ${r.load} | skipped: ${r.skipped} | | | | | | | | | | |`);
      continue;
    }
    const pass = ratios(r, 'pass');
    const err = ratios(r, 'error10');
    const added = r.p99.pass - r.p99.pipe;
    console.log(
      `| ${r.name} | ${r.load} | ${fmt(median(r.rps.direct))} | ${fmt(median(r.rps.pipe))} | ${fmt(median(r.rps.pass))} | ${fmt(median(r.rps.error10))} ` +
        `| ${versus(pass, GOAL_PASS)} | ${versus(err, GOAL_ERROR)} | ${control(r)} ` +
        `| ${fmt(added, 3)} ms (<= ${GOAL_P99_MS}: ${mark(added <= GOAL_P99_MS)}) | ${fmt(r.errorShare * 100, 2)} % ` +
        `| ${fmt(r.cpu.pipe, 2)}, ${fmt(r.cpu.pass, 2)}, ${fmt(r.cpu.error10, 2)} ` +
        `| ${fmt(r.calls.pipe, 3)}, ${fmt(r.calls.pass, 3)}, ${fmt(r.calls.error10, 3)} |`,
    );
  }
  toxiproxyTable(rows, toxiBinary);
}

/** The same rounds against Toxiproxy passing through, the peer the issue asks the proxy to be ahead of. */
function toxiproxyTable(rows: Row[], binary: string | undefined): void {
  if (!binary) {
    console.log('\nToxiproxy: not measured (no toxiproxy-server on PATH; TOXIPROXY_SERVER=FILE names one)');
    return;
  }
  console.log(`\nAgainst Toxiproxy (${binary}), passing through with no toxic, in the same rounds: a ratio is the median of the rounds' own ratios\n`);
  console.log('| protocol | Toxiproxy | proxy passing | passing / Toxiproxy | bare pipe / Toxiproxy | CPU µs/reply: Toxiproxy, passing | read+write calls/reply: Toxiproxy, passing |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.skipped) continue;
    console.log(
      `| ${r.name} | ${fmt(median(r.rps.toxiproxy))} | ${fmt(median(r.rps.pass))} | ${versus(ratios(r, 'pass', 'toxiproxy'), GOAL_PASS)} ` +
        `| ${fmt(median(ratios(r, 'pipe', 'toxiproxy')), 2)}x | ${fmt(r.cpu.toxiproxy, 2)}, ${fmt(r.cpu.pass, 2)} | ${fmt(r.calls.toxiproxy, 3)}, ${fmt(r.calls.pass, 3)} |`,
    );
  }
}
