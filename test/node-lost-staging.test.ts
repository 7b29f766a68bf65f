/**
 * A FunkLoad or Locust job whose one SSH node is lost while the project is copied to it, or while
 * pip installs FunkLoad's deps there, before any bench started (a real sshd behind a slow link,
 * killed then): the job fails for the
 * machines as before, and it leaves a report all the same, as a node lost mid-bench does: no
 * cycle ran, which node was lost and at which step, and the node's output until then; the job's
 * reason says the same step.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { funkloadSessionEnv, realFunkload, SIMPLE_LOADTEST, simpleConf } from './helpers/funkload.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { descendants, makeUserKey, relayTo, sshNode, startSshd, type Relay, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();
/** 1 MB/s towards the node: the project's 12 MB take 12 s to copy. */
const RATE = 1024 * 1024;
const BIG = 12 * 1024 * 1024;

async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (e.isFile()) n += (await stat(path.join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  return n;
}

describe.skipIf(!fl || !haveServer('sshd') || !haveServer('locust'))('a node lost while the project is copied to it, before any bench (real sshd, FunkLoad, Locust)', () => {
  let dir: string;
  let identity: string;
  const servers: Sshd[] = [];

  beforeAll(async () => {
    dir = await temp('lost-staging');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    servers.push(...(await Promise.all(['127.0.0.16', '127.0.0.17', '127.0.0.19'].map((h) => startSshd(h, user, { setEnv: funkloadSessionEnv(fl!) })))));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await removeTemp();
  });

  interface Loss {
    yaml: string;
    files: Record<string, string>;
    node?: object;
    /** The step the node is lost at, as the report and the job say it. */
    step: string;
    /** A line the node printed by then. */
    printed: RegExp;
    /** A project big enough to take seconds to copy. */
    big?: boolean;
    /** Whether the job is there (its copy on the node, under `jobDir`, and its lines so far). */
    ready: (jobDir: string, logs: string[]) => Promise<boolean>;
  }

  /** A job on node a (`sshd`, behind a slow relay), lost once `o.ready`: the job and its report say where. */
  async function lose(sshd: Sshd, o: Loss) {
    const relay: Relay = await relayTo(sshd, { bytesPerSecond: RATE });
    const workDir = path.join(dir, `remote-${sshd.host}`);
    const p = await project(o.yaml, o.files);
    if (o.big) await writeFile(path.join(p, 'data.bin'), randomBytes(BIG));
    const e = new Engine({
      runners: loadRunners,
      stateDir: await stateDir(),
      nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes: [{ ...sshNode(sshd, 'a', { identity, knownHosts: relay.knownHosts, workDir, connectTimeoutMs: 20_000, ...o.node }), port: relay.port }] },
      run: 'all',
    });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      const jobDir = path.join(workDir, job.id);
      const end = Date.now() + 90_000;
      while (!(await o.ready(jobDir, logs)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await o.ready(jobDir, logs), logs.join('\n')).toBe(true);
      const lostAt = Date.now();
      // Its sshd and what its sessions ran (pip too).
      const below = descendants(sshd.pid);
      sshd.crash();
      relay.close();
      for (const pid of below) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone with its sshd
        }
      }
      const [done] = await e.waitFor([job.id]);
      // The job fails as before, for the machines, in the lost connection's words, and says where it was.
      expect(done, logs.join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(/^node "a": SSH connection to \S+ lost: .+ \(while (.+): no cycle ran\)$/);
      expect(/\(while (.+): no cycle ran\)$/.exec(done.reason!)![1]).toBe(o.step);
      const resultDir = e.resultDir(job.id);
      for (const f of ['index.html', 'summary.json', 'junit.xml']) expect(existsSync(path.join(resultDir, f)), `${f}\n${logs.join('\n')}`).toBe(true);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s).toMatchObject({ passed: false, aborted: true, abort: { why: 'infrastructure', before: o.step } });
      expect(s.abort!.reason).toMatch(/^node "a": node lost at \S+Z: SSH connection to \S+ lost: /);
      expect(s.abort!.at).toBeGreaterThanOrEqual(lostAt);
      // The node's output until then.
      expect(s.abort!.output).toContainEqual(expect.stringMatching(o.printed));
      expect(s.overall.requests.total).toBe(0);
      expect(s.cycles).toEqual([]);
      const covers = `no cycle: the run stopped while ${o.step}, before its load started`;
      const html = await readFile(path.join(resultDir, 'index.html'), 'utf8');
      expect(html).toContain(`The run stopped before its end (node &quot;a&quot;: node lost at `);
      expect(html).toContain(`it covers ${covers.replaceAll('"', '&quot;')}.`);
      expect(html).toContain(`<pre class="output">${s.abort!.output!.join('\n').replaceAll('"', '&quot;').replaceAll("'", '&#39;')}</pre>`);
      expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toContain(`; the report covers ${covers.replaceAll('"', '&quot;')}`);
      expect(logs).toContainEqual(`- engine: ${s.abort!.reason}: the report covers ${covers}`);
      return { resultDir, s };
    } finally {
      relay.close();
      await e.stop();
    }
  }

  /** A few MB of the project on the node, most of it still to send. */
  const copying = async (jobDir: string) => (await bytesUnder(jobDir)) >= 2 * 1024 * 1024;
  const FUNKLOAD = 'name: staging\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 2\n';
  const funkloadFiles = { 'loadtest.py': SIMPLE_LOADTEST, 'Simple.conf': simpleConf('http://127.0.0.1:1', 2) };

  it('FunkLoad, while the project is copied: a report of no cycle, saying where node a was lost', async () => {
    const { s } = await lose(servers[0], { yaml: FUNKLOAD, files: funkloadFiles, node: { funkload: fl!.bin }, step: 'copying the project to node "a"', printed: /^copying \S+ to \S+$/, big: true, ready: copying });
    expect(s.runner).toBe('funkload');
  }, 180_000);

  it("FunkLoad, while pip installs its deps: the same, with pip's lines", async () => {
    // A dependency whose build takes a minute, after saying it started.
    const mark = path.join(dir, 'slowdep-building');
    const setup = `import time\nfrom setuptools import setup\nopen(${JSON.stringify(mark)}, 'w').close()\ntime.sleep(60)\nsetup(name='slowdep', version='1.0', py_modules=[])\n`;
    const yaml = `${FUNKLOAD}deps: [./slowdep]\npip_options: [--no-index]\n`;
    const { s } = await lose(servers[2], { yaml, files: { ...funkloadFiles, 'slowdep/setup.py': setup }, node: { funkload: fl!.bin }, step: 'installing deps on node "a"', printed: /^installing \.\/slowdep for FunkLoad's Python into \S+$/, ready: async () => existsSync(mark) });
    expect(s.runner).toBe('funkload');
  }, 180_000);

  it('Locust, while the project is copied: the same', async () => {
    const locustfile = await readFile(path.join(import.meta.dirname, '../fixtures/locust/locustfile.py'), 'utf8');
    const { resultDir, s } = await lose(servers[1], { yaml: 'name: staging\nrunner: locust\nlocustfile: locustfile.py\nbase_url: http://127.0.0.1:1\ncycles: [2]\nduration: 2\n', files: { 'locustfile.py': locustfile }, step: 'copying the project to node "a"', printed: /^copying \S+ to \S+$/, big: true, ready: copying });
    expect(s.runner).toBe('locust');
    expect(existsSync(path.join(resultDir, 'locust-run.json'))).toBe(true);
  }, 180_000);
});
