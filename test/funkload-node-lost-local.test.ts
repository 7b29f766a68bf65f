/**
 * A FunkLoad job on two nodes, this machine and an SSH node, the SSH node lost mid-bench (its
 * sshd killed), with the real FunkLoad 1.17.2: the report holds both nodes' results, the local
 * node's file being on this machine, where its stopped bench left it; only the lost node's
 * later lines are missing.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { readFunkloadXml } from '../src/runners/funkload-xml.js';
import { funkloadSessionEnv, realFunkload, SIMPLE_LOADTEST, simpleConf } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { descendants, makeUserKey, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();

const conf = (url: string) => simpleConf(url, 4);

describe.skipIf(!fl || !haveServer('sshd'))('funkload runner on this machine and an SSH node, the SSH node lost mid-bench (real FunkLoad)', () => {
  let dir: string;
  let node: Sshd;
  let knownHosts: string;
  let identity: string;
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await temp('funkload-lost-local');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    app = await startHttpServer();
    node = await startSshd('127.0.0.5', user, { setEnv: funkloadSessionEnv(fl!) });
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${node.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([node?.stop(), app?.close()]);
    await removeTemp();
  });

  it("the report holds the local node's results too, and says only the lost node's later lines are missing", async () => {
    const p = await project('name: lost\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 4\nnodes: 2\nnode_tags: [pair]\n', { 'loadtest.py': SIMPLE_LOADTEST, 'Simple.conf': conf(`http://127.0.0.1:${app.port}`) });
    const nodes = [
      { type: 'local' as const, name: 'local', maxJobs: 1, tags: ['pair'], enabled: true, funkload: fl!.bin },
      sshNode(node, 'a', { identity, knownHosts, workDir: path.join(dir, 'remote'), funkload: fl!.bin, tags: ['pair'] }),
    ];
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes }, run: 'all' });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      // Two seconds into the second cycle's recording on both nodes: node a is lost.
      let since = 0;
      const cut = await Promise.race([
        new Promise<boolean>((resolve) =>
          e.events.on('job.progress', (x) => {
            // FunkLoad prints a cycle's `* Logging for 4s ...` line whole as the cycle ends.
            const recording = (n: string) => logs.filter((l) => l.startsWith(`${n} stdout: * setUpCycle hook`)).length === 2;
            if (x.jobId !== job.id || !recording('a') || !recording('local')) return;
            since ||= x.at;
            if (x.at - since >= 2000) resolve(true);
          }),
        ),
        e.waitFor([job.id]).then(() => false),
      ]);
      expect(cut, logs.join('\n')).toBe(true);
      // Its sshd and everything its sessions ran (FunkLoad too, which would go on loading the app).
      const below = descendants(node.pid);
      node.crash();
      for (const pid of below) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone with its sshd
        }
      }
      const [done] = await e.waitFor([job.id]);
      expect(done, logs.join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(/^node "a": SSH connection to \S+ lost: /);

      const resultDir = e.resultDir(job.id);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s).toMatchObject({ aborted: true, abort: { why: 'infrastructure' } });
      expect(s.abort!.reason).toMatch(/^node "a": node lost at /);
      // The local node's file is not missing: it is here, as FunkLoad left it in the project.
      expect(s.abort!.missing).toBe("any result line written after the last one received; FunkLoad's own HTML report (fl-build-report runs on the node)");
      const local = path.join(resultDir, 'results-local.xml');
      expect(existsSync(local), logs.join('\n')).toBe(true);
      expect((await readFile(local)).equals(await readFile(path.join(p, 'simple-bench.xml')))).toBe(true);
      const ours = (await readFunkloadXml(local)).results.summary();
      const theirs = (await readFunkloadXml(path.join(resultDir, 'results-a.xml'))).results.summary();
      expect(ours.overall.requests.total).toBeGreaterThan(0);
      expect(theirs.overall.requests.total).toBeGreaterThan(0);
      // Both nodes' requests in the report, in both cycles.
      expect(s.overall.requests.total).toBe(ours.overall.requests.total + theirs.overall.requests.total);
      expect(s.cycles.map((c) => c.cvus)).toEqual([2, 4]);
    } finally {
      await e.stop();
    }
  }, 240_000);
});
