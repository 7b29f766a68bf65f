/**
 * bench:runner-ci — the builtin runner as users run it: a real `marteau-tui --ci` job (the CLI,
 * the engine, the queue, the job's console lines, its results.xml and reports), 32 users, no
 * think time, one GET, against autocannon -c 32 on the same loopback app, in alternating rounds.
 * Then one long job, for the job process's memory from 100k to 1M requests.
 *
 *   npm run bench:runner-ci                       # 5 rounds of 2 s per tool, then the 1M-request job
 *   BENCH_SECONDS=4 BENCH_ROUNDS=3 npm run bench:runner-ci
 *
 * A bench of its own rather than a line of bench:runner: each round starts the CLI (about a
 * second of start-up and queueing outside the recorded window), and the long job runs the
 * whole engine for a minute, which bench:runner's quick client comparison need not wait for.
 *
 * The job's rate is its own (summary.json: requests recorded over the cycle's recording window),
 * as autocannon's is its own (its requests over its duration); the server's steady rate of both
 * is printed beside them. Each round checks that the job recorded in results.xml exactly as many
 * samples as its summary reports requests, and that the server served at least that many.
 * Memory is the job process's (the job runs in the CLI's process): its heap after a full GC at
 * 100k and at 1M requests, asked over the inspector protocol (the long job's CLI runs with
 * --inspect on loopback; nothing else talks to it), and its resident set from /proc at every
 * progress line.
 */
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'undici';
import { median } from './median.js';
import { autocannonCli, autocannonCliArgs, clientCommand, CONNECTIONS, FIRST_MARK, MAX_REQUESTS, MEMORY_PHASE_LIMIT_S, pinThisProcess, placement, ROUND_SECONDS, ROUNDS, sameRequest, startTarget, steadyRate, withAutocannon, type Target } from './runner-common.js';
import { processCpuMs } from './proc-cpu.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'bin', 'marteau-tui.js');
const NODES = path.join(ROOT, 'marteau.nodes.yml');

interface JobRun {
  /** The job's own rate: recorded requests over the recording window. */
  ownRps: number;
  /** The server's steady rate during the job. */
  rps: number;
  requests: number;
  samples: number;
  /** Resident set of the job process at the progress lines: [requests so far, MB]. */
  rss: [number, number][];
  /** The job process's CPU µs per request while its users ran (start-up and reports left out). */
  cpuPerRequest: number;
  /** Seconds from the end of the recording to the job's end: results.xml from the log, the reports. */
  afterLoad: number;
  /** Heap after a full GC at the marks asked for: [requests so far, MB]. */
  heap: [number, number][];
  /** The app's CPU µs per request it served during the job: what the client's way of waiting costs it. */
  appPerRequest: number;
}

/** A connection to a process's inspector: one full GC, then its used heap. */
async function inspector(url: string): Promise<{ heapAfterGc(): Promise<number>; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  let id = 0;
  const waiting = new Map<number, (r: { result?: { usedSize?: number } }) => void>();
  ws.addEventListener('message', (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: { usedSize?: number } };
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  const call = (method: string) =>
    new Promise<{ result?: { usedSize?: number } }>((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  return {
    heapAfterGc: async () => {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      return ((await call('Runtime.getHeapUsage')).result?.usedSize ?? NaN) / 1024 / 1024;
    },
    close: () => ws.close(),
  };
}

/** `<response ` elements in a result file, counted as a stream (a 1M-request file is ~300 MB). */
async function countResponses(file: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(file) })) if (line.startsWith('<response ')) n++;
  return n;
}

const rssMB = (pid: number): number | undefined => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Run one `--ci` job of `seconds` against the target; its figures from its own result files.
 * `heapMarks`: its heap after GC is read once past each of these request counts.
 */
