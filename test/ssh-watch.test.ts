/**
 * A job process on an SSH node dies with the engine that started it, on the real path: a real
 * sshd, a real engine-side process running a silent program through the SSH executor, kill -9 of
 * that process. Without the connection watch the program would run on (sshd sends no SIGHUP
 * without a terminal, and a program that never writes never meets its closed output).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dist } from './helpers/dist.js';
import { removeTemp } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd } from './helpers/sshd.js';

afterAll(removeTemp);

/** The engine's side: runs argv on the node and reports the remote group, then waits to be killed. */
const ENGINE_SIDE = `
const { SshExecutor } = await import(process.env.SSH_MODULE);
const x = new SshExecutor(JSON.parse(process.env.NODE_CONFIG));
void x.run(JSON.parse(process.env.ARGV), { onStart: ({ pgid }) => process.send({ pgid }) }).catch(() => {});
`;

describe.skipIf(!haveServer('sshd'))('an SSH node when its engine dies', () => {
  it('kill -9 of the engine side: the silent remote program is gone within a bound, not left loading', async () => {
    const dir = await tempDir('ssh-watch');
    const user = await makeUserKey(dir);
    const sshd = await startSshd('127.0.0.4', user);
    const marker = `marteau-silent-${randomBytes(4).toString('hex')}`;
    try {
      const knownHosts = path.join(dir, 'known_hosts');
      await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
      const script = path.join(dir, 'engine-side.mjs');
      await writeFile(script, ENGINE_SIDE);
      const cfg = sshNode(sshd, 'n', { identity: user.privateKey, knownHosts, workDir: path.join(dir, 'remote') });
      const child = fork(script, [], {
        env: {
          ...process.env,
          SSH_MODULE: dist('src/exec/ssh.js'),
          NODE_CONFIG: JSON.stringify(cfg),
          ARGV: JSON.stringify([process.execPath, '-e', 'setTimeout(() => {}, 120000)', marker]),
        },
      });
      const [started] = (await once(child, 'message')) as [{ pgid: number }];
      expect(started.pgid).toBeGreaterThan(1);
      expect(processesWith(marker)).not.toHaveLength(0);
      child.kill('SIGKILL');
      await once(child, 'exit');
      // The watch checks once a second; a loaded machine gets room, the program's 120 s none.
      const end = Date.now() + 20_000;
      while (processesWith(marker).length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(processesWith(marker)).toEqual([]);
    } finally {
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
      await sshd.stop();
    }
  }, 60_000);
});
