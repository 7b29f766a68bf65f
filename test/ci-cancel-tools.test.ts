/**
 * A builtin, Locust or FunkLoad job cancelled mid-run (SIGINT to the built CLI's --ci; the builtin
 * against the demo app, real Locust and real FunkLoad on this machine) ends its output as a
 * finished one does, with a last progress line in the report's figures, which says it was
 * cancelled, by whom, and what the report kept: a log reader tells a cancel from a crash. Exit
 * 130, the job line 'cancelled: by a user'.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDemoApp } from '../fixtures/demo/app.js';
import type { JsonReport } from '../src/report/json.js';
import { realFunkload, SIMPLE_LOADTEST, simpleConf } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { cli } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const LOCUSTFILE = path.join(import.meta.dirname, '../fixtures/locust/locustfile.py');

/** The --ci run of `dir`, interrupted once `ready` is in its output (and two seconds more): its output, exit code and summary.json. */
async function cancelled(dir: string, ready: RegExp) {
  const run = cli(['--ci', dir, '--state-dir', await stateDir()]);
  await run.waitFor(ready, 60_000);
  await new Promise((r) => setTimeout(r, 2000));
  run.child.kill('SIGINT');
  const code = await run.exited;
  const out = run.out();
  expect(code, out + run.err()).toBe(130);
  const job = /job \S+ cancelled: by a user in \S+ \((\d+) requests?, ([\d.]+) % errors.*results: (\S+)  report: \S+index\.html/.exec(out);
  expect(job, out).not.toBeNull();
  const summary = JSON.parse(await readFile(path.join(job![3], 'summary.json'), 'utf8')) as JsonReport;
  expect(summary).toMatchObject({ aborted: true, interrupted: true, abort: { why: 'cancel', reason: 'cancelled by a user' } });
  const progress = out.split('\n').filter((l) => / progress: /.test(l));
  const last = progress.at(-1)!;
  // The last line: the report's figures, the cancel, and what the report covers.
  const m = /, (\d+) requests?, (\d+) errors?, .*cancelled by a user; kept: a partial report of (0-[\d.]+s of the load.*)$/.exec(last);
  expect(m, out).not.toBeNull();
  const { total, success } = summary.overall.requests;
  expect({ requests: Number(m![1]), errors: Number(m![2]) }).toEqual({ requests: total, errors: total - success });
  expect(total).toBeGreaterThan(0);
  expect(Number(job![1])).toBe(total);
  expect(await readFile(path.join(job![3], 'index.html'), 'utf8')).toContain(`it covers ${m![3].replaceAll('"', '&quot;')}.`);
  // After it, only the job's own lines: the verdicts not judged, the job's end.
  expect(out.slice(out.indexOf(last) + last.length)).not.toMatch(/ progress: /);
  return { last, summary };
}

describe('--ci output of a cancelled builtin, Locust or FunkLoad run', () => {
  it('builtin: the same, in the same words', async () => {
    const app = await startDemoApp(0);
    try {
      const yaml = `name: shop\nrunner: builtin\nbase_url: http://127.0.0.1:${app.port}\ncycles: [2]\nduration: 30\nstartup_delay: 0\nsleep_time_min: 0\nsleep_time_max: 0.05\nscenario:\n  - {get: /items, expect: 200}\ntimeout: 120s\n`;
      const { last, summary } = await cancelled(await project(yaml), / progress: cycle 1\/1, 2 users, .* [1-9]\d* requests/);
      // Its scenario's runs are its tests, as FunkLoad's.
      expect(last).toMatch(/ progress: cycle 1\/1, 0 users, \d+ requests, \d+ errors, \d+ tests?: \d+ failed, \d+ errors?, cancelled by a user; kept: a partial report of 0-[\d.]+s of the load \(cycle 1 of 1 cut after [\d.]+s of its 30s\)$/);
      expect(summary.overall.tests.total).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  }, 120_000);

  it.skipIf(!haveServer('locust'))('Locust: a last line saying the cancel and the partial report', async () => {
    const app = await startDemoApp(0);
    try {
      const yaml = `name: shop\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:${app.port}\ncycles: [2]\nduration: 30\nspawn_rate: 100\ntimeout: 120s\n`;
      const { last } = await cancelled(await project(yaml, { 'locustfile.py': await readFile(LOCUSTFILE, 'utf8') }), / progress: cycle 1\/1, 2 users, .* [1-9]\d* requests/);
      expect(last).toMatch(/ progress: cycle 1\/1, 0 users, \d+ requests, \d+ errors, cancelled by a user; kept: a partial report of 0-[\d.]+s of the load \(cycle 1 of 1 cut after [\d.]+s of its 30s\)$/);
    } finally {
      await app.close();
    }
  }, 180_000);

  const fl = realFunkload();
  it.skipIf(!fl)('FunkLoad: the same, its tests named, the report made of what FunkLoad wrote until then', async () => {
    const app = await startHttpServer();
    try {
      const yaml = `name: simple\nrunner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "2"\nduration: 30\nenv: {PATH: ${JSON.stringify(`${fl!.bin}:/usr/bin:/bin`)}}\n`;
      const { last, summary } = await cancelled(await project(yaml, { 'loadtest.py': SIMPLE_LOADTEST, 'Simple.conf': simpleConf(`http://127.0.0.1:${app.port}`, 30) }), / progress: cycle 1\/1, 2 users, [1-9]\d* tests/);
      expect(last).toMatch(/ progress: cycle 1\/1, 0 users, \d+ requests, \d+ errors, \d+ tests?: \d+ failed, \d+ errors?, cancelled by a user; kept: a partial report of 0-[\d.]+s of the load \(cycle 1 of 1 cut after [\d.]+s of its 30s\)$/);
      expect(summary.overall.tests.total).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  }, 180_000);
});
