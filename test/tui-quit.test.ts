/**
 * Quitting the control center in a real terminal (tmux) while it runs a job, others queued
 * behind it: the screen it leaves says what became of them (the job interrupted, where its
 * output is and how to queue it again; how many stay queued, where, and what runs them), and
 * the queue says the same.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { BIN } from './helpers/dist.js';
import { commandYaml, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { freeze, haveServer, startRedis, type RunningRedis } from './helpers/servers.js';
import { TmuxSession } from './helpers/tmux.js';

let session: TmuxSession | undefined;
let redis: RunningRedis | undefined;
afterEach(async () => {
  await session?.kill();
  session = undefined;
  if (redis) process.kill(redis.pid, 'SIGCONT');
  await redis?.stop();
  redis = undefined;
});
afterAll(removeTemp);

it.skipIf(!haveServer('tmux'))('quitting with a job running says what became of it and of the jobs queued behind it', async () => {
  const dir = await project(`name: sleeper\n${commandYaml([process.execPath, '-e', 'console.log("asleep"); setTimeout(() => {}, 120000)'])}\n`);
  const state = await stateDir();
  const nodes = path.join(await temp('nodes'), 'nodes.yml');
  writeFileSync(nodes, 'nodes:\n  local: {type: local, max_jobs: 1}\n');
  const globals = ['--state-dir', state, '--nodes', nodes];
  const queued = await cliDone([...globals, 'enqueue', '--json', dir, dir, dir]);
  expect(queued.code).toBe(0);
  // 200 columns: the lines it prints after the last frame read whole, one a line.
  session = await TmuxSession.start(`${process.execPath} ${BIN} ${globals.join(' ')}; echo "EXITED $?"`, { cols: 200, rows: 30, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const s = session;
  // Quit once its program runs (its line shows, the oldest job selected), not while it starts.
  await s.waitFor(/sleeper\s+running/, 30_000);
  await s.keys('G');
  await s.waitFor((x) => x.includes('asleep'));
  await s.keys('q');
  await s.waitFor(/Quit and mark it interrupted\?/);
  await s.keys('q');
  const screen = await s.waitFor(/EXITED \d+/, 30_000);
  expect(screen).toMatch(/EXITED 130/);
  const jobs = JSON.parse((await cliDone([...globals, 'queue', '--json'])).out) as { id: string; status: string; resultDir: string }[];
  const stopped = jobs.find((j) => j.status === 'interrupted')!;
  expect(jobs.map((j) => j.status).sort()).toEqual(['interrupted', 'queued', 'queued']);
  // It left a bare prompt: nothing said the job was interrupted, nor that two stayed queued.
  const id = stopped.id.slice(0, 8);
  expect(screen).toContain(`job ${id} (sleeper) interrupted: its output is in ${stopped.resultDir}/console.log; \`marteau-tui retry ${id} --state-dir ${state}\` queues it again`);
  expect(screen).toContain(`2 jobs left queued in ${state}: they run when the control center or \`marteau-tui worker --state-dir ${state}\` opens it again`);
});

it.skipIf(!haveServer('tmux'))('a job that ends while the quit question is open was not interrupted: yes then leaves with exit 0, nothing said interrupted', async () => {
  const done = path.join(await temp('done'), 'done');
  // The job ends once the test says so, while the question asked for it is on the screen.
  const dir = await project(`name: waiter\n${commandYaml([process.execPath, '-e', `console.log("waiting"); setInterval(() => { if (require("fs").existsSync(${JSON.stringify(done)})) process.exit(0); }, 50)`])}\n`);
  const state = await stateDir();
  const nodes = path.join(await temp('nodes'), 'nodes.yml');
  writeFileSync(nodes, 'nodes:\n  local: {type: local, max_jobs: 1}\n');
  const globals = ['--state-dir', state, '--nodes', nodes];
  expect((await cliDone([...globals, 'enqueue', dir])).code).toBe(0);
  session = await TmuxSession.start(`${process.execPath} ${BIN} ${globals.join(' ')}; echo "EXITED $?"`, { cols: 200, rows: 30, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const s = session;
  await s.waitFor((x) => x.includes('waiting'), 30_000);
  await s.keys('q');
  await s.waitFor(/Quit and mark it interrupted\?/);
  writeFileSync(done, '');
  await s.waitFor(/waiter succeeded/, 30_000);
  await s.keys('y');
  const screen = await s.waitFor(/EXITED \d+/, 30_000);
  // It exited 130 as if the job had been interrupted.
  expect(screen).toMatch(/EXITED 0/);
  expect(screen).not.toMatch(/interrupted: its output is in/);
  const jobs = JSON.parse((await cliDone([...globals, 'queue', '--json'])).out) as { status: string }[];
  expect(jobs.map((j) => j.status)).toEqual(['succeeded']);
});

it.skipIf(!haveServer('tmux'))('on a terminal too small, its note and the quit question wrap between words, each row at the edge', async () => {
  const dir = await project(`name: sleeper\n${commandYaml([process.execPath, '-e', 'setTimeout(() => {}, 120000)'])}\n`);
  const globals = ['--state-dir', await stateDir()];
  expect((await cliDone([...globals, 'enqueue', dir])).code).toBe(0);
  session = await TmuxSession.start(`${process.execPath} ${BIN} ${globals.join(' ')}; echo "EXITED $?"`, { cols: 60, rows: 20, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const s = session;
  await s.waitFor(/Terminal too small \(60×20\)/, 30_000);
  // Quit once the job runs, so that q asks.
  for (let i = 0; i < 300 && !(await cliDone([...globals, 'queue', '--json'])).out.includes('"running"'); i++) await new Promise((r) => setTimeout(r, 100));
  await s.keys('q');
  const screen = await s.waitFor(/Quit and mark it interrupted\?/);
  const rows = screen.split('\n').filter((r) => r.trim() !== '');
  // It showed 'q' at the end of one row and 'quits.' on the next, and the question's second row began with a space.
  expect(rows).toContain('q quits.');
  for (const r of rows) expect(r).toMatch(/^\S/);
  expect(rows.some((r) => r.includes('n / esc: no'))).toBe(true);
  await s.keys('q');
  expect(await s.waitFor(/EXITED \d+/, 30_000)).toMatch(/EXITED 130/);
});

it.skipIf(!haveServer('tmux'))('a SIGTERM while it runs a job leaves as q q does: the job interrupted, said, exit 130', async () => {
  const dir = await project(`name: sleeper\n${commandYaml([process.execPath, '-e', 'console.log("asleep"); setTimeout(() => {}, 120000)'])}\n`);
  const state = await stateDir();
  const pidFile = path.join(await temp('pid'), 'pid');
  const globals = ['--state-dir', state];
  expect((await cliDone([...globals, 'enqueue', dir])).code).toBe(0);
  // exec: the pid written is the control center's, which a session manager (or kill) stops.
  session = await TmuxSession.start(`sh -c 'echo $$ > ${pidFile}; exec ${process.execPath} ${BIN} ${globals.join(' ')}'; echo "EXITED $?"`, { cols: 200, rows: 30, cwd: dir, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
  const s = session;
  await s.waitFor(/sleeper\s+running/, 30_000);
  await s.keys('G');
  await s.waitFor((x) => x.includes('asleep'));
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  // It was killed: 143, its last frame left on the screen, nothing said; the job reaped later as its process gone.
  const screen = await s.waitFor(/EXITED \d+/, 30_000);
  expect(screen).toMatch(/EXITED 130/);
  const jobs = JSON.parse((await cliDone([...globals, 'queue', '--json'])).out) as { id: string; status: string; reason?: string; resultDir: string }[];
  expect(jobs.map((j) => [j.status, j.reason])).toEqual([['interrupted', 'the engine was stopped during the run']]);
  const id = jobs[0].id.slice(0, 8);
  expect(screen).toContain(`job ${id} (sleeper) interrupted: its output is in ${jobs[0].resultDir}/console.log`);
});

it.skipIf(!haveServer('tmux') || !haveServer('redis-server'))('q or ctrl-c while a team queue never answers its start gives the terminal back at once, restored, the queued job kept', async () => {
  redis = await startRedis();
  const queue = `redis://127.0.0.1:${redis.port}/0`;
  const dir = await project(`name: kept\n${commandYaml([process.execPath, '-e', '0'])}\n`);
  expect((await cliDone(['--state-dir', await stateDir(), '--queue', queue, 'enqueue', dir])).code).toBe(0);
  // Stopped, redis-server still takes connections (the kernel does) and never answers them.
  await freeze(redis.pid);
  for (const [key, code] of [['q', 0], ['C-c', 130]] as const) {
    const before = connectionsTo(redis.port);
    // After it exits, the shell says whether the terminal is back in cooked mode (raw mode off).
    session = await TmuxSession.start(`${process.execPath} ${BIN} --state-dir ${await stateDir()} --queue ${queue}; echo "EXITED $?"; stty -a | grep -o -- '-\\?icanon'`, { cols: 200, rows: 30, env: { MARTEAU_NO_ALT_SCREEN: '1' } });
    await session.waitFor(/marteau-tui · .*· starting/, 30_000);
    // Its start waits on the connection redis-server took.
    await waitFor(() => connectionsTo(redis!.port) > before, 30_000);
    await session.keys(key);
    // It waited for the start to end, which never came: the screen stayed on its last frame.
    const screen = await session.waitFor(/EXITED \d+\s+-?icanon/);
    expect(screen).toContain(`EXITED ${code}`);
    expect(screen).toMatch(/\sicanon/);
    expect(screen).toContain(`marteau-tui: closed while its engine was still starting (reading the queue at ${queue}): no job was claimed here; the queued jobs stay in the queue`);
    // The cursor, hidden while it ran, is shown again.
    expect((await session.tmux('display-message', '-p', '-t', session.name, '#{cursor_flag}')).trim()).toBe('1');
    await session.kill();
  }
  process.kill(redis.pid, 'SIGCONT');
  const jobs = JSON.parse((await cliDone(['--state-dir', await stateDir(), '--queue', queue, 'queue', '--json'])).out) as { name: string; status: string }[];
  expect(jobs.map((j) => [j.name, j.status])).toEqual([['kept', 'queued']]);
}, 90_000);

/** Established TCP connections to this local port, the server's side counted (Linux's /proc/net/tcp). */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hex}`) && f[3] === '01';
    }).length;
}

async function waitFor(ok: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
