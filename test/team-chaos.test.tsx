/**
 * Team mode: a terminal on the shared queue changes the chaos of a proxy a worker runs (a real
 * `marteau-tui worker` on a real redis-server), through the queue: the mix editor, a preset and
 * the scenario's pause. The worker makes the change as one by hand and records who made it; a
 * change it refuses comes back with its reason, and one nobody takes is withdrawn, said, and
 * not applied by an engine that reads it later.
 */
import http from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { render } from 'ink-testing-library';
import { afterAll, afterEach, expect, it } from 'vitest';
import { parseQueueUrl } from '../src/config/queue-url.js';
import type { Engine } from '../src/core/engine.js';
import { currentOwner } from '../src/core/owner.js';
import type { ChaosRequest } from '../src/core/queue-types.js';
import { RedisQueue } from '../src/core/redis-queue.js';
import { App } from '../src/ui/App.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { startLoadApp } from '../fixtures/load/app.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { freePort } from './helpers/net.js';
import { haveServer, startRedis } from './helpers/servers.js';
import { nodesFile, until, urlOf, viewer, worker } from './helpers/team.js';

const HAVE = haveServer('redis-server');
const strip = (s = '') => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');
let cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
afterAll(removeTemp);

/** A worker running a job whose client asks through its http proxy `web` every 20 ms, and a TUI elsewhere on the queue. */
async function workerWithProxy() {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const url = urlOf(redis);
  const app = await startLoadApp();
  cleanups.push(() => app.close());
  const port = await freePort();
  const talk = 'const http = require("node:http"); setInterval(() => http.get(`http://${process.env.MARTEAU_PROXY_WEB}/`, (r) => r.resume()).on("error", () => {}), 20);';
  // Its scenario's one change is 20 minutes away: it says 'next later', and changes nothing meanwhile.
  const dir = await project(`name: talker\n${commandYaml([process.execPath, '-e', talk])}\ntimeout: 30m\nproxies:\n  web: {listen: "127.0.0.1:${port}", upstream: "127.0.0.1:${app.port}", protocol: http}\nchaos:\n  - {name: later, proxy: web, at: 20m, behaviors: "100:blackout"}\n`);
  const state = await stateDir();
  const w = await worker(url, await nodesFile('nodes:\n  local: {type: local}\n'), state);
  cleanups.push(() => w.child.kill('SIGKILL'));
  const tui: Engine = await viewer(url);
  cleanups.push(() => tui.stop());
  const { id } = await tui.enqueue(dir, { origin: 'tui' });
  const backend = engineBackend(tui, { cwd: process.cwd() });
  cleanups.push(() => backend.stop());
  const web = () => backend.proxies.getSnapshot().proxies.find((p) => p.stats.name === 'web');
  await until('the worker\'s proxy with its mix', () => web() && backend.proxies.mixOf('web'), 20_000);
  return { url, port, id, worker: w, tui, backend, web, consoleLog: () => readFileSync(path.join(state, 'jobs', id, 'console.log'), 'utf8') };
}

