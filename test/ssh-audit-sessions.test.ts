/**
 * Nodes whose sshd caps the sessions of a connection (MaxSessions, 2 or even 1 on hardened
 * machines), against real OpenSSH servers: the project's upload keeps an SFTP session open and
 * the job's command takes another, so a cancel's kill and the cleanup found no channel. The
 * cancel was ignored until the command ended by itself, and the job's copy stayed on the node.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!haveServer('sshd'))('nodes with few sessions per connection (real sshd, MaxSessions)', () => {
  let dir: string;
  let user: UserKey;
  const servers: Sshd[] = [];

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-sessions');
    user = await makeUserKey(dir);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  for (const [maxSessions, host] of [[2, '127.0.0.2'], [1, '127.0.0.3']] as const) {
    it(`MaxSessions ${maxSessions}: a cancel stops the command at once, leaves no process and removes the job's copy`, async () => {
      const s = await startSshd(host, user, { extraConfig: [`MaxSessions ${maxSessions}`] });
      servers.push(s);
      const knownHosts = path.join(dir, `known_hosts_${maxSessions}`);
      await writeFile(knownHosts, `${s.knownHostsLine}\n`);
      const workDir = path.join(dir, `remote-${maxSessions}`);
      const marker = `marteau-sessions-${randomBytes(4).toString('hex')}`;
      // The command would run a minute: a cancel that is not delivered shows as a job still running.
      const proj = await project(`name: capped\n${commandYaml(['sh', '-c', 'echo up; sleep 60; echo finished', marker])}\n`);
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [sshNode(s, 'capped', { identity: user.privateKey, knownHosts, workDir })] }, run: 'all' });
      const lines: string[] = [];
      e.events.on('log.line', (x) => lines.push(x.line));
      await e.start();
      try {
        const job = await e.enqueue(proj);
        await waitUntil(() => lines.includes('up'), 30_000);
        expect(existsSync(path.join(workDir, job.id))).toBe(true);
        await e.cancel(job.id);
        let ended = false;
        const done = e.waitFor([job.id]).then(([j]) => { ended = true; return j; });
        await waitUntil(() => ended, 15_000);
        expect((await done).status).toBe('cancelled');
        expect(lines).not.toContain('finished');
        await waitUntil(() => processesWith(marker).length === 0, 5000);
        expect(lines.filter((l) => l.startsWith('cannot remove the job copy'))).toEqual([]);
        expect(existsSync(path.join(workDir, job.id))).toBe(false);
      } finally {
        await e.stop();
      }
    });
  }
});
