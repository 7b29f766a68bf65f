/**
 * The command that stops a job's process group on a node, run by a real POSIX shell on a real
 * group: Debian's /bin/sh is dash, whose `kill` refuses `--`, and a remote user's login shell
 * may be any of them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { groupAlive } from '../src/core/owner.js';
import { killGroupCommand } from '../src/exec/remote-command.js';

const shells = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s));

/** A group of its own: a shell leading it and a child that ignores nothing. */
async function group(): Promise<{ leader: number; exited: Promise<unknown> }> {
  const p = spawn('/bin/sh', ['-c', 'sleep 120 & echo started; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  await once(p.stdout!, 'data');
  return { leader: p.pid!, exited: once(p, 'exit') };
}

describe.each(shells)('killGroupCommand run by %s', (shell) => {
  it.each(['TERM', 'KILL'] as const)('SIG%s reaches the leader and its child', async (signal) => {
    const g = await group();
    try {
      expect(groupAlive(g.leader)).toBe(true);
      const r = spawnSync(shell, ['-c', killGroupCommand(g.leader, signal)], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      await g.exited;
      const end = Date.now() + 10_000;
      // The group is gone once its last member is: the child too, not only the leader.
      while (groupAlive(g.leader) && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
      expect(groupAlive(g.leader)).toBe(false);
    } finally {
      if (groupAlive(g.leader)) process.kill(-g.leader, 'SIGKILL');
    }
  });

  it('a group already gone is quiet and exit 0', async () => {
    const g = await group();
    process.kill(-g.leader, 'SIGKILL');
    await g.exited;
    const r = spawnSync(shell, ['-c', killGroupCommand(g.leader, 'TERM')], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
  });
});
