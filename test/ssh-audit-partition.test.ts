/**
 * A network cut between the engine and a node, against a real sshd behind a relay that stops
 * forwarding without closing anything (no FIN, no RST: what a dead link or a dropped route looks
 * like). The engine gives up on its own keepalives; sshd sees nothing (without ClientAliveInterval
 * it keeps the session for hours), so the remote program went on loading the app. The engine's
 * heartbeats on the session's stdin stop, and the sentinel kills the group.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeError } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

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
    let cut = false;
    const sockets: net.Socket[] = [];
    const relay = net.createServer((c) => {
      const up = net.connect(s.port, s.host);
      sockets.push(c, up);
      c.on('data', (d) => { if (!cut) up.write(d); });
      up.on('data', (d) => { if (!cut) c.write(d); });
      c.on('error', () => {});
      up.on('error', () => {});
    });
    await new Promise<void>((r) => relay.listen(0, s.host, () => r()));
    const port = (relay.address() as net.AddressInfo).port;
    const knownHosts = path.join(dir, `known_hosts_${port}`);
    await writeFile(knownHosts, `${s.knownHostsLine.replace(`:${s.port} `, `:${port} `)}\n`);
    const x = new SshExecutor({ ...sshNode(s, 'box1', { identity: user.privateKey, knownHosts, workDir: dir }), port });
    return { x, cut: () => { cut = true; }, close: () => { for (const k of sockets) k.destroy(); relay.close(); } };
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
