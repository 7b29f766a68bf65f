/**
 * A Locust job on one real SSH node (sshd on 127.0.0.2) whose node dies mid-cycle: the job fails
 * for the machines as before, and the report keeps what was received: the cycles finished before
 * (from Locust's CSV files) and the cut cycle from what Locust streamed until the loss, per
 * request name with its failures named as a finished cycle's, marked incomplete, saying where it
 * was cut and what it lacks.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/core/engine.js';
import { loadRunners } from '../../src/report/runners.js';
import type { JsonReport } from '../../src/report/json.js';
import { cliDone } from '../helpers/marteau-cli.js';
import { startDemoApp, type DemoApp } from '../../fixtures/demo/app.js';
import { localNodes, project, removeTemp, stateDir } from '../helpers/projects.js';
import { haveServer, tempDir } from '../helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd } from '../helpers/sshd.js';

/** The demo shop's locustfile: four named requests, one of them ('missing item') a 404 every time. */
const LOCUSTFILE = path.join(import.meta.dirname, '../../fixtures/locust/locustfile.py');

let app: DemoApp;
let dir: string;
let node: Sshd;
let knownHosts: string;
let identity: string;

describe.skipIf(!haveServer('locust') || !haveServer('sshd'))('locust runner, its one SSH node lost mid-cycle', () => {
  beforeAll(async () => {
    app = await startDemoApp(0);
    dir = await tempDir('locust-lost');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    node = await startSshd('127.0.0.2', user);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${node.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await node?.stop();
    await app?.close();
    await rm(dir, { recursive: true, force: true });
    await removeTemp();
  });

  it('the job fails as before, and its report holds the finished cycle and the cut one up to the loss, marked incomplete', async () => {
    const work = path.join(dir, 'remote-a');
    const e = new Engine({
      runners: loadRunners,
      stateDir: await stateDir(),
      nodes: { ...localNodes(1), probeTimeoutMs: 20_000, probeIntervalMs: 60_000, nodes: [sshNode(node, 'a', { identity, knownHosts, workDir: work })] },
      run: 'all',
    });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream} ${x.line}`));
    await e.start();
    try {
      const yaml = `name: lost\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:${app.port}\ncycles: [2, 3]\ncycle_time: 0.2\nduration: 6\nspawn_rate: 100\ntimeout: 200s\n`;
      const job = await e.enqueue(await project(yaml, { 'locustfile.py': await readFile(LOCUSTFILE, 'utf8') }));
      // Two seconds into the second cycle's recording, with requests streamed: the node dies.
      let since = 0;
      await new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId !== job.id || x.progress.cycle !== 1 || x.progress.users !== 3 || !(x.progress.requests ?? 0)) return;
          since ||= x.at;
          if (x.at - since >= 2000) resolve();
        }),
      );
      const lostAt = Date.now();
      node.crash();
      for (const pid of processesWith(path.join(work, job.id))) process.kill(pid, 'SIGKILL');
      const [done] = await e.waitFor([job.id]);
      // The run did not finish: a failure of the machines, said as the lost connection says it.
      expect(done, logs.join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(/^node "a": SSH connection to \S+ lost: /);

      const resultDir = e.resultDir(job.id);
      for (const f of ['index.html', 'summary.json', 'junit.xml', 'locust-run.json']) expect(existsSync(path.join(resultDir, f)), f).toBe(true);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s).toMatchObject({ passed: false, aborted: true, abort: { why: 'infrastructure' } });
      expect(s.abort!.reason).toMatch(/^node "a": node lost at \S+Z: SSH connection to \S+ lost: /);
      expect(s.abort!.at).toBeGreaterThanOrEqual(lostAt);
      expect(s.abort!.missing).toBe("what Locust measured in cycle 2 after the last second it streamed before the loss (its CSV files stayed on the node)");
      // The first cycle from its CSV files, the cut one from what was streamed before the loss:
      // both per request name, the 404s under their step and named, as a finished cycle's are.
      expect(s.cycles.map((c) => c.cvus)).toEqual([2, 3]);
      const [first, cut] = s.cycles;
      for (const c of [first, cut]) {
        expect(c.requests.total).toBeGreaterThan(0);
        expect(c.steps.map((x) => x.url).sort()).toEqual(['catalogue', 'home', 'item', 'missing item']);
        const missing = c.steps.find((x) => x.url === 'missing item')!;
        expect(missing.total).toBeGreaterThan(0);
        expect(missing.success).toBe(0);
        for (const x of c.steps.filter((x) => x !== missing)) expect(x.success).toBe(x.total);
        expect(c.steps.reduce((n, x) => n + x.total, 0)).toBe(c.requests.total);
        expect(c.errors).toEqual({ 'status 404': missing.total });
      }
      // The cut cycle's failures are named as in Locust's failures file.
      expect(s.error_samples.filter((x) => x.cycle === 1).map((x) => [x.url, x.error, x.traceback])).toContainEqual([
        'missing item',
        'status 404',
        "HTTPError('404 Client Error: Not Found for url: missing item')",
      ]);
      // Its window ends at the loss, about two seconds into its recording: its rates divide by that.
      // (The summary gives times to the nearest millisecond, the loss's time is Date.now(), truncated:
      // an end just before the loss may read one more.)
      expect(cut.end!).toBeLessThanOrEqual(s.abort!.at! + 1);
      expect(cut.end!).toBeGreaterThan(s.abort!.at! - 1500);
      expect(cut.end! - cut.start!).toBeGreaterThan(1500);
      expect(cut.end! - cut.start!).toBeLessThan(6000);
      expect(cut.requests.rps).toBeCloseTo(cut.requests.total / ((cut.end! - cut.start!) / 1000), 1);
      // Where it was cut: the load's seconds until the loss, and where in the cycles.
      const covers = /the report is incomplete: it covers (0-[\d.]+s of the load \(cycle 2 of 2 cut after ([\d.]+)s of its 6s\))\. Not in it: what Locust measured in cycle 2 after/.exec(await readFile(path.join(resultDir, 'index.html'), 'utf8'));
      expect(covers).not.toBeNull();
      expect(Number(covers![2])).toBeCloseTo((cut.end! - cut.start!) / 1000, 1);
      expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toContain(`; the report covers ${covers![1]}; not in the report: what Locust measured in cycle 2 after`);
      expect(logs).toContainEqual(`- engine ${s.abort!.reason}: the report covers ${covers![1]}`);
      // A report rebuilt from the job's results says the same: the node lost (exit 3, as --ci gave the job), the same cut.
      const out = path.join(dir, `rebuilt-${job.id}`);
      const rebuilt = await cliDone(['report', resultDir, '-o', out, '--state-dir', path.dirname(path.dirname(resultDir))]);
      expect(rebuilt.code, rebuilt.out + rebuilt.err).toBe(3);
      expect((JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as JsonReport).cycles).toEqual(s.cycles);
      expect(await readFile(path.join(out, 'index.html'), 'utf8')).toContain(`it covers ${covers![1]}. Not in it: ${s.abort!.missing!.split(/ \(|;/)[0]}`);
    } finally {
      await e.stop();
    }
  }, 240_000);
});
