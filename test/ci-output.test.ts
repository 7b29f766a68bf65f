/**
 * What `--ci` prints about a job agrees with the job's reports: the last progress line, the job's
 * line and results.xml / summary.json count the same requests (a real run of the built CLI
 * against the load app, the recording window's edge crowded with requests); a cancelled run's
 * output judges no threshold, as its reports do not.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLoadApp } from '../fixtures/load/app.js';
import { cli, cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

/** The figures of a `progress: ...` line (formatProgress). */
function progressCounts(line: string): { requests: number; errors: number } {
  const m = /, (\d+) requests?, (\d+) errors?/.exec(line);
  if (!m) throw new Error(`no counts in ${line}`);
  return { requests: Number(m[1]), errors: Number(m[2]) };
}

describe('--ci output and the reports', () => {
  it('the last progress line, the job line, results.xml and summary.json count the same requests', async () => {
    const app = await startLoadApp();
    try {
      // Many users, no think time, short windows: requests end on both sides of each window's end.
      // The second step always fails, so errors are counted on both sides too.
      const dir = await project(`name: edge\nrunner: builtin\nbase_url: ${app.url}\ncycles: [20, 30]\nduration: 0.6\nstartup_delay: 0\nsleep_time: 0\ncycle_time: 0\nscenario:\n  - {get: /}\n  - {get: /status/500}\n`);
      const r = await cliDone(['--ci', dir, '--state-dir', await stateDir()]);
      expect(r.code, r.out + r.err).toBe(0);
      const progress = r.out.split('\n').filter((l) => / progress: /.test(l));
      expect(progress.at(-1), r.out).toMatch(/, done$/);
      const last = progressCounts(progress.at(-1)!);
      const job = /succeeded in .*\((\d+) requests, ([\d.]+) % errors.*results: (\S+)/.exec(r.out);
      expect(job, r.out).not.toBeNull();
      const results = job![3];
      const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as { overall: { requests: { total: number; success: number } } };
      const xml = await readFile(path.join(results, 'results.xml'), 'utf8');
      const responses = xml.match(/<response /g)?.length ?? 0;
      const failed = xml.match(/<response [^>]* result="(Failure|Error)"/g)?.length ?? 0;
      expect(last.requests).toBeGreaterThan(0);
      expect(last.errors).toBeGreaterThan(0);
      expect({ job: Number(job![1]), json: summary.overall.requests.total, xml: responses }).toEqual({ job: last.requests, json: last.requests, xml: last.requests });
      expect({ json: summary.overall.requests.total - summary.overall.requests.success, xml: failed }).toEqual({ json: last.errors, xml: last.errors });
      expect(job![2]).toBe(((100 * last.errors) / last.requests).toFixed(2));
    } finally {
      await app.close();
    }
  });

  it('a cancelled run judges no threshold: SKIP and why after Aborted, in the output, the job\'s console and the reports; exit 130', async () => {
    const app = await startLoadApp();
    try {
      // requests >= 1000000 would fail on any part of a run; the others would pass on it.
      const dir = await project(`name: stopped\nrunner: builtin\nbase_url: ${app.url}\ncycles: [4]\nduration: 30\nstartup_delay: 0\nsleep_time: 0.02\nscenario:\n  - {get: /}\nthresholds:\n  success_rate: ">= 99%"\n  p95: "< 5s per cycle"\n  requests: ">= 1000000"\n`);
      const state = await stateDir();
      const run = cli(['--ci', dir, '--state-dir', state]);
      await run.waitFor(/ progress: .* [1-9]\d* requests/);
      run.child.kill('SIGINT');
      expect(await run.exited, run.out() + run.err()).toBe(130);
      const out = run.out();
      const after = out.slice(out.indexOf(' Aborted\n'));
      expect(out, out).toContain(' Aborted\n');
      expect(after).not.toMatch(/ (PASS|FAIL) /);
      const skips = after.split('\n').filter((l) => / SKIP /.test(l)).map((l) => l.replace(/^\S+ /, ''));
      const names = ['success_rate >= 99%', 'p95 < 5s per cycle', 'requests >= 1000000'];
      expect(skips.map((l) => l.replace(/after \d+\.\ds of load/, 'after Ns of load')), out).toEqual(names.map((n) => `SKIP ${n}: not judged: the run was interrupted after Ns of load (cancelled by a user)`));
      const results = /cancelled: by a user in .*results: (\S+)/.exec(out)![1];
      // The Output pane shows the job's console: the same lines.
      const pane = await readFile(path.join(results, 'console.log'), 'utf8');
      expect(pane).toContain(skips[2]);
      expect(pane).not.toMatch(/(PASS|FAIL) requests/);
      const summary = JSON.parse(await readFile(path.join(results, 'summary.json'), 'utf8')) as { passed: boolean; interrupted: boolean; reasons: string[]; thresholds: { skipped?: boolean; passed: boolean }[] };
      expect(summary).toMatchObject({ passed: false, interrupted: true, reasons: ['the run was aborted (cancelled by a user)'] });
      expect(summary.thresholds.map((t) => t.skipped)).toEqual([true, true, true]);
      const junit = await readFile(path.join(results, 'junit.xml'), 'utf8');
      expect(junit.match(/<skipped message="[^"]*not judged: the run was interrupted/g)).toHaveLength(3);
    } finally {
      await app.close();
    }
  });
});
