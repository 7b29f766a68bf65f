/**
 * Job copies left on an SSH node by runs lost mid-job (sshd killed under a running job), against
 * a real OpenSSH server: nothing removed them, and a CI fleet's work_dir filled up over weeks.
 * The next job's directory creation removes them, and so does a probe of the node (one that gets
 * no more jobs), and only them: never a copy whose connection still lives, an unmarked directory,
 * another user's, a symlink or what it leads to.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { OWNER_MARKER } from '../src/exec/ssh-job-dirs.js';
import { loadRunners } from '../src/report/runners.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

/** A pid no process has now: one that ran and was reaped. */
function deadPid(): number {
  return spawnSync('true').pid!;
}

describe.skipIf(!haveServer('sshd'))('job copies left on an SSH node by lost runs (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let knownHosts: string;

  const cfg = (workDir: string) => sshNode(s, 'box', { identity: user.privateKey, knownHosts, workDir, connectTimeoutMs: 10_000 });

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-leftovers');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.3', user);
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('a job directory is marked with its connection; the next one removes the marked copies whose connection is gone, and nothing else', async () => {
    const work = path.join(dir, 'work-x');
    const outside = path.join(dir, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'precious'), 'keep me');
    const dead = `${deadPid()} 0\n`;
    // A copy a lost run left: marked by a connection that is gone, with a symlink out of it.
    await mkdir(path.join(work, 'job-lost', 'sub'), { recursive: true });
    await writeFile(path.join(work, 'job-lost', OWNER_MARKER), dead);
    await symlink(outside, path.join(work, 'job-lost', 'sub', 'link'));
    // What must stay: unmarked (the user's, the agent bundles), a symlink to a marked directory,
    // another user's marked directory.
    await mkdir(path.join(work, 'mine'), { recursive: true });
    await mkdir(path.join(work, 'bundles', 'b1'), { recursive: true });
    await writeFile(path.join(outside, OWNER_MARKER), dead);
    await symlink(outside, path.join(work, 'job-link'));
    // Another user's needs root to make (the sshd of these tests logs in as this user).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      await mkdir(path.join(work, 'job-nobody'));
      await writeFile(path.join(work, 'job-nobody', OWNER_MARKER), dead);
      await chown(path.join(work, 'job-nobody'), 65534, 65534);
    }

    const a = new SshExecutor(cfg(work));
    const b = new SshExecutor(cfg(work));
    try {
      expect(await a.makeJobDir(path.join(work, 'job-a'), { own: true })).toEqual([path.join(work, 'job-lost')]);
      expect(readFileSync(path.join(work, 'job-a', OWNER_MARKER), 'utf8')).toMatch(/^\d+ \d+\n$/);
      expect(await b.makeJobDir(path.join(work, 'job-kept'), { own: false })).toEqual([]);
      expect(existsSync(path.join(work, 'job-kept', OWNER_MARKER))).toBe(false);
      // a's connection lives (its sshd process serves every channel of it): its copy stays.
      expect(await b.makeJobDir(path.join(work, 'job-b'), { own: true })).toEqual([]);
      expect(existsSync(path.join(work, 'job-a'))).toBe(true);

      await a.close();
      let removed: string[] = [];
      const end = Date.now() + 15_000;
      while (!removed.length && Date.now() < end) removed = await b.makeJobDir(path.join(work, 'job-b'), { own: true });
      expect(removed).toEqual([path.join(work, 'job-a')]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    for (const p of ['job-b', 'job-kept', 'mine', 'bundles/b1', 'job-link', ...(asRoot ? ['job-nobody'] : [])]) expect(existsSync(path.join(work, p)), p).toBe(true);
    expect(readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep me');
    expect(existsSync(path.join(outside, OWNER_MARKER))).toBe(true);
  });

  it('sshd killed under a running job: its copy stays on the node, and the next job there removes it and says so', async () => {
    const work = path.join(dir, 'work-crash');
    const run = async (argv: string[], during?: (logs: string[]) => Promise<void>) => {
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [cfg(work)] }, run: 'all' });
      const logs: string[] = [];
      e.events.on('log.line', (x) => logs.push(x.line));
      await e.start();
      try {
        const job = await e.enqueue(await project(['name: leftover', commandYaml(argv), ''].join('\n'), { 'data.txt': 'x' }));
        await during?.(logs);
        const [done] = await e.waitFor([job.id]);
        return { done, logs, dir: path.join(work, job.id) };
      } finally {
        await e.stop();
      }
    };
    const lost = await run(['sh', '-c', 'echo started; sleep 60'], async (logs) => {
      const end = Date.now() + 30_000;
      while (!logs.includes('started') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      s.crash();
    });
    expect(lost.done.status, lost.logs.join('\n')).toBe('failed');
    expect(existsSync(path.join(lost.dir, 'data.txt'))).toBe(true);

    await s.restart();
    const next = await run(['true']);
    expect(next.done.status, next.logs.join('\n')).toBe('succeeded');
    expect(next.logs, next.logs.join("\n")).toContain(`removed 1 job copy left by runs lost mid-job: ${lost.dir}`);
    expect(existsSync(lost.dir)).toBe(false);
  }, 120_000);

  it('a probe alone removes a lost run\'s copy (a node that gets no job after it) and says so; an unmarked directory, a symlink and a live connection\'s copy stay', async () => {
    const work = path.join(dir, 'work-probe');
    const outside = path.join(dir, 'outside-probe');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, OWNER_MARKER), `${deadPid()} 0\n`);
    // A live connection's copy, made first: its making sweeps too.
    const live = new SshExecutor(cfg(work));
    await live.makeJobDir(path.join(work, 'job-live'), { own: true });
    await mkdir(path.join(work, 'job-lost'));
    await writeFile(path.join(work, 'job-lost', OWNER_MARKER), `${deadPid()} 0\n`);
    await mkdir(path.join(work, 'mine'));
    await symlink(outside, path.join(work, 'job-link'));
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [cfg(work)] }, run: 'none', probe: false });
    const logs: string[] = [];
    e.events.on('log.line', (x) => logs.push(`${x.node}: ${x.line}`));
    await e.start();
    try {
      await e.probeNodes();
    } finally {
      await Promise.all([e.stop(), live.close()]);
    }
    expect(logs).toEqual([`box: removed 1 job copy left by runs lost mid-job: ${path.join(work, 'job-lost')}`]);
    expect(existsSync(path.join(work, 'job-lost'))).toBe(false);
    for (const p of ['mine', 'job-link', 'job-live']) expect(existsSync(path.join(work, p)), p).toBe(true);
    expect(existsSync(path.join(outside, OWNER_MARKER))).toBe(true);
    // A work_dir not made yet (a node no job has run on) is no failure.
    expect((await new SshExecutor(cfg(path.join(dir, 'never-made'))).probe(20_000)).removed).toEqual([]);
  }, 60_000);
});
