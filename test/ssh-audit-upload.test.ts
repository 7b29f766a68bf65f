/**
 * A cancel while a job's project is being copied to an SSH node, over a slow link (a relay in
 * front of a real sshd, 2 MB/s towards the node): the job stops within seconds and leaves no
 * partial copy, where it used to wait for the whole upload to end. A download (a result file
 * fetched back) stops as soon, its part removed. A node lost mid-upload fails the copy at once,
 * with the loss, where it used to wait for ever.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { NodeError, TransferCancelled } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { loadRunners } from '../src/report/runners.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, relayTo, sshNode, startSshd, type Relay, type Sshd } from './helpers/sshd.js';

afterAll(removeTemp);

const RATE = 2 * 1024 * 1024;
/** 40 MB: 20 s at the relay's rate. */
const BIG = 40 * 1024 * 1024;

async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (e.isFile()) n += (await stat(path.join(e.parentPath, e.name))).size;
  return n;
}

describe.skipIf(!haveServer('sshd'))('cancel during an upload to an SSH node (real sshd, slow link)', () => {
  let dir: string;
  let s: Sshd;
  let relay: Relay;
  let identity: string;

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-upload');
    identity = (await makeUserKey(dir)).privateKey;
    s = await startSshd('127.0.0.5', { privateKey: identity, publicKey: `${identity}.pub` });
    relay = await relayTo(s, { bytesPerSecond: RATE });
  });
  afterAll(async () => {
    relay?.close();
    await s?.stop();
  });

  it('the job is cancelled within seconds, its transfer aborted and the partial copy removed', async () => {
    const workDir = path.join(dir, `remote-${randomBytes(3).toString('hex')}`);
    const node = { ...sshNode(s, 'slow', { identity, knownHosts: relay.knownHosts, workDir, connectTimeoutMs: 20_000 }), port: relay.port };
    const proj = await project([`name: big-upload`, commandYaml(['true']), ''].join('\n'));
    await writeFile(path.join(proj, 'data.bin'), randomBytes(BIG));
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [node] }, run: 'all' });
    await e.start();
    try {
      const job = await e.enqueue(proj);
      const jobDir = path.join(workDir, job.id);
      // Well into the copy: a few MB on the node, most of it still to send.
      const end = Date.now() + 60_000;
      while ((await bytesUnder(jobDir)) < 2 * 1024 * 1024 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await bytesUnder(jobDir)).toBeGreaterThan(0);
      const asked = Date.now();
      await e.cancel(job.id);
      const [done] = await e.waitFor([job.id]);
      const took = Date.now() - asked;
      expect(done.status).toBe('cancelled');
      // The rest of the upload would take 15 s or more; what is in flight drains in about 1 s.
      expect(took).toBeLessThan(8000);
      expect(existsSync(jobDir)).toBe(false);
    } finally {
      await e.stop();
    }
  }, 120_000);

  it('a download stopped by its signal ends within seconds and leaves no part of the file', async () => {
    const back = await relayTo(s, { bytesPerSecondBack: RATE });
    const remote = path.join(dir, `big-${randomBytes(3).toString('hex')}.bin`);
    await writeFile(remote, randomBytes(BIG));
    const local = path.join(dir, 'fetched', path.basename(remote));
    const x = new SshExecutor({ ...sshNode(s, 'slow', { identity, knownHosts: back.knownHosts, workDir: dir, connectTimeoutMs: 20_000 }), port: back.port });
    try {
      const stop = new AbortController();
      const got = x.get(remote, local, { signal: stop.signal }).then(() => 'whole', (e: Error) => e);
      const end = Date.now() + 60_000;
      const size = () => stat(local).then((f) => f.size, () => 0);
      while ((await size()) < 2 * 1024 * 1024 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await size()).toBeGreaterThan(0);
      const asked = Date.now();
      stop.abort();
      const err = await got;
      // The rest would take 15 s or more at the link's rate.
      expect(Date.now() - asked).toBeLessThan(8000);
      expect(err).toBeInstanceOf(TransferCancelled);
      expect(existsSync(local)).toBe(false);
    } finally {
      await x.close();
      back.close();
    }
  }, 120_000);

  it('an upload whose connection is lost fails at once with the loss', async () => {
    const link = await relayTo(s, { bytesPerSecond: RATE });
    const from = path.join(dir, `big-${randomBytes(3).toString('hex')}`);
    await mkdir(from);
    await writeFile(path.join(from, 'data.bin'), randomBytes(BIG));
    const to = path.join(dir, `copy-${randomBytes(3).toString('hex')}`);
    const x = new SshExecutor({ ...sshNode(s, 'slow', { identity, knownHosts: link.knownHosts, workDir: dir, connectTimeoutMs: 20_000 }), port: link.port });
    try {
      const put = x.put(from, to).then(() => 'whole', (e: Error) => e);
      const end = Date.now() + 60_000;
      while ((await bytesUnder(to)) < 2 * 1024 * 1024 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(await bytesUnder(to)).toBeGreaterThan(0);
      const lost = Date.now();
      link.close();
      const err = await Promise.race([put, new Promise((r) => setTimeout(() => r('still copying 15 s after the loss'), 15_000))]);
      expect(err).toBeInstanceOf(NodeError);
      expect((err as Error).message).toMatch(/^node "slow": SSH connection to \S+ lost: /);
      expect(Date.now() - lost).toBeLessThan(8000);
    } finally {
      await x.close();
      link.close();
    }
  }, 120_000);
});
