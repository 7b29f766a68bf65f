/**
 * The funkload runner with the real FunkLoad 1.17.2 on one real SSH node (sshd on 127.0.0.x)
 * lost mid-bench, its sshd killed or its connection reset: the job fails for the machines as
 * before, and its report holds what the node streamed until then (its result XML, followed as
 * FunkLoad wrote it): the finished cycle and the cut one, marked incomplete, saying where it was
 * cut and what it lacks.
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
import { cliDone } from './helpers/marteau-cli.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { descendants, makeUserKey, relayTo, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();

const conf = (url: string) => simpleConf(url, 4);

describe.skipIf(!fl || !haveServer('sshd'))('funkload runner, its SSH node lost mid-bench (real FunkLoad)', () => {
  let dir: string;
  let node: Sshd;
  /** Reached through a relay whose connections are closed under the bench. */
  let reset: Sshd;
  let knownHosts: string;
  let identity: string;
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await temp('funkload-lost');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    app = await startHttpServer();
    const env = { setEnv: funkloadSessionEnv(fl!) };
    [node, reset] = await Promise.all([startSshd('127.0.0.2', user, env), startSshd('127.0.0.3', user, env)]);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${node.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([node?.stop(), reset?.stop(), app?.close()]);
    await removeTemp();
  });

  /**
   * A job on `sshd` (at `o.port` when given) that `lose` loses two seconds into the second
   * cycle's recording: the job fails as before, and its report holds what came until then.
   * Returns the job's results directory, and where the node worked.
   */
  async function loseMidBench(sshd: Sshd, o: { port?: number; knownHosts: string }, lose: () => void): Promise<{ resultDir: string; remote: string }> {
    const p = await project('name: lost\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 4\n', { 'loadtest.py': SIMPLE_LOADTEST, 'Simple.conf': conf(`http://127.0.0.1:${app.port}`) });
    const nodes = [sshNode(sshd, 'a', { identity, ...o, workDir: path.join(dir, `remote-${sshd.host}`), funkload: fl!.bin })];
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes }, run: 'all' });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      // Two seconds into the second cycle's recording, with tests done in it: the node is lost.
      let since = 0;
      await new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId !== job.id || x.progress.cycle !== 1 || !/^[1-9]\d* tests?:/.test(x.progress.message ?? '') || !logs.some((l) => l.startsWith('a stdout: * Logging for 4s'))) return;
          since ||= x.at;
          if (x.at - since >= 2000) resolve();
        }),
      );
      const lostAt = Date.now();
      lose();
      const [done] = await e.waitFor([job.id]);
      // The run did not finish: a failure of the machines, said as the lost connection says it.
      expect(done, logs.join('\n')).toMatchObject({ status: 'failed', failure: 'infrastructure' });
      expect(done.reason).toMatch(/^node "a": SSH connection to \S+ lost: /);

      const resultDir = e.resultDir(job.id);
      for (const f of ['index.html', 'summary.json', 'junit.xml', 'results.xml']) expect(existsSync(path.join(resultDir, f)), f).toBe(true);
      const s = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(s).toMatchObject({ passed: false, aborted: true, abort: { why: 'infrastructure' } });
      expect(s.abort!.reason).toMatch(/^node "a": node lost at \S+Z: SSH connection to \S+ lost: /);
      expect(s.abort!.at).toBeGreaterThanOrEqual(lostAt);
      expect(s.abort!.missing).toBe("any result line written after the last one received; FunkLoad's own HTML report (fl-build-report runs on the node)");
      // The finished cycle and the cut one, from the lines FunkLoad wrote before the loss.
      expect(s.cycles.map((c) => c.cvus)).toEqual([1, 2]);
      const [first, cut] = s.cycles;
      expect(first.requests.total).toBeGreaterThan(0);
      expect(first.tests.total).toBeGreaterThan(0);
      expect(cut.requests.total).toBeGreaterThan(0);
      // Nothing after the loss: the summary gives times to the nearest millisecond and the loss's
      // time is Date.now(), truncated, so an end that came just before it may read one more.
      expect(cut.end!).toBeLessThanOrEqual(s.abort!.at! + 1);
      const copy = await readFunkloadXml(path.join(resultDir, 'results.xml'));
      expect(copy.truncated).toBe(true);
      expect(copy.results.summary().overall.requests.total).toBe(s.overall.requests.total);
      // Where it was cut, in the reports and the job's log.
      const covers = /the report is incomplete: it covers (0-[\d.]+s of the load \(cycle 2 of 2 cut after ([\d.]+)s of its 4s\))\. Not in it: any result line written after/.exec(await readFile(path.join(resultDir, 'index.html'), 'utf8'));
      expect(covers, logs.join('\n')).not.toBeNull();
      expect(Number(covers![2])).toBeGreaterThan(1.5);
      expect(Number(covers![2])).toBeLessThan(4);
      expect(await readFile(path.join(resultDir, 'junit.xml'), 'utf8')).toContain(`; the report covers ${covers![1]}; not in the report: any result line`);
      expect(logs).toContainEqual(`- engine: ${s.abort!.reason}: the report covers ${covers![1]}, from the result lines streamed until then`);
      // A report rebuilt from the job's results says the same: the node lost (exit 3, as --ci gave the job), the same cut.
      const out = path.join(dir, `rebuilt-${job.id}`);
      const rebuilt = await cliDone(['report', resultDir, '-o', out, '--state-dir', path.dirname(path.dirname(resultDir))]);
      expect(rebuilt.code, rebuilt.out + rebuilt.err).toBe(3);
      expect(await readFile(path.join(out, 'index.html'), 'utf8')).toContain(`it covers ${covers![1]}. Not in it: ${s.abort!.missing!.split(/ \(|;/)[0]}`);
      return { resultDir, remote: path.join(nodes[0].workDir, job.id) };
    } finally {
      await e.stop();
    }
  }

  it('its sshd killed: the job fails as before, and its report holds the finished cycle and the cut one up to the loss, marked incomplete', async () => {
    await loseMidBench(node, { knownHosts }, () => {
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
    });
  }, 240_000);

  it('its connection reset (sshd still up, the file still on the node): the same, from the lines received', async () => {
    const relay = await relayTo(reset);
    try {
      const { resultDir, remote } = await loseMidBench(reset, { port: relay.port, knownHosts: relay.knownHosts }, () => relay.close());
      // The report is of the lines that came: the start of what FunkLoad wrote there, the rest being missing.
      // (Its last line may have been cut in the middle by the reset.)
      const received = (await readFile(path.join(resultDir, 'results.xml'), 'utf8')).split('\n').slice(0, -2).join('\n');
      expect(received).toContain('<response ');
      expect((await readFile(path.join(remote, 'simple-bench.xml'), 'utf8')).startsWith(received)).toBe(true);
    } finally {
      relay.close();
    }
  }, 240_000);
});
