/**
 * A FunkLoad job on an SSH node cancelled mid-bench (real FunkLoad 1.17.2, real sshd): its
 * fl-run-bench is stopped on the node (no process of it left there, nor of the session that ran
 * it), the job ends cancelled, and it reports what FunkLoad wrote until then, followed from the
 * node: a partial report marked interrupted, and a last progress line saying the cancel and what
 * the report covers, as for a local node (ci-cancel-tools).
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import type { Progress } from '../src/core/events.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { funkloadSessionEnv, realFunkload, SIMPLE_LOADTEST, simpleConf } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { descendants, makeUserKey, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();

/** The processes below the node's sshd: its sessions and what they run, with their command lines. */
function onNode(sshd: Sshd): { pid: number; cmd: string }[] {
  return descendants(sshd.pid).flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) return [];
      return [{ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() }];
    } catch {
      return []; // gone
    }
  });
}

describe.skipIf(!fl || !haveServer('sshd'))('funkload runner on an SSH node, cancelled mid-bench (real FunkLoad, real sshd)', () => {
  let dir: string;
  let sshd: Sshd;
  let identity: string;
  let knownHosts: string;
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await temp('funkload-cancel');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    app = await startHttpServer();
    sshd = await startSshd('127.0.0.6', user, { setEnv: funkloadSessionEnv(fl!) });
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), app?.close()]);
    await removeTemp();
  });

  it('fl-run-bench stopped on the node, the job cancelled, its last line and partial report saying so', async () => {
    const p = await project('name: cancelled\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "2"\nduration: 30\nkeep_remote: true\n', { 'loadtest.py': SIMPLE_LOADTEST, 'Simple.conf': simpleConf(`http://127.0.0.1:${app.port}`, 30) });
    const node = sshNode(sshd, 'a', { identity, knownHosts, workDir: path.join(dir, 'remote'), funkload: fl!.bin });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, probeIntervalMs: 60_000, nodes: [node] }, run: 'all' });
    const logs: string[] = [];
    const progress: Progress[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      e.events.on('job.progress', (x) => {
        if (x.jobId === job.id) progress.push(x.progress);
      });
      // Two seconds of the cycle's recording with tests done in it: FunkLoad is at work on the node.
      let since = 0;
      await new Promise<void>((resolve) =>
        e.events.on('job.progress', (x) => {
          if (x.jobId !== job.id || !/^[1-9]\d* tests?:/.test(x.progress.message ?? '')) return;
          since ||= x.at;
          if (x.at - since >= 2000) resolve();
        }),
      );
      const bench = onNode(sshd).filter((x) => x.cmd.includes('fl-run-bench'));
      expect(bench, JSON.stringify(onNode(sshd))).not.toEqual([]);
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      expect(done, logs.join('\n')).toMatchObject({ status: 'cancelled', reason: 'by a user' });

      // Stopped by the cancel (FunkLoad says so on a TERM, INT or QUIT), not left to end its cycle...
      expect(logs.filter((l) => l.startsWith('a stdout: ')).at(-1), logs.join('\n')).toMatch(/Aborting run\.\.\.Aborted$/);
      // ...and nothing of it left on the node, nor of the session that ran it.
      expect(onNode(sshd).filter((x) => bench.some((b) => b.pid === x.pid) || x.cmd.includes('fl-run-bench') || x.cmd.includes(job.id))).toEqual([]);

      const resultDir = e.resultDir(job.id);
      const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      expect(summary).toMatchObject({ aborted: true, interrupted: true, abort: { why: 'cancel', reason: 'cancelled by a user' } });
      const { total, success } = summary.overall.requests;
      expect(total).toBeGreaterThan(0);
      expect(summary.overall.tests.total).toBeGreaterThan(0);
      // The last line: the report's figures, the cancel, and what the report covers.
      const last = progress.at(-1)!;
      expect({ requests: last.requests, errors: last.errors }).toEqual({ requests: total, errors: total - success });
      const m = /^\d+ tests?: \d+ failed, \d+ errors?, cancelled by a user; kept: a partial report of (0-[\d.]+s of the load \(cycle 1 of 1 cut after [\d.]+s of its 30s\))$/.exec(last.message ?? '');
      expect(m, JSON.stringify(last)).not.toBeNull();
      expect(await readFile(path.join(resultDir, 'index.html'), 'utf8')).toContain(`it covers ${m![1]}.`);
      // Of all FunkLoad wrote there: the node's file whole, nothing said missing.
      expect(summary.abort!.missing).toBeUndefined();
      const remote = await readFile(path.join(node.workDir!, job.id, 'simple-bench.xml'), 'utf8');
      expect(remote).toContain('<response ');
      expect(await readFile(path.join(resultDir, 'results.xml'), 'utf8')).toBe(remote);
    } finally {
      await e.stop();
    }
  }, 180_000);
});
