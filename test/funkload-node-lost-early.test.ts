/**
 * A FunkLoad job whose SSH node is lost (its sshd killed) while fl-run-bench starts, before it
 * names its result XML, with the real FunkLoad 1.17.2: the job fails as before (exit 3, the lost
 * connection's words), and a report is written all the same, marked incomplete, saying the node's
 * results are missing: alone, a report of no request that says so; beside this machine, that
 * node's results.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import type { NodeConfig } from '../src/config/nodes.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { readFunkloadXml } from '../src/runners/funkload-xml.js';
import { funkloadSessionEnv, realFunkload, simpleConf } from './helpers/funkload.js';
import { cliDone } from './helpers/marteau-cli.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { descendants, makeUserKey, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();

/** On the SSH node (its work_dir is named slow-node) the module takes a minute to import, after saying it started. */
const LOADTEST = `import os
import time
from funkload.FunkLoadTestCase import FunkLoadTestCase

if 'slow-node' in os.getcwd():
    open('importing', 'w').close()
    time.sleep(60)


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + '/home', description='Get home')
`;
const conf = (url: string) => simpleConf(url, 4);

const MISSING_A = `node "a"'s results (lost before fl-run-bench named its result file); FunkLoad's own HTML report (fl-build-report runs on the node)`;

describe.skipIf(!fl || !haveServer('sshd'))('funkload runner, its SSH node lost before FunkLoad names its result file (real FunkLoad)', () => {
  let dir: string;
  let identity: string;
  let knownHosts: string;
  const servers: Sshd[] = [];
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await temp('funkload-lost-early');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    app = await startHttpServer();
    const env = { setEnv: funkloadSessionEnv(fl!) };
    servers.push(...(await Promise.all([startSshd('127.0.0.6', user, env), startSshd('127.0.0.7', user, env)])));
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, servers.map((s) => `${s.knownHostsLine}\n`).join(''));
  });
  afterAll(async () => {
    await Promise.all([...servers.map((s) => s.stop()), app?.close()]);
    await removeTemp();
  });

  /** Its sshd and everything its sessions ran (fl-run-bench too). */
  function crash(s: Sshd): void {
    const below = descendants(s.pid);
    s.crash();
    for (const pid of below) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone with its sshd
      }
    }
  }

  /**
   * A job on `nodes` (node a on `sshd`, whose fl-run-bench is importing the test module when
   * `ready` holds, the log so far given) whose node a is lost then: its results dir and summary.json.
   */
  async function loseEarly(sshd: Sshd, head: string, nodes: NodeConfig[], ready: (logs: string[]) => boolean) {
    const p = await project(`name: early\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 4\n${head}`, { 'loadtest.py': LOADTEST, 'Simple.conf': conf(`http://127.0.0.1:${app.port}`) });
    const workDir = path.join(dir, `slow-node-${sshd.host}`);
    const e = new Engine({
      runners: loadRunners,
      stateDir: await stateDir(),
      nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes: [...nodes, sshNode(sshd, 'a', { identity, knownHosts, workDir, funkload: fl!.bin, tags: ['pair'] })] },
      run: 'all',
    });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      const importing = path.join(workDir, job.id, 'importing');
      const end = Date.now() + 120_000;
      while (!(existsSync(importing) && ready(logs)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(importing), logs.join('\n')).toBe(true);
      const lostAt = Date.now();
      crash(sshd);
      const [done] = await e.waitFor([job.id]);
      // The job fails as before: the machines' failure, in the lost connection's words.
      expect(done, logs.join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(/^node "a": SSH connection to \S+ lost: /);
      expect(logs.some((l) => l.startsWith('a stdout: * Log xml:'))).toBe(false);
      const resultDir = e.resultDir(job.id);
      for (const f of ['index.html', 'summary.json', 'junit.xml']) expect(existsSync(path.join(resultDir, f)), `${f}\n${logs.join('\n')}`).toBe(true);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s).toMatchObject({ passed: false, aborted: true, abort: { why: 'infrastructure' } });
      expect(s.abort!.reason).toMatch(/^node "a": node lost at \S+Z: SSH connection to \S+ lost: /);
      expect(s.abort!.at).toBeGreaterThanOrEqual(lostAt);
      return { resultDir, s, logs, html: await readFile(path.join(resultDir, 'index.html'), 'utf8') };
    } finally {
      await e.stop();
    }
  }

  it('alone: a report of no request, marked incomplete, saying that none was recorded before the node was lost', async () => {
    const { resultDir, s, logs, html } = await loseEarly(servers[0], '', [], () => true);
    expect(s.abort!.missing).toBe(MISSING_A);
    expect(s.overall.requests.total).toBe(0);
    expect(s.cycles).toEqual([]);
    expect(existsSync(path.join(resultDir, 'results.xml'))).toBe(false);
    expect(html).toContain(`the report is incomplete: it covers 0-`);
    expect(html).toContain(`Not in it: node &quot;a&quot;&#39;s results (lost before fl-run-bench named its result file)`);
    // Rebuilt, it says what the job left: no result file to rebuild from.
    const rebuilt = await cliDone(['report', resultDir, '-o', path.join(dir, 'rebuilt'), '--state-dir', path.dirname(path.dirname(resultDir))]);
    expect(rebuilt.err).toContain('this job left no load results to report on (it ended failed: node "a": SSH connection to');
    expect(logs).toContainEqual(expect.stringMatching(/^- engine: node "a": node lost at \S+Z: SSH connection .+ lost: .+: the report covers 0-[\d.]+s of the load, and no request was recorded before node "a" was lost$/));
  }, 240_000);

  it("beside this machine: the report holds this machine's results, and says node a's are missing", async () => {
    const local: NodeConfig = { type: 'local', name: 'local', maxJobs: 1, tags: ['pair'], enabled: true, funkload: fl!.bin };
    // This machine's bench records a while (a cycle under way) as node a's still imports.
    const { resultDir, s } = await loseEarly(servers[1], 'nodes: 2\nnode_tags: [pair]\n', [local], (logs) => logs.some((l) => l.startsWith('local stdout: * Logging for 4s')));
    expect(s.abort!.missing).toBe(MISSING_A);
    const ours = (await readFunkloadXml(path.join(resultDir, 'results-local.xml'))).results.summary();
    expect(ours.overall.requests.total).toBeGreaterThan(0);
    expect(s.overall.requests.total).toBe(ours.overall.requests.total);
    expect(existsSync(path.join(resultDir, 'results-a.xml'))).toBe(false);
  }, 240_000);
});
