/**
 * A Locust job in distributed mode (a master on the engine's machine, a worker per node) when its
 * engine dies, on the real path: a real engine process running a real Locust on two local nodes,
 * kill -9 of that process. The master is no node of the job, yet its load must die with the
 * engine like the workers' (the watchdog, or the next engine when the watchdog died too), not hit
 * the app until its run time is up.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dist } from '../helpers/dist.js';
import { startHttpServer } from '../helpers/http-server.js';
import { LOCUSTFILE } from '../helpers/locust.js';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer } from '../helpers/servers.js';
import { processesWith } from '../helpers/sshd.js';

afterAll(removeTemp);

/** The engine's side: an engine with two local nodes runs the project, then waits to be killed. */
const ENGINE_SIDE = `
const { Engine } = await import(process.env.ENGINE_MODULE);
const { loadRunners } = await import(process.env.RUNNERS_MODULE);
const node = (name) => ({ type: 'local', name, maxJobs: 1, tags: [], enabled: true });
const e = new Engine({ runners: loadRunners, stateDir: process.env.STATE_DIR, nodes: { file: '(test)', nodes: [node('a'), node('b')], probeIntervalMs: 60000, probeTimeoutMs: 2000 }, run: 'all' });
await e.start();
const job = await e.enqueue(process.env.PROJECT);
e.events.on('log.line', (x) => { if (/Locust distributed/.test(x.line)) process.send({ id: job.id }); });
`;

/** Locust processes started by the engine under `state`, by role. */
function locusts(state: string): { masters: number[]; workers: number[] } {
  const pids = processesWith(state).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('locust');
    } catch {
      return false;
    }
  });
  const isMaster = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--master');
    } catch {
      return false;
    }
  };
  return { masters: pids.filter(isMaster), workers: pids.filter((p) => !isMaster(p)) };
}

/** An engine process running the job until Locust's master, both workers and the load are up. */
async function startLoaded(state: string, port: number, requests: () => number) {
  const dir = await project(
    `name: crash\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:${port}\ncycles: [4]\nduration: 120\nspawn_rate: 100\nnodes: 2\ntimeout: 280s\n`,
    { 'locustfile.py': LOCUSTFILE },
  );
  const script = path.join(state, 'engine-side.mjs');
  await writeFile(script, ENGINE_SIDE);
  const child = fork(script, [], { env: { ...process.env, ENGINE_MODULE: dist('src/core/engine.js'), RUNNERS_MODULE: dist('src/report/runners.js'), STATE_DIR: state, PROJECT: dir } });
  await once(child, 'message');
  const up = Date.now() + 60_000;
  while ((locusts(state).masters.length < 1 || locusts(state).workers.length < 2) && Date.now() < up) await new Promise((r) => setTimeout(r, 200));
  expect(locusts(state).masters).toHaveLength(1);
  expect(locusts(state).workers).toHaveLength(2);
  const before = requests();
  const loading = Date.now() + 30_000;
  while (requests() === before && Date.now() < loading) await new Promise((r) => setTimeout(r, 200));
  expect(requests()).toBeGreaterThan(before);
  return child;
}

async function gone(state: string): Promise<void> {
  // Killed at once; a loaded machine gets room, the run's 120 s none.
  const end = Date.now() + 20_000;
  while (locusts(state).masters.length + locusts(state).workers.length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  expect(locusts(state)).toEqual({ masters: [], workers: [] });
}

function cleanUp(state: string, child?: ChildProcess): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const { masters, workers } = locusts(state);
  for (const pid of [...masters, ...workers]) process.kill(pid, 'SIGKILL');
}

describe.skipIf(!haveServer('locust'))('a distributed Locust job when its engine dies', () => {
  it('kill -9 of the engine: the Locust master and its workers are gone within a bound (the watchdog)', async () => {
    const app = await startHttpServer();
    const state = await stateDir();
    let child: ChildProcess | undefined;
    try {
      child = await startLoaded(state, app.port, app.requests);
      child.kill('SIGKILL');
      await once(child, 'exit');
      await gone(state);
    } finally {
      cleanUp(state, child);
      await app.close();
    }
  }, 150_000);

  it('engine and watchdog killed: the next engine on the state dir stops the master it left', async () => {
    const app = await startHttpServer();
    const state = await stateDir();
    let child: ChildProcess | undefined;
    let next: Engine | undefined;
    try {
      child = await startLoaded(state, app.port, app.requests);
      // The watchdog: the engine's child that is no Locust.
      const watchdogs = processesWith('stopAll').filter((pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(child!.pid));
      expect(watchdogs).toHaveLength(1);
      // The engine frozen first: it starts a new watchdog when its watchdog dies, and, scheduled
      // between the two kills on a loaded machine, did so (the new one then stopped the master).
      child.kill('SIGSTOP');
      process.kill(watchdogs[0], 'SIGKILL');
      child.kill('SIGKILL');
      await once(child, 'exit');
      await new Promise((r) => setTimeout(r, 500));
      expect(locusts(state).masters).toHaveLength(1);
      next = new Engine({ runners: loadRunners, stateDir: state, nodes: localNodes(1), run: 'none', probe: false });
      await next.start();
      await gone(state);
    } finally {
      await next?.stop();
      cleanUp(state, child);
      await app.close();
    }
  }, 150_000);
});
