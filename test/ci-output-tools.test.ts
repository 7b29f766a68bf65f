/**
 * What `--ci` prints about a Locust or FunkLoad job agrees with the job's reports: the last
 * progress line, the job's line and summary.json count the same requests and errors (real Locust
 * and real FunkLoad through the built CLI, two cycles, requests that fail). Their live lines come
 * from the tools' own output; ci-output checks the builtin runner's. FunkLoad's live line at each
 * cycle's end and its verdict, counted from its console, say the report's tests as well.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDemoApp } from '../fixtures/demo/app.js';
import type { JsonReport } from '../src/report/json.js';
import { realFunkload } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

/** The demo shop's locustfile: its 'missing item' request fails (404) every time. */
const LOCUSTFILE = path.join(import.meta.dirname, '../fixtures/locust/locustfile.py');

/** Each test gets a page that answers and one that takes 100 ms; every 4th fails (an assertion). */
const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase
N = [0]


class Simple(FunkLoadTestCase):
    def test_simple(self):
        N[0] += 1
        self.get(self.conf_get('main', 'url') + '/home', description='Get home')
        self.get(self.conf_get('main', 'url') + '/slow', description='Get slow')
        if N[0] % 4 == 0:
            self.fail('every 4th test fails')
`;
const flConf = (url: string) =>
  `[main]\ntitle=Simple\ndescription=Two pages\nurl=${url}\n\n[test_simple]\ndescription=Two pages\n\n[bench]\ncycles = 1:2\nduration = 2\nstartup_delay = 0.01\nsleep_time = 0.05\ncycle_time = 0\nlog_to =\nlog_path = simple-bench.log\nresult_path = simple-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0.05\n`;

/** The --ci run's progress lines' figures, its job line's, and its summary.json's. */
async function ciRun(dir: string) {
  const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
  const progress = r.out.split('\n').filter((l) => / progress: /.test(l));
  const counts = (line: string) => {
    const m = /, (\d+) requests?, (\d+) errors?/.exec(line);
    return m ? { requests: Number(m[1]), errors: Number(m[2]) } : undefined;
  };
  const job = /job \S+ .*\((\d+) requests?, ([\d.]+) % errors.*results: (\S+)/.exec(r.out);
  expect(job, r.out).not.toBeNull();
  const summary = JSON.parse(await readFile(path.join(job![3], 'summary.json'), 'utf8')) as JsonReport;
  const { total, success } = summary.overall.requests;
  return { r, progress, counts, job: { requests: Number(job![1]), errorPercent: job![2] }, report: { requests: total, errors: total - success }, summary };
}

describe('--ci output of the tools and the reports', () => {
  it.skipIf(!haveServer('locust'))('Locust: every progress line counts as the report does, the last one its totals over both cycles', async () => {
    const app = await startDemoApp(0);
    try {
      const yaml = `name: shop\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:${app.port}\ncycles: [2, 4]\nduration: 2\nspawn_rate: 100\ncycle_time: 0.2\ntimeout: 120s\n`;
      const { r, progress, counts, job, report } = await ciRun(await project(yaml, { 'locustfile.py': await readFile(LOCUSTFILE, 'utf8') }));
      expect(r.code, r.out + r.err).toBe(0);
      expect(report.errors).toBeGreaterThan(0);
      expect(job).toEqual({ requests: report.requests, errorPercent: ((100 * report.errors) / report.requests).toFixed(2) });
      expect(progress.at(-1), r.out).toMatch(/ progress: cycle 2\/2, 0 users, \d+ requests, \d+ errors, done$/);
      expect(counts(progress.at(-1)!)).toEqual(report);
      // The live lines follow the same rule: the last one Locust streamed already says the totals.
      const live = progress.slice(0, -1).filter((l) => counts(l));
      expect(counts(live.at(-1)!), r.out).toEqual(report);
      // They never go back (a cycle's count adds to the ones before).
      const seen = live.map((l) => counts(l)!.requests);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    } finally {
      await app.close();
    }
  }, 180_000);

  const fl = realFunkload();
  it.skipIf(!fl)("FunkLoad: the last progress line says the report's requests, errors and tests", async () => {
    const app = await startHttpServer();
    try {
      const yaml = `name: simple\nrunner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "2:4"\nduration: 2\nenv: {PATH: ${JSON.stringify(`${fl!.bin}:/usr/bin:/bin`)}}\n`;
      const { r, progress, counts, job, report, summary } = await ciRun(await project(yaml, { 'loadtest.py': LOADTEST, 'Simple.conf': flConf(`http://127.0.0.1:${app.port}`) }));
      // FunkLoad's own verdict: every 4th test fails.
      expect(r.code, r.out + r.err).toBe(1);
      expect(report.requests).toBeGreaterThan(0);
      expect(job).toEqual({ requests: report.requests, errorPercent: ((100 * report.errors) / report.requests).toFixed(2) });
      const { total, failures, errors } = summary.overall.tests;
      expect(failures).toBeGreaterThan(0);
      const last = progress.at(-1)!;
      expect(last, r.out).toMatch(/ progress: cycle 2\/2, 0 users, \d+ requests?, \d+ errors?, \d+ tests?: \d+ failed, \d+ errors?, done$/);
      expect(counts(last)).toEqual(report);
      expect(last).toContain(`, ${total} tests: ${failures} failed, ${errors} error`);
      // Each cycle's end, live (the line after FunkLoad's '* Cycle result:'), says the report's tests of the cycles so far, and that cycle's successful tests/s.
      const lines = r.out.split('\n');
      const ends = lines.flatMap((l, i) => (/ \* Cycle result: /.test(l) ? [lines.slice(i + 1).find((x) => / progress: /.test(x))!] : []));
      expect(ends, r.out).toHaveLength(2);
      ends.forEach((line, c) => {
        const sofar = summary.cycles.slice(0, c + 1).map((x) => x.tests);
        const sum = (f: (t: (typeof sofar)[number]) => number) => sofar.reduce((a, t) => a + f(t), 0);
        expect(line).toContain(` ${sum((t) => t.total)} tests: ${sum((t) => t.failures)} failed, ${sum((t) => t.errors)} error`);
        expect(line).toContain(`; last cycle ${summary.cycles[c].tests.stps.toFixed(2)} successful tests/s`);
      });
      // FunkLoad's verdict, counted from its console, says the report's failures and errors too.
      expect(summary.tool_verdict).toContain(`FunkLoad bench status FAILURE: ${failures} failure(s), ${errors} error(s)`);
    } finally {
      await app.close();
    }
  }, 180_000);
});
