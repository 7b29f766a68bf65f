/**
 * The SSH executor and SSH nodes against real OpenSSH servers on 127.0.0.2 and 127.0.0.3:
 * host key checking (strict, accept-new, changed), live output, exit codes, hostile values,
 * remote process-group cancel, SFTP, probes, a job spread over both nodes, and a node dying
 * mid-run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshNodeConfig } from '../src/config/nodes.js';
import { formatNodes } from '../src/cli/queue-tables.js';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import type { EngineEvent } from '../src/core/events.js';
import { groupAlive } from '../src/core/owner.js';
import { NodeError, type OutputStream } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { HOSTILE } from './helpers/hostile.js';
import { freePort } from './helpers/net.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

const node = process.execPath;

async function waitUntil(cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!haveServer('sshd'))('SSH nodes (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let a: Sshd;
  let b: Sshd;
  let knownHosts: string;

  const nodeConfig = (s: Sshd, o: Partial<SshNodeConfig> = {}): SshNodeConfig =>
    sshNode(s, s.host === '127.0.0.2' ? 'a' : 'b', { identity: user.privateKey, knownHosts, workDir: path.join(dir, `remote-${s.host}`), ...o });

  beforeAll(async () => {
    dir = await tempDir('ssh-test');
    user = await makeUserKey(dir);
    [a, b] = await Promise.all([startSshd('127.0.0.2', user), startSshd('127.0.0.3', user)]);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `# test nodes\n${a.knownHostsLine}\n${b.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  describe('host keys', () => {
    it('an unknown host key is refused (strict), with the fingerprint and how to fix it', async () => {
      const empty = path.join(dir, 'empty_known_hosts');
      const x = new SshExecutor(nodeConfig(a, { knownHosts: empty }));
      const err = await x.run(['true']).catch((e: Error) => e);
      expect(err).toBeInstanceOf(NodeError);
      expect((err as NodeError).message).toMatch(new RegExp(`^node "a": host key of \\[127\\.0\\.0\\.2\\]:${a.port} \\(ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\\) is not in ${empty.replace(/[.]/g, '\\.')}; refusing to connect \\(host_key: strict\\)$`));
      expect((err as NodeError).hint).toContain(`ssh-keyscan -p ${a.port} 127.0.0.2`);
      expect(existsSync(empty)).toBe(false);
      await x.close();
    });

    it('`nodes` shows the fix with the refusal: the probe keeps the hint', async () => {
      const empty = path.join(dir, 'empty_known_hosts_probe');
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [nodeConfig(a, { knownHosts: empty })] } });
      try {
        await e.probeNodes();
        const text = formatNodes(e.pool.list(), {});
        expect(text).toContain(`a: node "a": host key of [127.0.0.2]:${a.port}`);
        expect(text).toContain(`\n    hint: if this is the right machine (on it, ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub shows SHA256:`);
        expect(text).toContain(`), add its key: ssh-keyscan -p ${a.port} 127.0.0.2 >> ${empty}`);
      } finally {
        await e.stop();
      }
    }, 30_000);

    it('a job for that node fails as a config error, saying how to fix it too', async () => {
      const empty = path.join(dir, 'empty_known_hosts_wait');
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodeWaitMs: 1000, run: 'all', nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [nodeConfig(a, { knownHosts: empty })] } });
      await e.start();
      try {
        const job = await e.enqueue(await project(`name: keyless\n${commandYaml(['true'])}\n`));
        const [done] = await e.waitFor([job.id]);
        expect(done).toMatchObject({ status: 'failed', failure: 'config' });
        expect(done.reason).toContain(`is not in ${empty}; refusing to connect (host_key: strict); if this is the right machine (`);
        expect(done.reason).toContain(`, add its key: ssh-keyscan -p ${a.port} 127.0.0.2`);
      } finally {
        await e.stop();
      }
    }, 30_000);

    it('accept-new records an unknown key once; a changed key is refused even then', async () => {
      const file = path.join(dir, 'accept_new_known_hosts');
      const x = new SshExecutor(nodeConfig(a, { knownHosts: file, hostKey: 'accept-new' }));
      expect((await x.run(['true'])).exitCode).toBe(0);
      await x.close();
      expect((await readFile(file, 'utf8')).trim()).toBe(a.knownHostsLine);
      // Same entry, another key: the host "changed" (b's key under a's name).
      await writeFile(file, `${a.knownHostsLine.split(' ')[0]} ${b.knownHostsLine.split(' ').slice(1).join(' ')}\n`);
      const y = new SshExecutor(nodeConfig(a, { knownHosts: file, hostKey: 'accept-new' }));
      const err = await y.run(['true']).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/HOST KEY CHANGED for \[127\.0\.0\.2\]:\d+: it now offers ssh-ed25519 SHA256:.* line 1; refusing to connect/);
      await y.close();
    });

    it('hashed known_hosts entries (ssh-keygen -H) are understood', async () => {
      const { execFileSync } = await import('node:child_process');
      const file = path.join(dir, 'hashed_known_hosts');
      await writeFile(file, `${a.knownHostsLine}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
      expect(await readFile(file, 'utf8')).toMatch(/^\|1\|/);
      const x = new SshExecutor(nodeConfig(a, { knownHosts: file }));
      expect((await x.run(['true'])).exitCode).toBe(0);
      await x.close();
    });
  });

  describe('executor', () => {
    it('streams lines and returns the exit status', async () => {
      const x = new SshExecutor(nodeConfig(a));
      const lines: [OutputStream, string][] = [];
      const r = await x.run([node, '-e', 'console.log("one"); console.error("err"); setTimeout(() => { console.log("two"); process.exit(7) }, 100)'], { onLine: (l, s) => lines.push([s, l]) });
      expect(r.exitCode).toBe(7);
      expect(lines.filter(([s]) => s === 'stdout').map(([, l]) => l)).toEqual(['one', 'two']);
      expect(lines.filter(([s]) => s === 'stderr').map(([, l]) => l)).toEqual(['err']);
      expect((await x.run(['/nonexistent/prog'])).exitCode).toBe(127);
      // A data line (the builtin agent's samples) is given room; a console line is cut at 64 KiB.
      const long = [node, '-e', 'console.log("x".repeat(100 * 1024))'];
      const cut: string[] = [];
      await x.run(long, { onLine: (l) => cut.push(l) });
      expect(cut[0]).toMatch(/…\[line cut at 65536 chars\]$/);
      const whole: string[] = [];
      await x.run(long, { maxLineChars: 1 << 20, onLine: (l) => whole.push(l) });
      expect(whole).toEqual(['x'.repeat(100 * 1024)]);
      await x.close();
    });

    it("a program not on the node's PATH is not started: 127 with why, said as a local run says it; one that exits 127 itself is not that", async () => {
      const x = new SshExecutor(nodeConfig(a));
      const lines: [OutputStream, string][] = [];
      const r = await x.run(['no-such-program-9c1e', '--users', '10'], { cwd: '/tmp', onLine: (l, s) => lines.push([s, l]) });
      expect(r).toMatchObject({ exitCode: 127, notStarted: 'not found on the PATH of node "a" (install it there, or give its full path)' });
      expect(lines).toEqual([['stderr', 'marteau-tui: cannot run "no-such-program-9c1e" in /tmp: not found on the PATH of node "a" (install it there, or give its full path)']]);
      const own = await x.run(['sh', '-c', 'exit 127']);
      expect(own.exitCode).toBe(127);
      expect(own.notStarted).toBeUndefined();
      // A path: a missing file, a directory, a file without its x bit are not started; an executable one is.
      const bin = await mkdtemp(path.join(os.tmpdir(), 'ssh-bin-'));
      try {
        await writeFile(path.join(bin, 'plain'), '#!/bin/sh\necho ran\n');
        await writeFile(path.join(bin, 'tool'), '#!/bin/sh\necho "ran $1"\n', { mode: 0o755 });
        for (const p of [path.join(bin, 'missing'), bin, path.join(bin, 'plain'), './plain']) {
          const r = await x.run([p], { cwd: bin });
          expect(r, p).toMatchObject({ exitCode: 127, notStarted: 'no executable file there on node "a" (check its path, and that it has its x bit)' });
        }
        const ran = await x.run(['./tool'], { cwd: bin });
        expect(ran.exitCode).toBe(0);
        expect(ran.notStarted).toBeUndefined();
        // A name on the PATH the job sets: looked up there, not on the login's.
        const out: string[] = [];
        const found = await x.run(['tool', 'x'], { env: { PATH: `${bin}:/usr/bin:/bin` }, onLine: (l) => out.push(l) });
        expect(found.exitCode).toBe(0);
        expect(out).toEqual(['ran x']);
        const lost = await x.run(['sh'], { env: { PATH: bin } });
        expect(lost).toMatchObject({ exitCode: 127, notStarted: 'not found on the PATH the job sets, on node "a" (fix the job\'s PATH, or give its full path)' });
      } finally {
        await rm(bin, { recursive: true, force: true });
      }
      await x.close();
    });

    it('a command that ends at once keeps its exit status and its output, also on a busy machine', async () => {
      // ssh2 handles all the packets of one read at once: a fast command's exit status came
      // before the executor listened (a third of these runs ended "without an exit status").
      // Busy processes make sshd's packets arrive together; each stops by itself within 30 s.
      const busy = [0, 1, 2].map(() => spawn(node, ['-e', 'const end = Date.now() + 30000; while (Date.now() < end);'], { stdio: 'ignore' }));
      try {
        const x = new SshExecutor(nodeConfig(a));
        const results: string[] = [];
        let next = 0;
        const worker = async () => {
          while (next++ < 120) {
            const lines: string[] = [];
            const r = await x.run(['sh', '-c', 'echo out; exit 3'], { onLine: (l) => lines.push(l) }).catch((e: Error) => e);
            results.push(r instanceof Error ? r.message : `${r.exitCode} ${lines.join(',')}`);
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        await x.close();
        expect(results.filter((r) => r !== '3 out')).toEqual([]);
        expect(results).toHaveLength(120);
      } finally {
        for (const p of busy) p.kill('SIGKILL');
      }
    });

    it('hostile arguments, env values and directory names are never interpreted by the remote shell', async () => {
      const x = new SshExecutor(nodeConfig(a));
      const remote = path.join(dir, 'hostile-remote', HOSTILE.dir);
      await x.mkdirp(remote);
      const lines: string[] = [];
      const r = await x.run(
        [node, '-e', 'console.log(JSON.stringify({ argv: process.argv.slice(1), v: process.env.HOSTILE_VALUE, cwd: process.cwd() }))', ...HOSTILE.args],
        { cwd: remote, env: HOSTILE.env, onLine: (l) => lines.push(l) },
      );
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(lines[0])).toEqual({ argv: HOSTILE.args, v: HOSTILE.env.HOSTILE_VALUE, cwd: remote });
      for (const d of [remote, path.dirname(remote), os.homedir(), '/']) {
        expect((await readdir(d).catch(() => [])).filter((f) => f.startsWith('PWNED'))).toEqual([]);
      }
      await x.close();
    });

    it('cancel kills the remote process group, children included', async () => {
      const marker = `marteau-cancel-${randomBytes(4).toString('hex')}`;
      const x = new SshExecutor(nodeConfig(a));
      const ac = new AbortController();
      let pgid = 0;
      const lines: string[] = [];
      const p = x.run(['sh', '-c', `echo started; sleep 30 & sleep 31; wait`, marker], {
        signal: ac.signal,
        killGraceMs: 500,
        onLine: (l) => lines.push(l),
        onStart: (s) => { pgid = s.pgid; },
      });
      await waitUntil(() => lines.includes('started'));
      expect(pgid).toBeGreaterThan(1);
      expect(groupAlive(pgid)).toBe(true); // same machine: we can look
      ac.abort();
      const r = await p;
      expect(r.cancelled).toBe(true);
      await waitUntil(() => !groupAlive(pgid));
      expect(processesWith(marker)).toEqual([]);
      await x.close();
    });

    it('moves files with SFTP: a directory up (without .git), a file back', async () => {
      const src = path.join(dir, 'upload-src');
      await mkdir(path.join(src, 'sub'), { recursive: true });
      await mkdir(path.join(src, '.git'), { recursive: true });
      await writeFile(path.join(src, 'sub', 'data.txt'), 'payload');
      await writeFile(path.join(src, '.git', 'HEAD'), 'no');
      const x = new SshExecutor(nodeConfig(b));
      const remote = path.join(dir, 'upload-dst');
      await x.put(src, remote);
      expect(await readFile(path.join(remote, 'sub', 'data.txt'), 'utf8')).toBe('payload');
      expect(await x.exists(path.join(remote, '.git'))).toBe(false);
      expect(await x.exists(path.join(remote, 'sub'))).toBe(true);
      await x.get(path.join(remote, 'sub', 'data.txt'), path.join(dir, 'download', 'data.txt'));
      expect(await readFile(path.join(dir, 'download', 'data.txt'), 'utf8')).toBe('payload');
      await x.remove(remote);
      expect(existsSync(remote)).toBe(false);
      await x.close();
    });

    it('probes: latency when up, a NodeError within the timeout when not', async () => {
      const up = new SshExecutor(nodeConfig(b));
      expect((await up.probe(5000)).latencyMs).toBeGreaterThanOrEqual(0);
      await up.close();
      const down = new SshExecutor(nodeConfig(b, { port: await freePort('127.0.0.3') }));
      const t0 = Date.now();
      await expect(down.probe(2000)).rejects.toThrow(/connection refused/);
      expect(Date.now() - t0).toBeLessThan(2500);
      await down.close();
    });
  });

  describe('jobs on SSH nodes', () => {
    // Generous probe timeout: a login shell with heavy rc files can take a second per command.
    const sshNodes = () => ({ ...localNodes(1), probeTimeoutMs: 20_000, probeIntervalMs: 2000, nodes: [nodeConfig(a), nodeConfig(b)] });

    it('a job spread over both nodes streams output from each and fetches artifacts', async () => {
      const dir2 = await project(
        `name: spread\nnodes: 2\n${commandYaml([node, 'work.mjs'])}\nartifacts: [out.txt]\n`,
        { 'work.mjs': 'import { writeFileSync } from "node:fs"; for (let i = 0; i < 3; i++) console.log(`tick ${i} on ${process.env.MARTEAU_NODE} (${process.env.MARTEAU_NODE_INDEX}/${process.env.MARTEAU_NODE_COUNT})`); writeFileSync("out.txt", process.env.MARTEAU_NODE);' },
      );
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: sshNodes(), run: 'all' });
      const events: EngineEvent[] = [];
      e.events.on('*', (x) => events.push(x));
      await e.start();
      const job = await e.enqueue(dir2);
      const [done] = await e.waitFor([job.id]);
      await e.stop();
      expect(done.status, JSON.stringify(events.filter((x) => x.type === 'log.line'), null, 1)).toBe('succeeded');
      // Least busy, then lowest latency first: either order is right.
      expect([...done.nodesTaken].sort()).toEqual(['a', 'b']);
      const out = events.flatMap((x) => (x.type === 'log.line' && x.stream === 'stdout' ? [`${x.node}: ${x.line}`] : []));
      for (const n of ['a', 'b']) {
        const idx = done.nodesTaken.indexOf(n);
        expect(out.filter((l) => l.startsWith(`${n}:`))).toEqual([0, 1, 2].map((i) => `${n}: tick ${i} on ${n} (${idx}/2)`));
        expect(await readFile(path.join(e.resultDir(job.id), 'nodes', n, 'out.txt'), 'utf8')).toBe(n);
        // The copy on the node is removed after the run.
        expect(existsSync(path.join(dir, `remote-${n === 'a' ? a.host : b.host}`, job.id))).toBe(false);
      }
    });

    it('killing one node\'s sshd mid-run fails the job with a reason and leaves no process on the other', async () => {
      const marker = `marteau-crash-${randomBytes(4).toString('hex')}`;
      const dir2 = await project(`name: crash\nnodes: 2\nupload: false\n${commandYaml(['sh', '-c', 'while true; do echo "alive $MARTEAU_NODE"; sleep 0.1; done', marker])}\n`);
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: sshNodes(), run: 'all' });
      const lines: string[] = [];
      e.events.on('log.line', (x) => lines.push(`${x.node}: ${x.line}`));
      await e.start();
      const job = await e.enqueue(dir2);
      // The journal records each process asynchronously: its first output can come first.
      const procNodes = () => e.queue.get(job.id)!.procs.map((p) => p.node).sort();
      await waitUntil(() => lines.includes('a: alive a') && lines.includes('b: alive b') && procNodes().length === 2, 30_000);
      expect(procNodes()).toEqual(['a', 'b']);
      a.crash();
      const [done] = await e.waitFor([job.id]);
      expect(done.status).toBe('failed');
      expect(done.failure).toBe('infrastructure');
      expect(done.reason).toMatch(new RegExp(`^node "a": SSH connection to ${os.userInfo().username}@\\[127\\.0\\.0\\.2\\]:\\d+ lost`));
      // Nothing left on b (killed through its own SSH connection), and a's command dies as
      // soon as it writes to its closed pipe.
      const pgidB = done.procs.find((p) => p.node === 'b')!.pgid;
      await waitUntil(() => !groupAlive(pgidB));
      await waitUntil(() => processesWith(marker).length === 0);
      const nodes = e.getSnapshot().nodes;
      expect(nodes.find((n) => n.name === 'a')).toMatchObject({ health: 'down' });
      await e.stop();
    });
  });
});
