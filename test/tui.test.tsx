/**
 * The Ink TUI against a real engine (temp state dir, node `local`, command-runner jobs) and a
 * real proxy on loopback: each pane renders, and each key reaches the engine or the proxy.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { App } from '../src/ui/App.js';
import { engineBackend } from '../src/ui/engine-backend.js';
import { startLoadApp } from '../fixtures/load/app.js';
import { startEchoServer } from './helpers/echo.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { startProxy } from './helpers/builtin-proxy.js';

const KEY = { tab: '\t', enter: '\r', esc: '\u001B', right: '\u001B[C', left: '\u001B[D', down: '\u001B[B' };
const strip = (s = '') => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
afterAll(removeTemp);

/** `extraProxy: false`: no proxy beside the jobs' own. */
async function setup(o: { extraProxy?: boolean } = {}) {
  const echo = await startEchoServer();
  const proxy: Proxy = await startProxy({ name: 'cache', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, protocol: 'tcp' });
  const engine = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
  await engine.start();
  const backend = engineBackend(engine, { cwd: process.cwd(), extraProxies: () => (o.extraProxy === false ? [] : [proxy]) });
  let quit: boolean | undefined;
  const ui = render(<App backend={backend} title="test" onQuit={(i) => { quit = i; }} />);
  cleanups.push(async () => {
    ui.unmount();
    backend.stop();
    await engine.stop();
    await proxy.close(0);
    await echo.close();
  });
  const frame = () => strip(ui.lastFrame());
  const waitFor = async (test: (f: string) => boolean, what: string, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!test(frame())) {
      if (Date.now() > end) throw new Error(`${what} never showed; last frame:\n${frame()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      ui.stdin.write(k);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  // useInput subscribes in an effect: wait for the first frame before typing.
  await waitFor((f) => f.includes('[1] Queue'), 'the first frame');
  await new Promise((r) => setTimeout(r, 50));
  return { engine, proxy, ui, frame, waitFor, press, quit: () => quit };
}

describe('TUI', () => {
  it('shows the five panes, the header and the focused pane\'s keys', async () => {
    const t = await setup();
    const f = t.frame();
    for (const title of ['[1] Queue', '[2] Nodes', '[3] Proxies', '[4] Behaviors · cache', '[5] Output']) expect(f).toContain(title);
    expect(f).toMatch(/marteau-tui · test · idle/);
    expect(f).toMatch(/local\s+(up|unknown)/);
    expect(f).toMatch(/cache\s+tcp/);
    expect(f).toContain('e enqueue');
    // No job to select: the Output pane said 'select a job in the queue'.
    expect(f).toContain('no job yet: e enqueues a .marteau.yml');
    await t.press(KEY.tab);
    await t.waitFor((x) => x.includes('space enable'), 'the Nodes footer');
  });

  it('enqueues with e, streams the job output, and shows its details', async () => {
    const t = await setup();
    const dir = await project(`name: greeter\n${commandYaml([process.execPath, '-e', 'console.log("hello from the job")'])}`);
    await t.press('e', ...dir.split(''), KEY.enter);
    await t.waitFor((f) => /greeter\s+succeeded/.test(f), 'the finished job');
    await t.waitFor((f) => f.includes('hello from the job'), 'the job output');
    // The end of a job is news on the message line, and whole (with where its results are) in the log.
    const job = t.engine.getSnapshot().jobs[0];
    await t.waitFor((f) => f.includes(`${job.id.slice(0, 8)} greeter succeeded`), 'the completion line');
    expect(t.frame().split('\n')[0]).not.toContain('greeter');
    await t.press('m');
    await t.waitFor((f) => f.includes('Messages (') && f.includes(job.resultDir), 'the whole message in the log');
    await t.press(KEY.esc);
    await t.waitFor((f) => f.includes('[1] Queue'), 'the panes again');
    expect(t.engine.getSnapshot().jobs.map((j) => j.name)).toEqual(['greeter']);
    await t.press(KEY.enter);
    await t.waitFor((f) => f.includes('[5] Details · greeter') && f.includes('id       '), 'the details, from the top');
    // A short pane: the details scroll like the output.
    await t.press('5', 'j');
    await t.waitFor((f) => f.includes('runner   command on 1 node(s): local'), 'the details');
  });

  it('enqueues a git URL typed at e as a git source, and ~ as the home directory', async () => {
    const t = await setup();
    // A real repository, cloned through a file:// URL as from a server.
    const repo = await project(`name: from-git\n${commandYaml([process.execPath, '-e', 'console.log("cloned and run")'])}`);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    git('init', '-q');
    git('add', '.marteau.yml');
    git('commit', '-q', '-m', 'config');
    await t.press('e', ...`file://${repo}`.split(''), KEY.enter);
    await t.waitFor((f) => /from-git\s+succeeded/.test(f) && f.includes('cloned and run'), 'the cloned job run');
    expect(t.engine.getSnapshot().jobs[0].source).toMatchObject({ kind: 'git', url: `file://${repo}` });
    await t.press('e', ...'~/no-such-project-3f9c'.split(''), KEY.enter);
    await t.press('m');
    await t.waitFor((f) => f.includes(`${path.join(os.homedir(), 'no-such-project-3f9c')}: no such file or directory`), 'the path under the home directory');
  });

  it('warns on the message line when a fault is scheduled too close to the end of the load to judge its recovery', async () => {
    const t = await setup();
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const dir = await project(`name: late
runner: builtin
base_url: http://127.0.0.1:${echo.port}
cycles: [1]
duration: 2
scenario:
  - {get: /}
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
fixtures:
  outage: {proxy: db, behaviors: "100:blackout", at: 0s, for: 1.5s}
recovery: {window: 1s}
`);
    await t.press('e', ...dir.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('late: fault "outage" ends at 1.5s'), 'the too-soon warning');
    await t.waitFor(() => t.engine.getSnapshot().jobs.length === 1, 'the job, enqueued all the same');
  });

  it("a mix key with no proxy running says why, of the selected job: its proxies stopped when it ended", async () => {
    // It said 'proxies start with a job whose .marteau.yml has `proxies:`' of a job that had one.
    const t = await setup({ extraProxy: false });
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    await t.engine.enqueue(await project(`name: keyed\n${commandYaml(['true'])}\nproxies:\n  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}\n`));
    await t.waitFor((f) => /keyed\s+succeeded/.test(f) && f.includes("no proxy running: keyed's proxies (db) stopped when it"), 'the job ended, its proxy gone from the pane');
    await t.press('4', 's');
    await t.waitFor((f) => f.includes("no proxy running: keyed's proxies (db) stopped when it ended (R replays it)") && !f.includes('proxies start with a job'), 'why, on the message line');
  });

  it('a job that ended before any output says how it ended in the Output pane', async () => {
    const t = await setup();
    await t.engine.enqueue(await project(`name: wide\n${commandYaml(['true'])}\nnodes: 3\n`));
    await t.waitFor((f) => f.includes('no output: failed: needs 3 nodes but only 1 is enabled') && f.includes('enter: details'), 'how the job ended');
    // c on it says so as `cancel` does ("is failed" read as a broken sentence).
    await t.press('c');
    await t.waitFor((f) => f.includes(`job ${t.engine.getSnapshot().jobs[0].id.slice(0, 8)} has already failed: nothing to cancel`), 'why there is nothing to cancel');
  });

  it('cancels a running job only after y, and retries it with r', async () => {
    const t = await setup();
    const dir = await project(`name: sleeper\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 30000)'])}`);
    await t.engine.enqueue(dir);
    await t.waitFor((f) => /sleeper\s+running/.test(f), 'the running job');
    await t.press('c');
    await t.waitFor((f) => f.includes('Cancel job'), 'the confirmation');
    await t.press('n');
    await t.waitFor((f) => !f.includes('Cancel job'), 'the dialog closing');
    expect(t.engine.getSnapshot().jobs[0].status).toBe('running');
    // q is no answer here (only the quit question takes it): nothing is cancelled.
    await t.press('c');
    await t.waitFor((f) => f.includes('Cancel job') && f.includes('y: yes · n / esc: no'), 'the confirmation again');
    await t.press('q');
    await new Promise((r) => setTimeout(r, 200));
    expect(t.engine.getSnapshot().jobs[0].status).toBe('running');
    expect(t.quit()).toBeUndefined();
    await t.press(KEY.esc);
    await t.waitFor((f) => !f.includes('Cancel job'), 'the dialog closing');
    await t.press('c', 'y');
    await t.waitFor((f) => /sleeper\s+cancelled/.test(f) && f.includes('sleeper cancelled: by a user'), 'the cancelled job, and its end said');
    await t.press('c');
    await t.waitFor((f) => f.includes(`job ${t.engine.getSnapshot().jobs[0].id.slice(0, 8)} was already cancelled: nothing to cancel`), 'why there is nothing to cancel');
    await t.press('r');
    await t.waitFor(() => t.engine.getSnapshot().jobs.length === 2, 'the retried job');
    // Which job the retry is, as a replay says it.
    await t.waitFor((f) => f.includes(`retrying sleeper (${t.engine.getSnapshot().jobs[0].id.slice(0, 8)}) with a new seed as job ${t.engine.getSnapshot().jobs[1].id.slice(0, 8)}`), 'the new job named');
    await t.engine.cancel(t.engine.getSnapshot().jobs[1].id);
  });

  it(':cancel ID asks as c does, and says the same once done', async () => {
    const t = await setup();
    await t.engine.enqueue(await project(`name: sleeper\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 30000)'])}`));
    await t.waitFor((f) => /sleeper\s+running/.test(f), 'the running job');
    const id = t.engine.getSnapshot().jobs[0].id;
    // It cancelled at once, saying 'cancelled' and what was typed; a prefix may name another job than meant.
    await t.press(':', ...`cancel ${id.slice(0, 6)}`.split(''), KEY.enter);
    await t.waitFor((f) => f.includes(`Cancel job ${id.slice(0, 8)} (sleeper, running)?`) && f.includes('y: yes · n / esc: no'), 'the question c asks');
    await t.press('n');
    await t.waitFor((f) => !f.includes('Cancel job'), 'the dialog closing');
    expect(t.engine.getSnapshot().jobs[0].status).toBe('running');
    await t.press(':', ...`cancel ${id.slice(0, 6)}`.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('Cancel job'), 'the question again');
    await t.press('y');
    await t.waitFor((f) => /sleeper\s+cancelled/.test(f), 'the cancelled job');
    await t.press('m');
    await t.waitFor((f) => f.includes(`cancelled ${id.slice(0, 8)} sleeper`), 'what c says once done');
    await t.press(KEY.esc, ':', ...'cancel 0000ffff'.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('error: no job 0000ffff in the queue'), 'a bad id, said as the engine says it');
  });

  it('y on a running job says first what it copied: the results directory, no report yet', async () => {
    // The message line began with why there was no report and cut the rest: what y had done never showed.
    const t = await setup();
    await t.engine.enqueue(await project(`name: copier\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 60000)'])}`));
    await t.waitFor((f) => /copier\s+running/.test(f), 'the running job');
    await t.press('y');
    const job = t.engine.getSnapshot().jobs[0];
    await t.waitFor((f) => f.split('\n').some((l) => /^\d\d:\d\d:\d\d copied the results directory \//.test(l)), 'what y copied, first');
    await t.press('m');
    await t.waitFor((f) => f.includes(`report yet: job ${job.id.slice(0, 8)} is running`), 'why, in the log');
    await t.press(KEY.esc, 'c', 'y');
  });

  it(':retry ID and :replay ID name the job as r and R do', async () => {
    const t = await setup();
    await t.engine.enqueue(await project(`name: quick\n${commandYaml(['true'])}`));
    await t.waitFor((f) => /quick\s+succeeded/.test(f), 'the finished job');
    const id = t.engine.getSnapshot().jobs[0].id;
    // They said 'retrying <what was typed> ...': a prefix typed from memory, not the job it stood for.
    await t.press(':', ...`retry ${id.slice(0, 5)}`.split(''), KEY.enter);
    await t.waitFor(() => t.engine.getSnapshot().jobs.length === 2, 'the retried job');
    await t.waitFor((f) => f.includes(`retrying quick (${id.slice(0, 8)}) with a new seed as job ${t.engine.getSnapshot().jobs[1].id.slice(0, 8)}`), 'the words r says');
    await t.press(':', ...`replay ${id.slice(0, 5)}`.split(''), KEY.enter);
    await t.waitFor(() => t.engine.getSnapshot().jobs.length === 3, 'the replayed job');
    const replayed = t.engine.getSnapshot().jobs[2].id;
    await t.press('m');
    await t.waitFor((f) => new RegExp(`replaying quick \\(${id.slice(0, 8)}\\) with seed \\d+ as job ${replayed.slice(0, 8)}`).test(f), 'the words R says');
    await t.press(KEY.esc, ':', ...'replay 0000ffff'.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('error: no job 0000ffff in the queue'), 'a bad id, said as the engine says it');
  });

  it('a cancelled load\'s Queue row says why and what it measured, as `marteau-tui queue` does', async () => {
    const app = await startLoadApp();
    cleanups.push(() => app.close());
    const t = await setup();
    await t.engine.enqueue(await project(`name: stopped\nrunner: builtin\nbase_url: ${app.url}\ncycles: [2]\nduration: 30\nstartup_delay: 0\nsleep_time: 0.05\nscenario:\n  - {get: /}\n`));
    await t.waitFor((f) => /stopped\s+running .*\d+\/s/.test(f), 'the running load', 30_000);
    await t.press('c', 'y');
    await t.waitFor(() => t.engine.getSnapshot().jobs[0].status === 'cancelled', 'the cancelled job');
    const requests = /\((\d+) requests, /.exec(t.engine.getSnapshot().jobs[0].summary ?? '')?.[1];
    expect(requests, t.engine.getSnapshot().jobs[0].summary).toBeDefined();
    // At 100 columns the row has room for the reason and the first figure, cut after a whole one
    // (it read 'by a user' alone).
    await t.waitFor((f) => new RegExp(`stopped\\s+cancelled\\s+\\d+s by a user · ${requests} requests(, | …)`).test(f), 'the reason and the figures in the row');
  });

  it('pages through a long queue: PgUp/PgDn, g/G, the window moving only when the selection leaves it', async () => {
    const t = await setup();
    // Eight jobs that end at once (more nodes than there are): 100×24 shows three of them.
    for (let i = 1; i <= 8; i++) await t.engine.enqueue(await project(`name: job${i}\n${commandYaml(['true'])}\nnodes: 3\n`));
    const shows = (range: string, selected: string) => t.waitFor((f) => f.includes(range) && new RegExp(`› \\S+ ${selected} `).test(f), `${selected} selected, jobs ${range} shown`);
    // The first job shown stays selected as the others come in above it.
    await shows('6-8 of 8 ↑', 'job1');
    await t.press('g');
    await shows('1-3 of 8 ↓', 'job8');
    await t.press('G');
    await shows('6-8 of 8 ↑', 'job1');
    // Up once: job2 is in sight, so the window stays (it scrolled to 5-7 at every key up).
    await t.press('k');
    await shows('6-8 of 8 ↑', 'job2');
    await t.press('g');
    await shows('1-3 of 8 ↓', 'job8');
    await t.press('\u001B[6~');
    await shows('1-3 of 8 ↓', 'job6');
    await t.press('\u001B[6~');
    await shows('3-5 of 8 ↑↓', 'job4');
    await t.press('\u001B[5~');
    await shows('3-5 of 8 ↑↓', 'job6');
    await t.press('\u001B[F');
    await shows('6-8 of 8 ↑', 'job1');
  });

  it('a filter selects the job it shows selected, and esc clearing it keeps that job', async () => {
    const t = await setup();
    for (let i = 1; i <= 3; i++) await t.engine.enqueue(await project(`name: job${i}\n${commandYaml(['true'])}\nnodes: 3\n`));
    await t.waitFor((f) => /jobs 3 failed/.test(f) && /› \S+ job1 /.test(f), 'the first job selected');
    await t.press('/', ...'job3'.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('filter: job3') && /› \S+ job3 /.test(f) && f.includes('Output · job3'), 'the match selected');
    // It went back to job1, which the filter had hidden: a key then acted on another job than the one picked.
    await t.press(KEY.esc);
    await t.waitFor((f) => !f.includes('filter: job3') && /job1 /.test(f), 'the filter cleared');
    expect(t.frame()).toMatch(/› \S+ job3 /);
    expect(t.frame()).toContain('Output · job3');
    await t.press('/', ...'nothing-like-it'.split(''), KEY.enter);
    await t.waitFor((f) => f.includes('no job matches') && f.includes('no job matches the filter (esc clears it)'), 'why the Output pane is empty');
  });

  it('disables and enables a node with space; a job waiting for it says why in the queue', async () => {
    const t = await setup();
    await t.press(KEY.tab, ' ');
    await t.waitFor((f) => /local\s+disabled/.test(f), 'the disabled node');
    expect(t.engine.getSnapshot().nodes[0].enabled).toBe(false);
    const job = await t.engine.enqueue(await project(`name: patient\n${commandYaml(['true'])}\n`));
    await t.waitFor((f) => /patient\s+queued\s+needs 1 node and …/.test(f), 'why the job waits (cut to its column, at a word end)');
    await t.press(' ');
    await t.waitFor(() => t.engine.getSnapshot().nodes[0].enabled, 'the enabled node');
    expect((await t.engine.waitFor([job.id]))[0].status).toBe('succeeded');
  });

  it('shows a proxy\'s chaos scenario; s pauses and resumes it, a change by hand pauses it', async () => {
    const t = await setup();
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const dir = await project(`name: scenario
${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 60000)'])}
timeout: 30m
proxies:
  db: {listen: "127.0.0.1:0", upstream: "127.0.0.1:${echo.port}", protocol: tcp}
chaos:
  - {name: outage, proxy: db, at: 0s, for: 20m, behaviors: "50:error"}
  - {name: later, proxy: db, at: 20m, behaviors: "100:blackout"}
`);
    const job = await t.engine.enqueue(dir);
    cleanups.push(async () => { await t.engine.cancel(job.id).catch(() => {}); });
    const db = () => t.engine.liveProxies().find((p) => p.name === 'db');
    await t.waitFor(() => db()?.mix.text === '50:error', 'the first step');
    // Move down only once the db proxy is counted (frames are throttled; a busy machine draws late).
    await t.waitFor((f) => /proxies 2/.test(f), 'the db proxy');
    await t.press(KEY.tab, KEY.tab, KEY.down);
    await t.waitFor((f) => f.includes('[4] Behaviors · db'), 'db selected');
    await t.waitFor((f) => f.includes('▶ outage · step') && /next later · step in (19m5\ds|20m00s)/.test(f), 'the running scenario');
    // The fault in force and when it ends, in the Proxies pane.
    await t.waitFor((f) => /fault 50:error · outage · ends in (19m5\ds|20m00s)/.test(f), 'the fault and its end');
    await t.press('s');
    await t.waitFor((f) => f.includes('⏸ paused (s resumes) at outage'), 'the paused scenario');
    // The footer says what s does now (it offered 's pause scenario' over a paused one).
    await t.waitFor((f) => f.includes('u undo · s resume scenario'), "the footer's resume");
    expect(t.engine.getSnapshot().jobs[0].chaos?.find((x) => x.proxy === 'db')?.paused).toBe(true);
    await t.press('s');
    await t.waitFor((f) => f.includes('▶ outage · step') && f.includes('u undo · s pause scenario'), 'the resumed scenario');
    // A preset is a change by hand: recorded, and the scenario holds off until s.
    await t.press('p', '0');
    await t.waitFor(() => db()?.mix.text === '100:dummy', 'the hand-set mix');
    // Whole, key and all, in the pane's 34 cells (it was cut to 'scenario paused (s r…').
    await t.waitFor((f) => /⏸ set by hand · s resumes\s*│/.test(f) && f.includes('u undo · s resume scenario'), 'the manual pause');
    await t.press('s');
    await t.waitFor(() => db()?.mix.text === '50:error', 'the scenario\'s mix again');
    const timeline = t.engine.getSnapshot().jobs[0].timeline ?? [];
    expect(timeline.map((e) => `${e.fixture} ${e.action} ${e.mix}`)).toEqual(['outage apply 50:error', 'outage apply 50:error', 'manual manual 100:dummy', 'outage apply 50:error']);
  });

  it('tunes the selected proxy live: ←/→ by 5 %, presets p then 0-9, x and u undo', async () => {
    const t = await setup();
    await t.press(KEY.tab, KEY.tab, KEY.tab);
    await t.waitFor((f) => f.includes('←/→ -/+5%'), 'the Behaviors footer');
    // Rows are every behavior but dummy, by name: move down to `error`.
    for (let i = 0; i < 12 && !/› error/.test(t.frame()); i++) await t.press(KEY.down);
    expect(t.frame()).toMatch(/› error/);
    await t.press(KEY.right, KEY.right);
    await t.waitFor(() => t.proxy.mix.text === '10:error', 'error at 10 %');
    await t.waitFor((f) => /error\s+10%/.test(f) && f.includes('pass 90%'), 'the 10 % row');
    await t.press(KEY.left);
    await t.waitFor(() => t.proxy.mix.text === '5:error', 'error at 5 %');
    // A digit alone focuses a pane; a preset is p then the digit.
    await t.press('3');
    await t.waitFor((f) => f.includes('j/k select · p presets'), 'the Proxies pane focused');
    expect(t.proxy.mix.text).toBe('5:error');
    await t.press('p', '3');
    await t.waitFor(() => t.proxy.mix.text === '10:error,5:blackout', 'the flaky preset');
    await t.press('4');
    await t.press('u');
    await t.waitFor(() => t.proxy.mix.text === '5:error', 'undo');
    await t.press('x');
    await t.waitFor(() => t.proxy.mix.text === '100:dummy', 'x zeroes the row');
  });

  it('a mix key that changes nothing says so on the message line: x or - at 0 %, + with nothing left to pass', async () => {
    const t = await setup();
    await t.press(KEY.tab, KEY.tab, KEY.tab);
    await t.waitFor((f) => f.includes('x zero'), 'the Behaviors footer');
    expect(t.frame()).toMatch(/› delay\s+0%/);
    await t.press('x');
    await t.waitFor((f) => /\d\d:\d\d:\d\d cache: delay is already 0%/.test(f), 'x at 0 %');
    await t.press(KEY.left);
    await t.waitFor((f) => f.includes('cache: delay is already 0% (×2)'), '← at 0 %, counted');
    expect(t.proxy.mix.text).toBe('100:dummy');
    for (let i = 0; i < 20; i++) await t.press('+');
    await t.waitFor(() => t.proxy.mix.text === '100:delay', 'delay at 100 %');
    await t.press(KEY.down, '+');
    await t.waitFor((f) => f.includes('cache: error stays 0%: nothing passes through to take from (pass 0%)'), '+ with pass at 0 %');
    expect(t.proxy.mix.text).toBe('100:delay');
  });

  it('f stops following at the tail; esc from details goes back to the output as it was; each prompt says what enter does', async () => {
    const t = await setup();
    const dir = await project(`name: lines\n${commandYaml([process.execPath, '-e', 'for (let i = 1; i <= 40; i++) console.log("line " + i)'])}`);
    await t.engine.enqueue(dir);
    await t.waitFor((f) => /lines\s+succeeded/.test(f) && f.includes('line 40'), 'the finished job and its last line');
    await t.press('5');
    await t.waitFor((f) => /Output · lines\s+following/.test(f), 'the Output pane following');
    // Off at the tail: the title says where the window stays, not "following".
    await t.press('f');
    await t.waitFor((f) => /Output · lines\s+line \d+\/\d+/.test(f), 'follow off');
    await t.press('w');
    await t.waitFor((f) => /line \d+\/\d+ · wrap/.test(f), 'wrap on');
    const before = /line (\d+\/\d+) · wrap/.exec(t.frame())![1];
    await t.press(KEY.enter);
    await t.waitFor((f) => f.includes('[5] Details · lines') && f.includes('id '), 'the details');
    await t.press(KEY.esc);
    await t.waitFor((f) => f.includes('[5] Output · lines') && f.includes(`line ${before} · wrap`), 'the output as it was');
    await t.press('f');
    await t.waitFor((f) => /Output · lines\s+following · wrap/.test(f), 'following again');
    // The footer names what enter does in each prompt.
    const prompts: [string[], string][] = [[['/'], 'enter find'], [[':'], 'enter run'], [['1', '/'], 'enter filter'], [['e'], 'tab complete the path']];
    for (const [keys, footer] of prompts) {
      await t.press(...keys);
      await t.waitFor((f) => f.includes(footer), `the footer "${footer}"`);
      await t.press(KEY.esc);
      await t.waitFor((f) => !f.includes(footer), `the prompt closed (${footer})`);
    }
  });

  it('the enqueue prompt says what tab gives with nothing typed, and not once something is', async () => {
    const t = await setup();
    await t.press('e');
    // The repo's own configs are the suggestions (fixtures/...).
    await t.waitFor((f) => /tab now: \S+marteau\.yml/.test(f), 'the first suggestion');
    await t.press('f', 'i', 'x');
    await t.waitFor((f) => f.includes('enqueue: fix') && f.includes('tab completes a path from') && !f.includes('tab now:'), 'the hint without the suggestion');
    await t.press('\u007F', '\u007F', '\u007F');
    await t.waitFor((f) => f.includes('tab now:'), 'the suggestion again, the prompt empty');
  });

  it('p opens a menu of every preset with what it does; the Behaviors pane says which rows show', async () => {
    const t = await setup();
    await t.press('4');
    // 100×24: four rows of the behaviors show, and the pane says so.
    await t.waitFor((f) => /pass 100% · 1-4 of \d+ ↓/.test(f), 'the rows shown');
    await t.press('p');
    await t.waitFor((f) => f.includes('Presets for cache') && /9\s+blackout\s+every connection cut at once/.test(f) && /0\s+normal\s+everything passes/.test(f), 'the preset menu');
    await t.press(KEY.esc);
    await t.waitFor((f) => f.includes('[5] Output') && !f.includes('Presets for'), 'the panes again');
    expect(t.proxy.mix.text).toBe('100:dummy');
    await t.press('p', '2');
    await t.waitFor(() => t.proxy.mix.text === '50:delay', 'the slow preset');
  });

  it('opens help with ?, closes it with esc, and quits with q when idle', async () => {
    const t = await setup();
    await t.press('?');
    await t.waitFor((f) => f.includes('Keys — esc or ? closes') && f.includes('Everywhere'), 'the help overlay');
    await t.press(KEY.esc);
    await t.waitFor((f) => f.includes('[5] Output'), 'the panes again');
    await t.press('q');
    await t.waitFor(() => t.quit() === false, 'quit');
  });

  it('asks before quitting while a job runs', async () => {
    const t = await setup();
    await t.engine.enqueue(await project(`name: busy\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 30000)'])}`));
    await t.waitFor((f) => /busy\s+running/.test(f), 'the running job');
    await t.press('q');
    await t.waitFor((f) => f.includes('Quit and mark it interrupted?') && f.includes('y / q: yes'), 'the quit question');
    await t.press('q');
    await t.waitFor(() => t.quit() === true, 'quit with interrupt');
  });
});
