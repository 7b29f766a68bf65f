/**
 * A cancel that comes while an executor is still starting the program (loading execa, opening
 * the SSH channel) stops it once it has started. A cancelled --ci run whose service was starting
 * sat on "running (cancelling)" with the service alive, since the abort had fired before the run
 * listened for it.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../src/exec/executor.js';
import { LocalExecutor } from '../src/exec/local.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { groupAlive } from '../src/core/owner.js';
import { writeFile } from 'node:fs/promises';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, processesWith, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

/** Cancelled in the same tick as it was asked for: the run must end, the program must be gone. */
async function cancelAtStart(x: Executor): Promise<void> {
  const marker = `marker-${randomBytes(6).toString('hex')}`;
  const ac = new AbortController();
  let pgid: number | undefined;
  const run = x.run(['sh', '-c', `sleep 300; echo ${marker}`], { signal: ac.signal, killGraceMs: 500, onStart: (s) => (pgid = s.pgid) });
  ac.abort();
  const r = await run;
  expect(r.cancelled).toBe(true);
  expect(r.exitCode).not.toBe(0);
  expect(processesWith(marker)).toEqual([]);
  if (pgid !== undefined) expect(groupAlive(pgid)).toBe(false);
}

describe('a cancel while the program starts', () => {
  it('local: the program is stopped once started', async () => {
    await cancelAtStart(new LocalExecutor());
  }, 30_000);

  describe.skipIf(!haveServer('sshd'))('ssh (real sshd)', () => {
    let sshd: Sshd;
    let x: SshExecutor;
    beforeAll(async () => {
      const dir = await tempDir('cancel-at-start');
      const user = await makeUserKey(dir);
      sshd = await startSshd('127.0.0.2', user);
      const knownHosts = path.join(dir, 'known_hosts');
      await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
      x = new SshExecutor(sshNode(sshd, 'a', { identity: user.privateKey, knownHosts, workDir: path.join(dir, 'remote') }));
    });
    afterAll(async () => {
      await x?.close();
      await sshd?.stop();
    });

    it('ssh: the remote program is stopped once started', async () => {
      await cancelAtStart(x);
    }, 30_000);
  });
});