it.skipIf(!HAVE)('a TUI on the team queue sets the mix of a proxy a worker runs with its editor and a preset, and pauses its scenario; the worker records who', async () => {
  const { port, worker: w, backend, web, consoleLog } = await workerWithProxy();
  const ui = render(<App backend={backend} title="team" onQuit={() => {}} />);
  cleanups.push(() => ui.unmount());
  const me = `pid ${currentOwner().pid} on ${currentOwner().host}`;
  expect(await status(port)).toBe(200);
  await until('who runs it', () => strip(ui.lastFrame()).includes(`run by pid ${w.child.pid} on `), 10_000);

  // Its scenario shows as its own, and s pauses and resumes it in the worker.
  ui.stdin.write('4');
  await until('its scenario', () => strip(ui.lastFrame()).includes('next later'), 10_000);
  ui.stdin.write('s');
  await until('paused here', () => strip(ui.lastFrame()).includes('⏸ paused (s resumes)'), 10_000);
  await until('paused in the worker', () => consoleLog().includes(`chaos web: paused by ${me}; scheduled changes wait for resume`), 10_000);
  ui.stdin.write('s');
  await until('resumed', () => strip(ui.lastFrame()).includes('▶ own mix'), 10_000);

  // The editor starts from the worker's mix and changes it there: error raised to 5 %.
  await until('the editor on delay', () => /›\s*delay\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('j');
  await until('the editor on error', () => /›\s*error\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('+');
  await until('the worker\'s proxy at 5:error', () => web()!.stats.mix === '5:error', 10_000);
  expect(backend.messages.getSnapshot().map((m) => m.text)).toContain('web: error 5%');
  await until('the change by hand in the job\'s log', () => consoleLog().includes(`manual: web mix 5:error set by hand from ${me}`), 10_000);

  // A preset that breaks it asks first, naming the worker's job, then cuts every connection there.
  ui.stdin.write('p');
  await until('the presets', () => strip(ui.lastFrame()).includes('blackout'), 10_000);
  ui.stdin.write('9');
  await until('the question', () => strip(ui.lastFrame()).includes('under running job talker?'), 10_000);
  ui.stdin.write('y');
  await until('requests cut', async () => (await status(port)) === 'cut', 10_000);
  await until('blackouts counted', () => (web()!.stats.behaviors.blackout ?? 0) > 0, 10_000);
  // Undone: the mix before the preset, in the worker.
  ui.stdin.write('u');
  await until('undone in the worker', () => web()!.stats.mix === '5:error', 10_000);
  expect(consoleLog()).toContain(`manual: web mix 100:blackout set by hand from ${me}`);
}, 90_000);

it.skipIf(!HAVE)('a change the worker refuses comes back with its reason: a behavior it does not know, a proxy its job does not have, a job that has ended', async () => {
  const { url, id, worker: w, tui, backend, web } = await workerWithProxy();
  const of = `proxy "web" of pid ${w.child.pid} on ${currentOwner().host}`;
  await expect(backend.proxies.setMix('web', '50:nosuch')).rejects.toThrow(`${of}: unknown behavior "nosuch"`);
  expect(web()!.stats.mix).toBe('100:dummy');
  // Another engine on the queue, asking by job and proxy names.
  const other = new RedisQueue({ url: parseQueueUrl(url) });
  await other.open();
  cleanups.push(() => other.close());
  await expect(other.chaos.request(id, 'db', { mix: '10:error' })).rejects.toThrow(`job ${id.slice(0, 8)} has no proxy "db" (its proxies: web)`);
  await tui.cancel(id);
  await until('the job cancelled', () => tui.getSnapshot().jobs.find((j) => j.id === id)?.status === 'cancelled', 20_000);
  await expect(other.chaos.request(id, 'web', { mix: '10:error' })).rejects.toThrow(`job ${id.slice(0, 8)} has ended (cancelled)`);
}, 90_000);

it.skipIf(!HAVE)('a change asked of a worker killed a moment before is unanswered, said so, and its withdrawal is in the log and the job\'s output', async () => {
  const { url, id, worker: w, tui, backend, web } = await workerWithProxy();
  const lines: string[] = [];
  cleanups.push(tui.events.on('log.line', (e) => void (e.jobId === id && lines.push(e.line))));
  w.child.kill('SIGKILL');
  await w.exited;
  // Its heartbeat key outlives it by up to 5 s: the change is asked, and nobody takes it.
  await expect(backend.proxies.setMix('web', '20:error')).rejects.toThrow(
    `proxy "web" of pid ${w.child.pid} on ${currentOwner().host}: no answer within 5 s: its worker may be stopped or stalled; the change was withdrawn and will not apply`,
  );
  expect(web()?.stats.mix ?? '100:dummy').toBe('100:dummy');
  // The log says what became of the request: withdrawn, by whom, why; no answer was ever recorded.
  const raw = new Redis(url);
  cleanups.push(() => raw.quit());
  const records = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as { t: string; ref?: string });
  const asked = records.filter((r) => r.t.startsWith('chaos'));
  const me = expect.objectContaining({ pid: process.pid, host: currentOwner().host });
  expect(asked).toEqual([
    { t: 'chaos', at: expect.any(Number), id, ref: expect.any(String), proxy: 'web', mix: '20:error', by: me },
    { t: 'chaos-withdrawn', at: expect.any(Number), id, ref: asked[0].ref, proxy: 'web', by: me, reason: 'no answer within 5 s' },
  ]);
  // Whoever follows the job's output sees it there too.
  const said = `chaos web: mix 20:error asked by pid ${process.pid} on ${currentOwner().host} withdrawn by pid ${process.pid} on ${currentOwner().host}: no answer within 5 s from the worker; not applied`;
  await until('the withdrawal in the job\'s output', () => lines.includes(said), 10_000);
}, 90_000);

it.skipIf(!HAVE)('a change nobody takes within 5 s is withdrawn and said so, and the engine that reads it later does not apply it', async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const url = parseQueueUrl(urlOf(redis));
  // The engine running the job, which reads nothing until told to (a worker stalled): no watch,
  // and a heartbeat tick (which may read the log) only after 24 s.
  const holder = new RedisQueue({ url, heartbeatTtlMs: 120_000 });
  await holder.open();
  cleanups.push(() => holder.close());
  const applied: ChaosRequest[] = [];
  const late: ChaosRequest[] = [];
  holder.chaos.serve(async (r) => (applied.push(r), {}), (r) => late.push(r));
  const job = await holder.enqueue({ name: 'j', source: { kind: 'dir', dir: '/nowhere', configFile: '/nowhere/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] });
  expect(await holder.claim(job.id, [])).toBeDefined();

  const asker = new RedisQueue({ url });
  await asker.open();
  cleanups.push(() => asker.close());
  await asker.sync();
  await expect(asker.chaos.request(job.id, 'web', { mix: '10:error' })).rejects.toThrow('no answer within 5 s: its worker may be stopped or stalled; the change was withdrawn and will not apply');
  // The holder wakes: it finds the change withdrawn.
  await holder.sync();
  await until('the late change seen', () => late.length === 1, 5000);
  expect(late[0]).toMatchObject({ job: job.id, proxy: 'web', mix: '10:error', by: { pid: process.pid } });
  expect(applied).toEqual([]);
  // The stream keeps who asked for what, and when.
  const raw = new Redis(urlOf(redis));
  cleanups.push(() => raw.quit());
  const records = (await raw.xrange('marteau:log', '-', '+')).map(([, f]) => JSON.parse(f[1]) as { t: string });
  const me = expect.objectContaining({ pid: process.pid });
  expect(records.filter((r) => r.t.startsWith('chaos'))).toEqual([
    { t: 'chaos', at: expect.any(Number), id: job.id, ref: expect.any(String), proxy: 'web', mix: '10:error', by: me },
    { t: 'chaos-withdrawn', at: expect.any(Number), id: job.id, ref: expect.any(String), proxy: 'web', by: me, reason: 'no answer within 5 s' },
  ]);
}, 30_000);

/** A GET through the proxy on `port`: its status, or 'cut' when the connection ends without one. */
function status(port: number): Promise<number | 'cut'> {
  return new Promise((resolve) => {
    http.get(`http://127.0.0.1:${port}/`, (r) => { r.resume(); resolve(r.statusCode!); }).on('error', () => resolve('cut'));
  });
}
