/**
 * npm run bench:api — control API latency while traffic flows, against the same calls on an idle
 * proxy. A running `marteau-tui proxy --api` (the built CLI, its own process) serves an HTTP
 * proxy that wrk loads with keep-alive requests; meanwhile this process changes toxics and the
 * mix in a loop through the API, one call at a time, and times each call. Also shown: the
 * data path's req/s with and without that API churn.
 *
 * Needs `wrk` (Debian package wrk). BENCH_SECONDS sets each phase's length (default 8).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const MAX_CYCLES = 100_000;
const children: ChildProcess[] = [];

function start(args: string[], ready: RegExp): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve(m);
    });
    child.once('exit', (c) => reject(new Error(`${args.join(' ')} exited with ${c}: ${out}`)));
  });
}

async function wrk(port: number, seconds: number): Promise<{ rps: number; p99: number; errors: number }> {
  const { stdout } = await run('wrk', ['-t1', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const unit = { us: 0.001, ms: 1, s: 1000 }[p99?.[2] as 'us' | 'ms' | 's'] ?? NaN;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = non2xx + (socket ? socket.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0);
  return { rps, p99: Number(p99?.[1]) * unit, errors };
}

interface Client {
  call(method: string, route: string, body?: unknown): Promise<void>;
}

function client(base: string): Client {
  return {
    async call(method, route, body) {
      const res = await fetch(`${base}${route}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      await res.arrayBuffer();
      if (res.status >= 400) throw new Error(`${method} ${route}: ${res.status}`);
    },
  };
}

/** One cycle of the calls a test suite makes: add, change, read, set the mix, read stats, remove. */
async function cycle(api: Client, times: number[]): Promise<void> {
  const timed = async (method: string, route: string, body?: unknown) => {
    const t = performance.now();
    await api.call(method, route, body);
    times.push(performance.now() - t);
  };
  await timed('POST', '/proxies/bench/toxics', { name: 't', type: 'latency', attributes: { latency: 0, jitter: 0 } });
  await timed('PATCH', '/proxies/bench/toxics/t', { toxicity: 0.5 });
  await timed('GET', '/proxies');
  await timed('PUT', '/marteau/proxies/bench/mix', { mix: { delay: { percent: 1, sleep: 0 } } });
  await timed('GET', '/marteau/stats');
  await timed('DELETE', '/proxies/bench/toxics/t');
}

async function churn(api: Client, ms: number): Promise<number[]> {
  const times: number[] = [];
  const until = performance.now() + ms;
  for (let i = 0; i < MAX_CYCLES && performance.now() < until; i++) await cycle(api, times);
  return times;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((q / 100) * s.length))];
};
const fmt = (n: number, d = 2) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  try {
    await run('wrk', ['--version']).catch((e: { stdout?: string }) => { if (!String(e.stdout ?? '').includes('wrk')) throw e; });
  } catch {
    console.error('bench:api needs wrk (apt-get install wrk)');
    process.exit(2);
  }
  const up = await start([path.join(here, 'upstream.js')], /^(\d+) (\d+)\n/);
  const webPort = Number(up[1]);
  const cli = await start([path.join(root, 'bin/marteau-tui.js'), 'proxy', '--api', '127.0.0.1:0', '--interval', '600000'], /api listening on (http:\/\/[\d.]+:\d+)/);
  const api = client(cli[1]);
  const created = await fetch(`${cli[1]}/proxies`, { method: 'POST', body: JSON.stringify({ name: 'bench', listen: '127.0.0.1:0', upstream: `127.0.0.1:${webPort}`, protocol: 'http' }) });
  const proxyPort = Number(((await created.json()) as { listen: string }).listen.split(':').pop());
  console.log(`bench:api — ${SECONDS}s phases; wrk 1 thread, 32 keep-alive connections on an http proxy; API calls one at a time (add/patch/list/mix/stats/remove)\n`);

  // Warm up the JIT on both paths.
  await churn(api, 1000);
  await wrk(proxyPort, 1);

  const idle = await churn(api, SECONDS * 1000);
  const alone = await wrk(proxyPort, SECONDS);
  // wrk runs a little longer than the churn, so every timed call happens under load.
  const loaded = wrk(proxyPort, SECONDS + 2);
  await sleep(1000);
  const busy = await churn(api, SECONDS * 1000);
  const withChurn = await loaded;

  const row = (name: string, value: string, ratio: string) => console.log(`| ${name} | ${value} | ${ratio} |`);
  console.log('| measure | value | ratio |');
  console.log('|---|---|---|');
  row('API calls timed, idle / under load', `${idle.length} / ${busy.length}`, '');
  row('API call p50, idle (baseline)', `${fmt(pct(idle, 50), 3)} ms`, '1.00×');
  row('API call p50, under load', `${fmt(pct(busy, 50), 3)} ms`, `${fmt(pct(busy, 50) / pct(idle, 50))}× idle`);
  row('API call p99, idle (baseline)', `${fmt(pct(idle, 99), 3)} ms`, '1.00×');
  row('API call p99, under load', `${fmt(pct(busy, 99), 3)} ms`, `${fmt(pct(busy, 99) / pct(idle, 99))}× idle`);
  row('API call max, under load', `${fmt(Math.max(...busy), 3)} ms`, '');
  row('proxy req/s, no API calls (baseline)', fmt(alone.rps, 0), '1.00×');
  row('proxy req/s, API churning toxics', fmt(withChurn.rps, 0), `${fmt(withChurn.rps / alone.rps)}× `);
  row('proxy p99, no API calls / churning', `${fmt(alone.p99)} / ${fmt(withChurn.p99)} ms`, `${fmt(withChurn.p99 / alone.p99)}×`);
  row('wrk errors (socket + non-2xx), alone / churning', `${alone.errors} / ${withChurn.errors}`, '');
}

main()
  .catch((e) => { console.error(e); process.exitCode = 1; })
  .finally(() => { for (const c of children) c.kill('SIGTERM'); });
