/**
 * What `--ci` prints about a job agrees with the job's reports: the last progress line, the job's
 * line and results.xml / summary.json count the same requests (a real run of the built CLI
 * against the load app, the recording window's edge crowded with requests).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLoadApp } from '../fixtures/load/app.js';
import { cliDone } from './helpers/marteau-cli.js';
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
});
