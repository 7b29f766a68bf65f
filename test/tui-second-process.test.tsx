/**
 * A control center opened on a state dir where another process (a worker, a first control center)
 * runs a job: its output reaches only that process, so the Output pane says who runs it and where
 * its output goes, rather than 'no output yet' for a job that has written plenty; and `q` leaves
 * at once, since leaving does not stop that job (it asked to mark it interrupted, and exited 130).
 * A job that ended before it opened says where its output is, rather than 'no output'. The proxies
 * the other process runs show as its own would, with their counts, and their mixes are set there.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, afterEach, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { App } from '../src/ui/App.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { startLoadApp } from '../fixtures/load/app.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { freePort } from './helpers/net.js';
import { queueJson, waitUntil, workerWithLongJob } from './helpers/queue-cli.js';

const strip = (s = '') => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');
/** The Output pane's text (the full-width rows), its border taken off and its lines joined: the words read whole. */
const outputText = (frame?: string) => strip(frame).split('\n').filter((l) => /^│ /.test(l) && !/││/.test(l)).map((l) => l.slice(2, -1).trim()).join(' ');
const running: ChildProcess[] = [];
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
  // Each worker's end awaited: one still writing its job's end into the state dir as afterAll
  // removes it failed the file once (ENOTEMPTY).
  for (const c of running.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = once(c, 'exit');
    c.kill('SIGTERM');
    await gone;
  }
});
afterAll(removeTemp);

/** A control center of this process on `state`, running its jobs or none, unmounted and stopped after the test. */
async function controlCenter(state: string, run: 'all' | 'none', title: string, onQuit: (interrupt: boolean) => void = () => {}) {
  const engine = new Engine({ runners: loadRunners, stateDir: state, nodes: localNodes(1), run });
  await engine.start();
  const backend = engineBackend(engine, { cwd: process.cwd() });
  const ui = render(<App backend={backend} title={title} onQuit={onQuit} />);
  cleanups.push(async () => {
    ui.unmount();
    backend.stop();
    await engine.stop();
  });
  return Object.assign(ui, { backend });
}