async function ciJob(target: Target, dir: string, seconds: number, heapMarks: number[] = []): Promise<JobRun> {
  const project = await mkdtemp(path.join(dir, 'job-'));
  const state = path.join(project, 'state');
  await mkdir(path.join(project, 'p'));
  await writeFile(
    path.join(project, 'p', '.marteau.yml'),
    `name: bench-ci\nrunner: builtin\nbase_url: ${target.url}\ncycles: [${CONNECTIONS}]\nduration: ${seconds}\nstartup_delay: 0\nscenario:\n  - {get: /}\n`,
  );
  target.start();
  const inspect = heapMarks.length ? ['--inspect=127.0.0.1:0'] : [];
  const [command, args] = clientCommand([process.execPath, ...inspect, CLI, '--state-dir', state, '--nodes', NODES, '--ci', path.join(project, 'p')]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', inspect.length ? 'pipe' : 'inherit'], env: { ...process.env, NO_COLOR: '1' } });
  const exited = new Promise<number>((r) => child.once('exit', (c, sig) => r(c ?? (sig ? 128 : -1))));
  let session: Promise<Awaited<ReturnType<typeof inspector>>> | undefined;
  if (inspect.length) {
    const lines = createInterface({ input: child.stderr! });
    session = new Promise((resolve, reject) => {
      lines.on('line', (l) => {
        const m = /Debugger listening on (ws:\/\/\S+)/.exec(l);
        if (m) resolve(inspector(m[1]));
        else if (!/^For help, see|^Debugger (attached|ending)|^Waiting for the debugger/.test(l)) process.stderr.write(`${l}\n`);
      });
      child.once('exit', () => reject(new Error('the job process exited before its inspector listened')));
    });
    session.catch(() => {});
  }
  const rss: [number, number][] = [];
  const heap: [number, number][] = [];
  // [requests so far, CPU seconds] at the progress lines while the users run.
  const cpu: [number, number][] = [];
  let stopping = false;
  const tail: string[] = [];
  // The deadline bounds a job that hangs: the cycle, the CLI's start and the reports.
  const deadline = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
  for await (const line of createInterface({ input: child.stdout! })) {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    const m = /progress: .* (\d+) requests,/.exec(line);
    const mb = m ? rssMB(child.pid!) : undefined;
    if (m && mb !== undefined) rss.push([Number(m[1]), mb]);
    // Up to the first line that says the users are stopping (a 2 s round has only that one after the first).
    const used = m && !stopping ? processCpuMs(child.pid!) : undefined;
    if (m && used !== undefined) cpu.push([Number(m[1]), used / 1000]);
    stopping ||= Boolean(m) && /stopping|done/.test(line);
    if (m && session && heap.length < heapMarks.length && Number(m[1]) >= heapMarks[heap.length]) {
      heap.push([Number(m[1]), await (await session).heapAfterGc()]);
    }
    // The process would wait for its inspector session to end before exiting.
    if (session && (heap.length === heapMarks.length || /^marteau-tui --ci: \d+ jobs?: /.test(line))) {
      void session.then((s) => s.close(), () => {});
      session = undefined;
    }
  }
  const code = await exited;
  clearTimeout(deadline);
  const { samples: served, cpuSeconds: appSeconds } = await target.stop();
  if (code !== 0) throw new Error(`the --ci job exited ${code}:\n${tail.join('\n')}`);
  const [id] = await readdir(path.join(state, 'jobs'));
  const jobDir = path.join(state, 'jobs', id);
  const summary = JSON.parse(readFileSync(path.join(jobDir, 'summary.json'), 'utf8')) as { cycles: { start: number; end: number; requests: { total: number; success: number } }[] };
  const c = summary.cycles[0];
  const ended = Date.parse((JSON.parse(readFileSync(path.join(jobDir, 'result.json'), 'utf8')) as { endedAt: string }).endedAt);
  if (c.requests.success !== c.requests.total) throw new Error(`the job saw ${c.requests.total - c.requests.success} failed requests`);
  const samples = await countResponses(path.join(jobDir, 'results.xml'));
  if (samples !== c.requests.total) throw new Error(`the job reports ${c.requests.total} requests but recorded ${samples} samples in results.xml`);
  const total = served[served.length - 1][1];
  if (total < c.requests.total) throw new Error(`the job counted ${c.requests.total} requests but the server served ${total}`);
  await rm(project, { recursive: true, force: true });
  const [[r0, c0], [r1, c1]] = [cpu[0] ?? [0, 0], cpu[cpu.length - 1] ?? [0, 0]];
  return { ownRps: c.requests.total / ((c.end - c.start) / 1000), rps: steadyRate(served), requests: c.requests.total, samples, rss, heap, cpuPerRequest: r1 > r0 ? ((c1 - c0) * 1e6) / (r1 - r0) : NaN, afterLoad: (ended - c.end) / 1000, appPerRequest: (appSeconds * 1e6) / total };
}

/**
 * autocannon as a user runs it beside a job: its CLI, a new process each round (its code cold,
 * as the job's is). Its CPU per request counts its start-up, so only its rate is compared.
 */
async function withAutocannonCli(target: Target, seconds: number): Promise<{ rps: number; ownRps: number; appPerRequest: number }> {
  target.start();
  const result = await autocannonCli([...autocannonCliArgs(CONNECTIONS, `${target.url}/`), '-d', String(seconds)]);
  const { samples, cpuSeconds } = await target.stop();
  const served = samples[samples.length - 1][1];
  const counted = result.requests.total;
  if (result.errors || result.non2xx) throw new Error(`autocannon's CLI saw ${result.errors} errors and ${result.non2xx} non-2xx answers`);
  if (counted <= 0 || served < counted || served > counted + 2 * CONNECTIONS) {
    throw new Error(`autocannon's CLI counted ${counted} requests but the server served ${served}: the bench would print a wrong rate`);
  }
  return { rps: steadyRate(samples), ownRps: counted / result.duration, appPerRequest: (cpuSeconds * 1e6) / served };
}

async function main(): Promise<void> {
  await sameRequest();
  pinThisProcess();
  const target = await startTarget();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-runner-ci-'));
  try {
    console.log(`bench:runner-ci: a real --ci job (builtin runner, ${CONNECTIONS} users, no think time, one GET) against autocannon -c ${CONNECTIONS}, ${ROUNDS} rounds of ${ROUND_SECONDS}s per tool, loopback app in its own process (${target.url}); ${placement}`);
    await withAutocannon(target, 2);
    await withAutocannonCli(target, 2);
    await ciJob(target, dir, 2);
    const ac: { rps: number; ownRps: number; cpuPerRequest: number; appPerRequest: number }[] = [];
    const cli: Awaited<ReturnType<typeof withAutocannonCli>>[] = [];
    const job: JobRun[] = [];
    // The three in turn, in reverse every other round (a drift of the machine weighs on all alike).
    const steps = [
      async () => ac.push(await withAutocannon(target, ROUND_SECONDS)),
      async () => cli.push(await withAutocannonCli(target, ROUND_SECONDS)),
      async () => job.push(await ciJob(target, dir, ROUND_SECONDS)),
    ];
    for (let round = 0; round < ROUNDS; round++) for (const step of round % 2 ? [...steps].reverse() : steps) await step();
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    console.log(`autocannon      ${median(ac.map((r) => r.ownRps)).toFixed(0)} req/s median, its own figure, run in this (warm) process (runs: ${fmt(ac.map((r) => r.ownRps))}; the server's steady rate ${fmt(ac.map((r) => r.rps))})`);
    console.log(`autocannon CLI  ${median(cli.map((r) => r.ownRps)).toFixed(0)} req/s median, its own figure, a new process each round as the job is (runs: ${fmt(cli.map((r) => r.ownRps))}; the server's steady rate ${fmt(cli.map((r) => r.rps))})`);
    console.log(`--ci job        ${median(job.map((r) => r.ownRps)).toFixed(0)} req/s median, from its summary.json (runs: ${fmt(job.map((r) => r.ownRps))}; the server's steady rate ${fmt(job.map((r) => r.rps))})`);
    const paired = median(job.map((j, i) => j.ownRps / cli[i].ownRps));
    const pairedServer = median(job.map((j, i) => j.rps / cli[i].rps));
    console.log(`ratio --ci job/autocannon CLI: median of paired rounds ${paired.toFixed(2)}x (the server's rates: ${pairedServer.toFixed(2)}x)  (goal >= 1.00x)`);
    const pairedWarm = median(job.map((j, i) => j.ownRps / ac[i].ownRps));
    const pairedWarmServer = median(job.map((j, i) => j.rps / ac[i].rps));
    console.log(`ratio --ci job/autocannon in this process: median of paired rounds ${pairedWarm.toFixed(2)}x (the server's rates: ${pairedWarmServer.toFixed(2)}x)`);
    console.log(`client CPU per request (median): autocannon ${median(ac.map((r) => r.cpuPerRequest)).toFixed(1)} µs, the --ci job's process ${median(job.map((r) => r.cpuPerRequest)).toFixed(1)} µs while its users ran (runs: ${job.map((r) => r.cpuPerRequest.toFixed(1)).join(', ')})`);
    console.log(`app CPU per request (median): ${median(ac.map((r) => r.appPerRequest)).toFixed(1)} µs under autocannon, ${median(cli.map((r) => r.appPerRequest)).toFixed(1)} µs under its CLI, ${median(job.map((r) => r.appPerRequest)).toFixed(1)} µs under the --ci job; the app is on one core, so the tool that costs it less per request can go faster`);
    console.log(`samples: every round's results.xml holds exactly the requests its summary reports (${fmt(job.map((r) => r.samples))})`);

    // Memory: one job long enough for MAX_REQUESTS at the rate just measured (bounded in time).
    const rate = median(job.map((r) => r.ownRps));
    const seconds = Math.min(MEMORY_PHASE_LIMIT_S, Math.ceil((1.15 * MAX_REQUESTS) / rate) + 1);
    const long = await ciJob(target, dir, seconds, [FIRST_MARK, MAX_REQUESTS]);
    const peak = Math.max(...long.rss.map(([, mb]) => mb));
    console.log(`memory: a ${seconds}s job, ${long.requests} requests recorded (${long.samples} samples in results.xml); job process heap after GC ${long.heap.map(([n, mb]) => `${mb.toFixed(1)} MB at ${n}`).join(', ')} requests; RSS peak ${peak.toFixed(0)} MB; ${long.afterLoad.toFixed(1)} s from the end of its load to its end (results.xml made from the log, reports)`);
    if (long.heap.length === 2) {
      const [[n0, h0], [n1, h1]] = long.heap;
      const growth = h1 - h0;
      console.log(`memory growth from ${n0} to ${n1} requests: ${growth.toFixed(2)} MB heap (${((growth * 1024 * 1024) / (n1 - n0)).toFixed(2)} bytes/request)`);
      console.log(JSON.stringify({ connections: CONNECTIONS, autocannon_rps: Math.round(median(ac.map((r) => r.ownRps))), autocannon_cli_rps: Math.round(median(cli.map((r) => r.ownRps))), job_rps: Math.round(rate), paired_ratio: Number(paired.toFixed(3)), server_paired_ratio: Number(pairedServer.toFixed(3)), paired_ratio_warm: Number(pairedWarm.toFixed(3)), heap_mb: [h0, h1].map((x) => Number(x.toFixed(2))), requests: [n0, n1], rss_peak_mb: Math.round(peak) }));
    } else {
      console.log(`memory: the job ended before ${MAX_REQUESTS} requests (BENCH_MEMORY_LIMIT_S=${MEMORY_PHASE_LIMIT_S}); set BENCH_REQUESTS lower on a slow machine`);
    }
  } finally {
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
