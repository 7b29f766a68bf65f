/**
 * The funkload runner on the local node, with the FunkLoad stand-in (fixtures/funkload/stand-in,
 * replaying recorded-format transcripts: FunkLoad itself cannot be installed here) first on the
 * job's PATH: no copy, the result file where FunkLoad writes it (the project), our reports, and a
 * cancel that stops fl-run-bench mid-bench.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { groupAlive } from '../src/core/owner.js';
import type { EngineEvent } from '../src/core/events.js';
import { localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { cliDone } from './helpers/marteau-cli.js';
import { haveServer } from './helpers/servers.js';

afterAll(removeTemp);

const standIn = new URL('../fixtures/funkload/stand-in', import.meta.url).pathname;
const LOADTEST = 'from funkload.FunkLoadTestCase import FunkLoadTestCase\n\n\nclass Simple(FunkLoadTestCase):\n    def test_simple(self):\n        pass\n';
const yaml = (extra: string) =>
  `name: local-fl\nrunner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: [1, 2]\nduration: 10\nenv: {PATH: ${JSON.stringify(`${standIn}:${process.env.PATH}`)}}\n${extra}`;

describe.skipIf(!haveServer('python3'))('funkload runner on the local node (stand-in FunkLoad)', () => {
  it('runs in the project, writes our reports, and cleans its scratch directory', async () => {
    const dir = await project(yaml('thresholds: {success_rate: ">= 80%"}\nartifacts: [Simple.conf]\n'), { 'loadtest.py': LOADTEST, 'Simple.conf': '[main]\ntitle=Simple\n' });
    const e = new Engine({ stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
    const events: EngineEvent[] = [];
    e.events.on('*', (x) => events.push(x));
    await e.start();
    const job = await e.enqueue(dir);
    const [done] = await e.waitFor([job.id]);
    await e.stop();
    const log = events.flatMap((x) => (x.type === 'log.line' ? [x.line] : []));
    expect(done.status, log.join('\n')).toBe('succeeded');
    // FunkLoad's default result file, in the directory it ran in.
    expect(existsSync(path.join(dir, 'funkload.xml'))).toBe(true);
    expect(readdirSync(e.resultDir(job.id))).toEqual(expect.arrayContaining(['results.xml', 'index.html', 'summary.json', 'junit.xml', 'funkload-report']));
    // artifacts: as for the command runner.
    expect(readFileSync(path.join(e.resultDir(job.id), 'nodes', 'local', 'Simple.conf'), 'utf8')).toBe('[main]\ntitle=Simple\n');
    expect(existsSync(path.join(os.tmpdir(), `marteau-tui-${job.id}-funkload`))).toBe(false);
  }, 120_000);

  it('cancel stops fl-run-bench during the bench', async () => {
    const dir = await project(yaml(''), { 'loadtest.py': LOADTEST });
    const e = new Engine({ stateDir: await stateDir(), nodes: localNodes(1), run: 'all' });
    let cycles = 0;
    e.events.on('job.progress', (x) => {
      if (x.progress.cycle === 0 && x.progress.users === 1) cycles++;
    });
    await e.start();
    const job = await e.enqueue(dir);
    const end = Date.now() + 60_000;
    while (cycles === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(cycles).toBeGreaterThan(0);
    await e.cancel(job.id);
    const [done] = await e.waitFor([job.id]);
    await e.stop();
    expect(done.status).toBe('cancelled');
    // The bench's whole process group is gone, before it wrote its result file.
    expect(done.procs.length).toBeGreaterThan(0);
    for (const p of done.procs) expect(groupAlive(p.pgid)).toBe(false);
    expect(existsSync(path.join(dir, 'funkload.xml'))).toBe(false);
  }, 120_000);

  describe('marteau-tui --ci exit codes (built CLI)', () => {
    const noStandIn = (process.env.PATH ?? '').split(':').filter((d) => d !== standIn).join(':');
    const ci = async (dir: string, env: NodeJS.ProcessEnv = {}) => cliDone(['--ci', dir, '--state-dir', await stateDir()], env);

    it('a failed threshold: exit 1', async () => {
      const r = await ci(await project(yaml('thresholds: {p95: "< 1ms"}\n'), { 'loadtest.py': LOADTEST }));
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toMatch(/FAIL p95/);
    }, 120_000);

    it('fl-run-bench not installed: exit 3, naming the node and what to install', async () => {
      const dir = await project('name: no-fl\nrunner: funkload\nscript: loadtest.py\ntest: Simple.test_simple\n', { 'loadtest.py': LOADTEST });
      const r = await ci(dir, { PATH: noStandIn });
      expect(r.code, r.out + r.err).toBe(3);
      expect(r.out + r.err).toContain('node "local": fl-run-bench (FunkLoad) is not installed: install FunkLoad on the node');
    }, 120_000);

    it('the test module missing: exit 2 at the script line, no stack trace', async () => {
      const dir = await project('name: no-module\nrunner: funkload\nscript: tests/loadtest.py\ntest: Simple.test_simple\n');
      const r = await ci(dir);
      expect(r.code, r.out + r.err).toBe(2);
      expect(r.err).toContain(`${path.join(dir, '.marteau.yml')}:3:9: script: the test module "tests/loadtest.py" is not in ${dir}`);
      expect(r.err).not.toMatch(/\n\s+at /);
    }, 120_000);
  });
});
