/**
 * `marteau-tui report` of a job still running, from another shell (a TUI or a worker runs it):
 * refused with what to do, the job left alone. Converting its live sample log, as a killed job's
 * is, took the log from under the job (which failed with ENOENT) and called the run interrupted.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startHttpServer } from './helpers/http-server.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { queueJson, waitUntil } from './helpers/queue-cli.js';

const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });
afterAll(removeTemp);

it('report of a running builtin job, by its id or its directory, is refused and the job ends whole', async () => {
  const http = await startHttpServer();
  servers.push(http);
  const yaml = `name: live\nrunner: builtin\nbase_url: http://127.0.0.1:${http.port}\ncycles: [1]\nduration: 4\nstartup_delay: 0\nsleep_time_min: 0\nsleep_time_max: 0.05\ncycle_time: 0\nscenario:\n  - {get: /, expect: 200}\n`;
  const state = await stateDir();
  expect((await cliDone(['enqueue', await project(yaml), '--state-dir', state])).code).toBe(0);
  const worker = cli(['worker', '--drain', '--state-dir', state]);
  const [{ id }] = await queueJson(state);
  const samples = path.join(state, 'jobs', id, 'results.samples');
  await waitUntil(() => existsSync(samples) && http.requests() > 0);

  const out = await temp('report');
  for (const arg of [id.slice(0, 8), path.join(state, 'jobs', id)]) {
    const r = await cliDone(['report', arg, '-o', out, '--state-dir', state]);
    expect(r.err).toBe(`marteau-tui: job ${id.slice(0, 8)} (live) is running: its results are complete only once it ends; run \`marteau-tui report ${id.slice(0, 8)}\` again then (\`marteau-tui queue\` shows when)\n`);
    expect(r.code).toBe(2);
  }
  expect(existsSync(samples)).toBe(true);
  expect(existsSync(path.join(out, 'index.html'))).toBe(false);

  expect(await worker.exited).toBe(0);
  expect((await queueJson(state))[0].status).toBe('succeeded');
  // Once it ended, its report is built, with the job's own verdict.
  const r = await cliDone(['report', id.slice(0, 8), '-o', out, '--state-dir', state]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
}, 60_000);
