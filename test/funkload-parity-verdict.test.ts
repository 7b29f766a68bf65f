/**
 * A funkload job without thresholds is judged by FunkLoad's own bench status (README, FunkLoad
 * runner). Every view of that job must say the same: its exit code, summary.json, index.html,
 * junit.xml, and the report rebuilt from its directory (`marteau-tui report <job id>`). Real
 * FunkLoad 1.17.2 (../shared/vendor, Python 2.7) against a real HTTP server, through the built CLI.
 */
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realFunkload } from './helpers/funkload.js';
import { cliDone } from './helpers/marteau-cli.js';
import { project, removeTemp, stateDir, temp } from './helpers/projects.js';

const fl = realFunkload();

/** Every other test fails an assertion: FunkLoad's `Bench status: **FAILURE**`, exit 1. */
const LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase
N = [0]


class Shop(FunkLoadTestCase):
    def test_shop(self):
        N[0] += 1
        self.get(self.conf_get('main', 'url') + '/items', description='Liste des articles')
        if N[0] % 2 == 0:
            self.fail('every other test fails')
`;
const conf = (url: string) =>
  `[main]\ntitle=Shop\ndescription=A shop\nurl=${url}\n\n[test_shop]\ndescription=Browse\n\n[bench]\ncycles = 1\nduration = 2\nstartup_delay = 0.01\nsleep_time = 0.02\ncycle_time = 0\nlog_to =\nlog_path = shop-bench.log\nresult_path = shop-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0\n`;

describe.skipIf(!fl)("a funkload job failed by FunkLoad's bench status", () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await removeTemp();
  });

  it('fails in every report, and its rebuilt report gives the same verdict and exit code', async () => {
    const dir = await project('name: shop\nscript: test_Shop.py\ntest: Shop.test_shop\n', { 'test_Shop.py': LOADTEST, 'Shop.conf': conf(url) });
    const nodes = path.join(await temp('nodes'), 'marteau.nodes.yml');
    await writeFile(nodes, `nodes:\n  local: {type: local, funkload: ${JSON.stringify(fl!.bin)}}\n`);
    const state = await stateDir();
    const ci = await cliDone(['--ci', dir, '--nodes', nodes, '--state-dir', state]);
    expect(ci.code, ci.out + ci.err).toBe(1);
    const why = /FunkLoad bench status FAILURE: \d+ failure\(s\), 0 error\(s\)/;
    expect(ci.out).toMatch(why);

    const [id] = readdirSync(path.join(state, 'jobs'));
    const jobDir = path.join(state, 'jobs', id);
    const summary = JSON.parse(await readFile(path.join(jobDir, 'summary.json'), 'utf8')) as { passed: boolean; reasons: string[] };
    expect(summary.passed).toBe(false);
    expect(summary.reasons.join('\n')).toMatch(why);
    const junit = await readFile(path.join(jobDir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuites name="marteau-tui" tests="1" failures="1"/);
    expect(junit).toMatch(/<failure message="FunkLoad bench status FAILURE: [^"]*" type="bench"\/>/);
    expect(await readFile(path.join(jobDir, 'index.html'), 'utf8')).toContain('<span class="status fail">FAILED</span>');

    // Rebuilt from the job's directory (its XML does not say FunkLoad's status; its summary.json does).
    const out = await temp('rebuilt');
    const rebuilt = await cliDone(['report', id, '--state-dir', state, '-o', out]);
    expect(rebuilt.code, rebuilt.out + rebuilt.err).toBe(1);
    expect(rebuilt.out).toMatch(new RegExp(`^FAILED: ${why.source}`, 'm'));
    expect(JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'))).toMatchObject({ passed: false });
    // Judged by numbers instead, FunkLoad's status no longer decides, as for the job.
    const lenient = path.join(out, 'thresholds.yml');
    await writeFile(lenient, 'thresholds: {success_rate: ">= 1%"}\n');
    expect((await cliDone(['report', id, '--state-dir', state, '-o', out, '--thresholds', lenient])).code).toBe(0);
  }, 120_000);

  /**
   * A bench stopped outside the engine fails the job (exit 1): its index.html, junit.xml,
   * summary.json and the report rebuilt from its directory say the same, not "interrupted" (130).
   */
  async function expectFailedEverywhere(state: string, why: string): Promise<void> {
    const [id] = readdirSync(path.join(state, 'jobs'));
    const jobDir = path.join(state, 'jobs', id);
    const summary = JSON.parse(await readFile(path.join(jobDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({ passed: false, aborted: true, interrupted: false, abort: { why: 'stopped', reason: why } });
    expect(await readFile(path.join(jobDir, 'index.html'), 'utf8')).toContain('<span class="status fail">FAILED</span>');
    expect(await readFile(path.join(jobDir, 'junit.xml'), 'utf8')).toContain(`<failure message="the run stopped before its end: ${why.replace(/"/g, '&quot;')}" type="aborted"/>`);
    const out = await temp('rebuilt');
    const rebuilt = await cliDone(['report', id, '--state-dir', state, '-o', out]);
    expect(rebuilt.code, rebuilt.out + rebuilt.err).toBe(1);
    expect(rebuilt.out).toContain(`FAILED: the run was aborted (${why})\n`);
    expect(JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'))).toMatchObject({ passed: false, interrupted: false, abort: { why: 'stopped', reason: why } });
    expect(await readFile(path.join(out, 'index.html'), 'utf8')).toContain('<span class="status fail">FAILED</span>');
    const jobs = await cliDone(['queue', '--all', '--json', '--state-dir', state]);
    expect(JSON.parse(jobs.out)).toMatchObject([{ status: 'failed', failure: 'test' }]);
  }

  /** A test module that sends its own bench process `signal` at the 8th test, as another terminal would. */
  const selfSignalling = (signal: string) => `import os, signal
from funkload.FunkLoadTestCase import FunkLoadTestCase
N = [0]


class Shop(FunkLoadTestCase):
    def test_shop(self):
        N[0] += 1
        self.get(self.conf_get('main', 'url') + '/items')
        if N[0] == 8:
            os.kill(os.getpid(), signal.${signal})
`;

  it('fl-run-bench stopped by SIGINT mid-cycle (it exits 0): the job fails saying so, its progress counts only the tests FunkLoad marked', async () => {
    // FunkLoad prints "Aborting run...Aborted" after the marks of its recording line and leaves
    // its XML without an end.
    const dir = await project('name: shop\nscript: test_Shop.py\ntest: Shop.test_shop\n', { 'test_Shop.py': selfSignalling('SIGINT'), 'Shop.conf': conf(url).replace('duration = 2', 'duration = 30') });
    const nodes = path.join(await temp('nodes'), 'marteau.nodes.yml');
    await writeFile(nodes, `nodes:\n  local: {type: local, funkload: ${JSON.stringify(fl!.bin)}}\n`);
    const state = await stateDir();
    const ci = await cliDone(['--ci', dir, '--nodes', nodes, '--state-dir', state]);
    expect(ci.code, ci.out + ci.err).toBe(1);
    const why = 'fl-run-bench on node "local" aborted its run (Aborting run...: it got SIGINT (Ctrl-C), SIGTERM or SIGQUIT)';
    expect(ci.out).toContain(`failed: the run was aborted (${why})`);
    const logging = /\* Logging for 30s \(until [^)]*\): ([.FE]*)Aborting run\.\.\./.exec(ci.out);
    expect(logging, ci.out).not.toBeNull();
    // The live lines count FunkLoad's marks; the last line gives the partial report's figures,
    // from its XML, which may hold a test whose mark the abort cut off (7 against 6 marks once).
    const lines = [...ci.out.matchAll(/progress: .*?(\d+) tests?: [^\n]*/g)];
    const live = lines.filter((m) => !m[0].includes('kept:')).at(-1);
    expect(Number(live?.[1])).toBe(logging![1].length);
    expect(lines.at(-1)?.[0]).toContain('kept: a partial report');
    await expectFailedEverywhere(state, why);
  }, 120_000);

  it('fl-run-bench killed with SIGKILL on its node: the job fails saying so, and so does every report of it', async () => {
    const dir = await project('name: shop\nscript: test_Shop.py\ntest: Shop.test_shop\n', { 'test_Shop.py': selfSignalling('SIGKILL'), 'Shop.conf': conf(url).replace('duration = 2', 'duration = 30') });
    const nodes = path.join(await temp('nodes'), 'marteau.nodes.yml');
    await writeFile(nodes, `nodes:\n  local: {type: local, funkload: ${JSON.stringify(fl!.bin)}}\n`);
    const state = await stateDir();
    const ci = await cliDone(['--ci', dir, '--nodes', nodes, '--state-dir', state]);
    expect(ci.code, ci.out + ci.err).toBe(1);
    const why = 'fl-run-bench on node "local" was killed by SIGKILL before the end of its bench';
    expect(ci.out).toContain(`failed: the run was aborted (${why})`);
    await expectFailedEverywhere(state, why);
  }, 120_000);
});
