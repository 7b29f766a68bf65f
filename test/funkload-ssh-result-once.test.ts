/**
 * A FunkLoad job on an SSH node that ends well moves its result XML once: the copy streamed as
 * FunkLoad wrote it (for a node lost mid-run) is kept when it holds the node's file whole, where
 * the file was fetched again after the bench. Real FunkLoad 1.17.2 on a real sshd whose SFTP
 * server logs every file it opens: the XML is never opened for reading, and the copy is the
 * node's file byte for byte. A copy that is not the file (a result line that is not UTF-8) is
 * fetched as before.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { JsonReport } from '../src/report/json.js';
import { readFunkloadXml } from '../src/runners/funkload-xml.js';
import { funkloadSessionEnv, realFunkload, simpleConf } from './helpers/funkload.js';
import { startHttpServer } from './helpers/http-server.js';
import { localNodes, project, removeTemp, stateDir, temp } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

const fl = realFunkload();

/** `description`: a Python 2 string written as is into each result line (FunkLoad writes bytes). */
const loadtest = (description: string) => `from funkload.FunkLoadTestCase import FunkLoadTestCase


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + '/home', description=${description})
`;
const conf = (url: string) => simpleConf(url, 2);

describe.skipIf(!fl || !haveServer('sshd') || !existsSync('/usr/lib/openssh/sftp-server'))('funkload runner on an SSH node: the result XML moved once (real FunkLoad, real sshd)', () => {
  let dir: string;
  let sshd: Sshd;
  let identity: string;
  let knownHosts: string;
  /** The SFTP server's log: each file it opens, and how. */
  let sftpLog: string;
  let app: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    dir = await temp('funkload-once');
    const user = await makeUserKey(dir);
    identity = user.privateKey;
    sftpLog = path.join(dir, 'sftp.log');
    app = await startHttpServer();
    // The subsystem runs through the login shell, which sends the server's log (-e: on stderr) to the file.
    sshd = await startSshd('127.0.0.4', user, {
      setEnv: funkloadSessionEnv(fl!),
      sftpServer: `/usr/lib/openssh/sftp-server -e -l INFO 2>>${sftpLog}`,
    });
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), app?.close()]);
    await removeTemp();
  });

  /** A job that ends well on the node, its copy kept there (keep_remote): its results, log and the node's file. */
  async function bench(description: string): Promise<{ resultDir: string; remote: string; logs: string[]; summary: JsonReport }> {
    const p = await project('name: once\nscript: loadtest.py\ntest: Simple.test_simple\ncycles: "1:2"\nduration: 2\nkeep_remote: true\n', {
      'loadtest.py': loadtest(description),
      'Simple.conf': conf(`http://127.0.0.1:${app.port}`),
    });
    const node = sshNode(sshd, 'a', { identity, knownHosts, workDir: path.join(dir, 'remote'), funkload: fl!.bin });
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, nodes: [node] }, run: 'all' });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'} ${x.stream}: ${x.line}`));
    await e.start();
    try {
      const job = await e.enqueue(p);
      const [done] = await e.waitFor([job.id]);
      expect(done.status, logs.join('\n')).toBe('succeeded');
      const resultDir = e.resultDir(job.id);
      const summary = JSON.parse(await readFile(path.join(resultDir, 'summary.json'), 'utf8')) as JsonReport;
      return { resultDir, remote: path.join(node.workDir!, job.id, 'simple-bench.xml'), logs, summary };
    } finally {
      await e.stop();
    }
  }

  /** How the SFTP server opened `file`: one entry per open ('READ', 'WRITE,CREATE,TRUNCATE', ...). */
  const opens = async (file: string) => [...(await readFile(sftpLog, 'utf8')).matchAll(/open "([^"]+)" flags (\S+)/g)].filter((m) => m[1] === file).map((m) => m[2]);

  it('a bench that ends well keeps the copy streamed during it: the node\'s file byte for byte, never fetched, and the same report', async () => {
    const { resultDir, remote, logs, summary } = await bench("'Get home'");
    const copy = await readFile(path.join(resultDir, 'results.xml'));
    const theirs = await readFile(remote);
    expect(copy.equals(theirs)).toBe(true);
    expect(theirs.toString('utf8')).toMatch(/<\/funkload>\n?$/);
    // The log saw the project go up (the observable works), and the XML never come down.
    expect(await opens(path.join(path.dirname(remote), 'loadtest.py'))).toEqual([expect.stringContaining('WRITE')]);
    expect(await opens(remote)).toEqual([]);
    expect(logs).toContainEqual(`a engine: result file ${remote} received whole as it was written (${theirs.length} bytes)`);
    // The report is that of the node's file, whole.
    const read = await readFunkloadXml(remote);
    expect(read.truncated).toBe(false);
    expect(summary).toMatchObject({ passed: true, aborted: false });
    expect(summary.cycles.map((c) => c.cvus)).toEqual([1, 2]);
    expect(summary.overall.requests.total).toBeGreaterThan(0);
    expect(summary.overall.requests.total).toBe(read.results.summary().overall.requests.total);
  }, 180_000);

  it('a copy that is not the node\'s file (a result line not UTF-8, which the copy cannot hold) is fetched, as before', async () => {
    const { resultDir, remote, logs, summary } = await bench("'caf\\xe9'");
    const theirs = await readFile(remote);
    expect(theirs.includes(Buffer.from('caf\xe9', 'latin1'))).toBe(true);
    expect((await readFile(path.join(resultDir, 'results.xml'))).equals(theirs)).toBe(true);
    expect(await opens(remote)).toEqual(['READ']);
    expect(logs.find((l) => l.startsWith(`a engine: result file ${remote}: `))).toMatch(/: \d+ bytes of \d+ received as it was written: fetching it$/);
    expect(summary).toMatchObject({ passed: true, aborted: false });
    expect(summary.overall.requests.total).toBeGreaterThan(0);
  }, 180_000);
});
