/**
 * A network cut between the engine and a node, against a real sshd behind a relay that stops
 * forwarding without closing anything (no FIN, no RST: what a dead link or a dropped route looks
 * like). The engine gives up on its own keepalives; sshd sees nothing (without ClientAliveInterval
 * it keeps the session for hours), so the remote program went on loading the app. The engine's
 * heartbeats on the session's stdin stop, and the sentinel kills the group.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync } from 'node:fs';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeError } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, relayTo, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

describe.skipIf(!haveServer('sshd'))('a network cut to an SSH node (real sshd behind a relay)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-partition');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.3', user);
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** An executor reaching the node through a relay, and the switch that cuts it silently. */
  async function throughRelay(): Promise<{ x: SshExecutor; cut: () => void; close: () => void }> {
    const relay = await relayTo(s);
    const x = new SshExecutor({ ...sshNode(s, 'box1', { identity: user.privateKey, knownHosts: relay.knownHosts, workDir: dir }), port: relay.port });
    return { x, cut: relay.cut, close: relay.close };
  }

  it('the silent program on the node is killed once the heartbeats stop, within the sentinel\'s 20 s', async () => {
    const marker = `marteau-cut-${randomBytes(4).toString('hex')}`;
    const { x, cut, close } = await throughRelay();
    const lines: string[] = [];
    let pgid = 0;
    try {
      const run = x.run(['sh', '-c', 'echo up; while :; do sleep 1; done', marker], { onLine: (l) => lines.push(l), onStart: (p) => { pgid = p.pgid; } }).catch((e: Error) => e);
      while (!lines.includes('up')) await new Promise((r) => setTimeout(r, 50));
      expect(processesWith(marker)).not.toHaveLength(0);
      cut();
      const err = await run;
      expect(err).toBeInstanceOf(NodeError);
      expect((err as NodeError).message).toContain('lost');
      // The engine has given up: from here on only the node can stop its program.
      const end = Date.now() + 30_000;
      while (processesWith(marker).length && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(processesWith(marker)).toEqual([]);
      expect(existsSync(`/tmp/.marteau-alive-${pgid}`)).toBe(false);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      await x.close();
      close();
    }
  }, 60_000);

  it('a program that reads its stdin (the builtin agent\'s path) gets its input lines, not the heartbeat, and is killed once the heartbeats stop', async () => {
    const marker = `marteau-cut-in-${randomBytes(4).toString('hex')}`;
    const { x, cut, close } = await throughRelay();
    const lines: string[] = [];
    let pgid = 0;
    try {
      const run = x.run(['sh', '-c', 'while IFS= read -r l; do echo "got:$l"; done; echo eof', marker], {
        onLine: (l) => lines.push(l),
        onStart: (p) => { pgid = p.pgid; },
        // An empty line among them: over SSH that is the heartbeat's, never the program's.
        input: (write) => write('ping 1\n\nstart  $(x) \'q\'\n'),
      }).catch((e: Error) => e);
      while (!lines.some((l) => l.startsWith('got:start'))) await new Promise((r) => setTimeout(r, 50));
      cut();
      const err = await run;
      expect(err).toBeInstanceOf(NodeError);
      const end = Date.now() + 30_000;
      while (processesWith(marker).length && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(processesWith(marker)).toEqual([]);
      for (const f of [`/tmp/.marteau-alive-${pgid}`, `/tmp/.marteau-in-${pgid}`]) expect(existsSync(f), f).toBe(false);
      expect(lines).toEqual(['got:ping 1', 'got:start  $(x) \'q\'']);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      await x.close();
      close();
    }
  }, 60_000);

  it('a link another user plants under the heartbeat\'s name in /tmp is never written through', async () => {
    const victim = `${dir}/victim-${randomBytes(4).toString('hex')}`;
    await writeFile(victim, 'keep me\n');
    const knownHosts = `${dir}/known_hosts`;
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
    const x = new SshExecutor(sshNode(s, 'box1', { identity: user.privateKey, knownHosts, workDir: dir }));
    const marker = `marteau-link-${randomBytes(4).toString('hex')}`;
    let pgid = 0;
    const lines: string[] = [];
    let mark = '';
    try {
      const run = x.run(['sh', '-c', 'echo up; sleep 30', marker], { onLine: (l) => lines.push(l), onStart: (p) => { pgid = p.pgid; } }).catch((e: Error) => e);
      while (!lines.includes('up')) await new Promise((r) => setTimeout(r, 50));
      mark = `/tmp/.marteau-alive-${pgid}`;
      // Planted as soon as the name is free (a beat may hold it for up to a second), then a beat passes.
      const end = Date.now() + 5000;
      for (;;) {
        try {
          await symlink(victim, mark);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > end) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await new Promise((r) => setTimeout(r, 6500));
      expect(await readFile(victim, 'utf8')).toBe('keep me\n');
      expect(lstatSync(mark).isSymbolicLink()).toBe(true);
      await x.close();
      await run;
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      if (mark) await rm(mark, { force: true });
      await x.close();
    }
  }, 30_000);

  it('a program run without input reads end-of-file, as it does on the local node, and leaves no heartbeat file', async () => {
    const { x, close } = await throughRelay();
    const lines: string[] = [];
    let pgid = 0;
    try {
      const r = await x.run(['sh', '-c', 'read line || echo "end of input"'], { onLine: (l) => lines.push(l), onStart: (p) => { pgid = p.pgid; } });
      expect(r.exitCode).toBe(0);
      expect(lines).toEqual(['end of input']);
      // The group kill at the end of a run removes what its sentinel could not.
      const end = Date.now() + 5000;
      while (existsSync(`/tmp/.marteau-alive-${pgid}`) && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
      expect(existsSync(`/tmp/.marteau-alive-${pgid}`)).toBe(false);
    } finally {
      await x.close();
      close();
    }
  });
});