it('says which process runs a job whose output it cannot show and where that output goes, and quits without asking', async () => {
  const state = await stateDir();
  const worker = await workerWithLongJob(state, running);
  const [{ id }] = await queueJson(state);
  let quit: boolean | undefined;
  const ui = await controlCenter(state, 'all', 'second', (i) => { quit = i; });
  const output = () => outputText(ui.lastFrame());
  const end = Date.now() + 10_000;
  const want = `no output here: long runs in another marteau-tui process (pid ${worker.child.pid}); its output goes to ${state}/jobs/${id}/console.log`;
  while (!output().includes(want) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(output()).toContain(want);

  ui.stdin.write('q');
  const asked = () => strip(ui.lastFrame()).includes('Quit and mark it interrupted?');
  while (quit === undefined && !asked()) await new Promise((r) => setTimeout(r, 20));
  expect(asked()).toBe(false);
  expect(quit).toBe(false);
  expect((await queueJson(state))[0].status).toBe('running');
}, 30_000);

it('a job that ended before it opened says where its output is', async () => {
  const state = await stateDir();
  const dir = await project(`name: printer\n${commandYaml(['sh', '-c', 'echo printed'])}\n`);
  expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  expect((await cliDone(['worker', '--drain', '--state-dir', state])).code).toBe(0);
  const [{ id }] = await queueJson(state);
  const ui = await controlCenter(state, 'all', 'later');
  const want = `no output here: succeeded: 1 node, exit 0 · its output: ${state}/jobs/${id}/console.log · enter: details`;
  const end = Date.now() + 10_000;
  while (!outputText(ui.lastFrame()).includes(want) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(outputText(ui.lastFrame())).toContain(want);
}, 30_000);

it('a load that ended in an earlier process shows its figures in its row and its details, as one that ended here', async () => {
  const app = await startLoadApp();
  cleanups.push(() => app.close());
  const state = await stateDir();
  const dir = await project(`name: earlier\nrunner: builtin\nbase_url: ${app.url}\ncycles: [2]\nduration: 0.5\nstartup_delay: 0\nscenario:\n  - {get: /}\n`);
  const ran = await cliDone(['--ci', dir, '--state-dir', state]);
  expect(ran.code, ran.out + ran.err).toBe(0);
  const [, summary, figures] = /job [0-9a-f]{8} (succeeded in \S+ \((\d+ requests, [^)]*)\))  results:/.exec(ran.out)!;
  const [{ id }] = await queueJson(state);
  const ui = await controlCenter(state, 'all', 'restarted');
  // The row's figures, cut after a whole one: '1225 requests …' at this width.
  const row = new RegExp(`${id.slice(0, 8)} earlier\\s+succeeded\\s+\\S+\\s+(local\\s+)?${figures.split(',')[0]} …`);
  const end = Date.now() + 10_000;
  while (!row.test(strip(ui.lastFrame())) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(strip(ui.lastFrame())).toMatch(row);
  const details = ui.backend.getSnapshot().jobs[0].details;
  expect(details).toContain(`summary  ${summary}`);
  expect(details).toContain(`report   ${state}/jobs/${id}/index.html (o opens, y copies)`);
  expect(details.find((l) => l.startsWith('seed '))).toMatch(/^seed     \d+ \(R replays/);
}, 30_000);

it("the Proxies pane says why it is empty, of the selected job: none in its config, not started yet, stopped at its end, run by another process", async () => {
  const state = await stateDir();
  const proxied = (name: string, argv = ['true']) => project(`name: ${name}\n${commandYaml(argv)}\nproxies:\n  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:9", protocol: tcp}\n`);
  for (const dir of [await project(`name: plain\n${commandYaml(['true'])}\n`), await proxied('ended')]) expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  expect((await cliDone(['worker', '--drain', '--state-dir', state])).code).toBe(0);
  expect((await cliDone(['enqueue', await proxied('waiting', ['sh', '-c', 'echo started; sleep 60']), '--state-dir', state])).code).toBe(0);
  // It runs nothing: the last job stays queued.
  const ui = await controlCenter(state, 'none', 'empty');
  const said = async (want: string) => {
    const end = Date.now() + 10_000;
    while (!proxiesText(ui.lastFrame()).includes(want) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(proxiesText(ui.lastFrame())).toContain(want);
  };
  await said("no proxy running yet: waiting's proxies (db) start when it runs");
  ui.stdin.write('j');
  await said("no proxy running: ended's proxies (db) stopped when it ended (R replays it)");
  ui.stdin.write('j');
  await said('no proxy: plain has none (add `proxies:` to its .marteau.yml)');
  // A worker runs it: its proxies are that process's, shown here as its (see the next test).
  const worker = cli(['worker', '--state-dir', state]);
  running.push(worker.child);
  await worker.waitFor(/local \| started/);
  ui.stdin.write('k');
  ui.stdin.write('k');
  await said(`run by pid ${worker.child.pid}`);
}, 30_000);

it("shows the proxies a worker runs beside it, with their counts, and its mix editor changes them in the worker", async () => {
  const app = await startLoadApp();
  cleanups.push(() => app.close());
  const state = await stateDir();
  const port = await freePort();
  // The job's client asks through its proxy every 20 ms for as long as it runs.
  const talk = 'const http = require("node:http"); setInterval(() => http.get(`http://${process.env.MARTEAU_PROXY_WEB}/`, (r) => r.resume()).on("error", () => {}), 20);';
  // Its scenario's one change is 20 minutes away: it says 'next later', and changes nothing meanwhile.
  const dir = await project(`name: talker\n${commandYaml([process.execPath, '-e', talk])}\ntimeout: 30m\nproxies:\n  web: {listen: "127.0.0.1:${port}", upstream: "127.0.0.1:${app.port}", protocol: http}\nchaos:\n  - {name: later, proxy: web, at: 20m, behaviors: "100:blackout"}\n`);
  expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--state-dir', state]);
  running.push(worker.child);
  await waitUntil(async () => (await queueJson(state))[0].status === 'running');
  const [{ id }] = await queueJson(state);
  const consoleLog = () => readFileSync(path.join(state, 'jobs', id, 'console.log'), 'utf8');
  // Through the worker's proxy, as the job's client: it passes.
  expect(await status(port)).toBe(200);
  const ui = await controlCenter(state, 'all', 'beside');
  const web = () => ui.backend.proxies.getSnapshot().proxies.find((p) => p.stats.name === 'web');
  await waitUntil(() => proxiesText(ui.lastFrame()).includes(`run by pid ${worker.child.pid}`), 10_000);
  expect(proxiesText(ui.lastFrame())).toMatch(/web\s+http\s+conn/);
  const first = web()!.stats.exchanges;
  await waitUntil(() => web()!.stats.exchanges > first && web()!.rate > 0, 10_000);

  // Its scenario shows as its own, and s pauses and resumes it in the worker.
  ui.stdin.write('4');
  await waitUntil(() => strip(ui.lastFrame()).includes('next later'), 10_000);
  ui.stdin.write('s');
  await waitUntil(() => strip(ui.lastFrame()).includes('⏸ paused (s resumes)'), 10_000);
  await waitUntil(() => consoleLog().includes('chaos web: paused; scheduled changes wait for resume'), 10_000);
  ui.stdin.write('s');
  await waitUntil(() => strip(ui.lastFrame()).includes('▶ own mix'), 10_000);

  // The Behaviors pane edits it as its own: error raised to 5 % (delay, then error).
  await waitUntil(() => /›\s*delay\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('j');
  await waitUntil(() => /›\s*error\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('+');
  // What the worker's proxy publishes: its mix is now the one set here.
  await waitUntil(() => web()!.stats.mix === '5:error', 10_000).catch(() => expect(ui.backend.messages.getSnapshot().map((m) => m.text)).toContain('web: error 5%'));
  // A preset that breaks it asks first, naming the worker's job, then cuts every connection there.
  ui.stdin.write('p');
  await waitUntil(() => strip(ui.lastFrame()).includes('blackout'), 10_000);
  ui.stdin.write('9');
  await waitUntil(() => strip(ui.lastFrame()).includes('under running job talker?'), 10_000);
  ui.stdin.write('y');
  await waitUntil(async () => (await status(port)) === 'cut', 10_000);
  await waitUntil(() => (web()!.stats.behaviors.blackout ?? 0) > 0 && proxiesText(ui.lastFrame()).includes('blackout'), 10_000);
  const messages = ui.backend.messages.getSnapshot().map((m) => m.text);
  expect(messages).toContain('web: error 5%');
  expect(messages.find((m) => m.startsWith('web: preset blackout'))).toBeDefined();
  // The worker's job records them as changes by hand, as made in its own control center, which
  // hold its scenario until s: then the proxy's own mix is back, and requests pass again.
  await waitUntil(() => consoleLog().includes('manual: web mix 100:blackout set by hand'), 10_000);
  expect(consoleLog()).toContain('manual: web mix 5:error set by hand');
  await waitUntil(() => strip(ui.lastFrame()).includes('⏸ set by hand · s resumes'), 10_000);
  ui.stdin.write('s');
  await waitUntil(async () => web()!.stats.mix === '100:dummy' && (await status(port)) === 200, 10_000);

  // Its presence is the user's alone, and so is the API it names: nobody else sets its mixes.
  const file = path.join(state, `presence-${worker.child.pid}.json`);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const { control } = JSON.parse(readFileSync(file, 'utf8')) as { control: { api: string }[] };
  expect((await fetch(`${control[0].api}/marteau/proxies/web`)).status).toBe(401);
  // Gone with the worker.
  const gone = once(worker.child, 'exit');
  worker.child.kill('SIGTERM');
  await gone;
  expect(readdirSync(state).filter((n) => n.startsWith('presence-'))).toEqual([]);
}, 60_000);

it('names apart a proxy of the worker that has the name of one of its own, and edits the one selected', async () => {
  const app = await startLoadApp();
  cleanups.push(() => app.close());
  const state = await stateDir();
  const dir = await project(`name: twice\n${commandYaml(['sh', '-c', 'sleep 60'])}\nproxies:\n  web: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${app.port}", protocol: http}\n`);
  expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--state-dir', state]);
  running.push(worker.child);
  await waitUntil(async () => (await queueJson(state))[0].status === 'running');
  // The second run of the project is this control center's: its node is its own, the worker's is busy.
  expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  const engine = new Engine({ runners: loadRunners, stateDir: state, nodes: { ...localNodes(1), nodes: [{ type: 'local', name: 'here', maxJobs: 1, tags: [], enabled: true }] }, run: 'all' });
  await engine.start();
  const backend = engineBackend(engine, { cwd: process.cwd() });
  const ui = render(<App backend={backend} title="both" onQuit={() => {}} />);
  cleanups.push(async () => {
    ui.unmount();
    backend.stop();
    await engine.stop();
  });
  const theirs = `web@${worker.child.pid}`;
  const names = () => backend.proxies.getSnapshot().proxies.map((p) => p.stats.name);
  await waitUntil(() => names().join() === `web,${theirs}`, 10_000);
  ui.stdin.write('3');
  ui.stdin.write('j');
  await waitUntil(() => strip(ui.lastFrame()).includes(`Behaviors · ${theirs}`), 10_000);
  ui.stdin.write('4');
  ui.stdin.write('j');
  await waitUntil(() => /›\s*error\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('+');
  const view = (name: string) => backend.proxies.getSnapshot().proxies.find((p) => p.stats.name === name)!;
  await waitUntil(() => view(theirs).stats.mix === '5:error', 10_000).catch(() => expect(backend.messages.getSnapshot().map((m) => m.text)).toContain(`${theirs}: error 5%`));
  expect(engine.liveProxies().map((p) => [p.name, p.mix.text])).toEqual([['web', '100:dummy']]);
}, 60_000);

it('edits the one selected of two proxies of one name that a worker runs in two jobs', async () => {
  const app = await startLoadApp();
  cleanups.push(() => app.close());
  const state = await stateDir();
  const dir = await project(`name: twice\n${commandYaml(['sh', '-c', 'sleep 60'])}\nproxies:\n  web: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${app.port}", protocol: http}\n`);
  const nodesFile = path.join(await stateDir(), 'nodes.yml');
  writeFileSync(nodesFile, 'nodes:\n  local: {type: local, max_jobs: 2}\n');
  for (let i = 0; i < 2; i++) expect((await cliDone(['enqueue', dir, '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--state-dir', state, '--nodes', nodesFile]);
  running.push(worker.child);
  await waitUntil(async () => (await queueJson(state)).every((j) => j.status === 'running'));
  const ui = await controlCenter(state, 'none', 'two');
  const theirs = `web@${worker.child.pid}`;
  const view = (name: string) => ui.backend.proxies.getSnapshot().proxies.find((p) => p.stats.name === name);
  await waitUntil(() => view('web') !== undefined && view(theirs) !== undefined, 10_000);
  // The first: the presence once said where to set each by its name, the last job's for both.
  ui.stdin.write('3');
  await waitUntil(() => strip(ui.lastFrame()).includes('Behaviors · web '), 10_000);
  ui.stdin.write('4');
  ui.stdin.write('j');
  await waitUntil(() => /›\s*error\s+0%/.test(strip(ui.lastFrame())), 10_000);
  ui.stdin.write('+');
  await waitUntil(() => view('web')!.stats.mix === '5:error', 10_000).catch(() => expect(ui.backend.messages.getSnapshot().map((m) => m.text)).toContain('web: error 5%'));
  expect(view(theirs)!.stats.mix).toBe('100:dummy');
}, 60_000);

/** A GET through the proxy on `port`: its status, or 'cut' when the connection ends without one. */
function status(port: number): Promise<number | 'cut'> {
  return new Promise((resolve) => {
    http.get(`http://127.0.0.1:${port}/`, (r) => { r.resume(); resolve(r.statusCode!); }).on('error', () => resolve('cut'));
  });
}

/** The Proxies pane's text (the left pane under its title, up to its bottom border), its lines joined. */
function proxiesText(frame?: string): string {
  const lines = strip(frame).split('\n');
  const top = lines.findIndex((l) => l.includes('[3] Proxies'));
  const rows = lines.slice(top + 1, lines.findIndex((l, i) => i > top && l.startsWith('╰')));
  return rows.map((l) => l.slice(1, l.indexOf('│', 1)).trim()).filter(Boolean).join(' ');
}
