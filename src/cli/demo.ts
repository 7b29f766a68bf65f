/**
 * `marteau-tui demo` (`npm start`): on a terminal, the control center with a demo job queued
 * (tui-demo.ts); otherwise, or with --plain, the demo shop app behind an http chaos proxy, a
 * short bounded load through it, and live lines of what the proxy did and what users saw.
 */
import http from 'node:http';
import { startDemoApp } from '../../fixtures/demo/app.js';
import type { MixEntrySpec, MixSpec } from '../proxy/mix.js';
import { defaultRegistry } from '../../behaviors/index.js';
import { startProxy } from '../proxy/proxy.js';
import { EXIT, UsageError } from '../core/exit.js';
import type { Io } from './proxy-command.js';
import { formatProxyLine, LiveLines } from './proxy-status.js';
import { runTuiDemo } from './tui-demo.js';

const WORKERS = 8;
const MAX_REQUESTS = 200_000;

export async function runDemo(o: { duration: string; behaviors: string; plain?: boolean; stateDir?: string }, io: Io): Promise<number> {
  const seconds = Number(o.duration);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new UsageError('--duration: seconds from 1 to 3600');
  if (!o.plain && io.out.isTTY && process.stdin.isTTY) return runTuiDemo(seconds, { stateDir: o.stateDir, out: io.out });
  if (!o.plain) io.out.write('(not a terminal: plain lines instead of the control center)\n');
  const app = await startDemoApp();
  const proxy = await startProxy({
    name: 'shop',
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${app.port}`,
    protocol: 'http',
    behaviors: withDemoOptions(o.behaviors),
  }, { behaviors: defaultRegistry }).catch((e: Error) => { throw new UsageError(`--behaviors: ${e.message}`); });
  io.out.write(`demo shop app on 127.0.0.1:${app.port}, chaos proxy "shop" on ${proxy.listenAddress} (mix ${proxy.mix.text})\n`);
  io.out.write(`sending load through the proxy for ${seconds}s with ${WORKERS} users; Ctrl-C stops\n`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  const seen = { requests: 0, ok: 0, server: 0, other: 0, failed: 0 };
  const deadline = Date.now() + seconds * 1000;
  let stopped = false;
  const onInt = () => { stopped = true; };
  process.once('SIGINT', onInt);
  const worker = async (w: number) => {
    for (let i = 0; !stopped && Date.now() < deadline && seen.requests < MAX_REQUESTS; i++) {
      const path = i % 3 === 0 ? '/items' : `/items/${((w * 7 + i) % 20) + 1}`;
      const status = await get(agent, proxy.port, path);
      seen.requests++;
      if (status === 0) seen.failed++;
      else if (status < 400) seen.ok++;
      else if (status >= 500) seen.server++;
      else seen.other++;
    }
  };
  const live = new LiveLines(io.out, io.out.isTTY === true);
  let before = proxy.stats();
  let at = performance.now();
  const show = () => {
    const now = proxy.stats();
    const t = performance.now();
    live.show([
      formatProxyLine(now, before, (t - at) / 1000),
      `users ${WORKERS}  requests ${seen.requests}  2xx/3xx ${seen.ok}  5xx ${seen.server}  4xx ${seen.other}  failed ${seen.failed}`,
    ]);
    before = now;
    at = t;
  };
  const timer = setInterval(show, 1000);
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  clearInterval(timer);
  show();
  process.off('SIGINT', onInt);
  agent.destroy();
  await proxy.close(500);
  await app.close();
  io.out.write(`done: ${seen.requests} requests, ${seen.server} answered 5xx by the chaos proxy, ${seen.failed} failed at the connection\n`);
  io.out.write('next: `npm run sweep` (marteau-tui demo --sweep) sweeps the demo shop through every backend fault and prints the resilience matrix\n');
  return stopped ? EXIT.interrupted : EXIT.ok;
}

/** A bare name in the demo mix gets demo-friendly options (a 1 s Vaurien delay is too slow to watch). */
function withDemoOptions(mix: string): MixSpec {
  if (!/\bdelay\b/.test(mix)) return mix;
  const map: Record<string, number | MixEntrySpec> = {};
  for (const part of mix.split(',')) {
    const [pct, name] = part.split(':').map((x) => x.trim());
    map[name] = name === 'delay' ? { percent: Number(pct), sleep: 0.05 } : Number(pct);
  }
  return map;
}

function get(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}
