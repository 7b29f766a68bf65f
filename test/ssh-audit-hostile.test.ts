/**
 * A whole job on an SSH node with hostile user strings everywhere they reach the node: the job
 * name (MARTEAU_JOB_NAME), env: values, the project's directory name (its copy's path) and the
 * command's arguments, with quotes, $(...), backticks, ;, newlines and non-ASCII. The remote
 * shell must interpret none of them: each arrives byte for byte, and no marker file appears.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/core/engine.js';
import { loadRunners } from '../src/report/runners.js';
import { commandYaml, localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd } from './helpers/sshd.js';

afterAll(removeTemp);

describe.skipIf(!haveServer('sshd'))('hostile strings in a job on an SSH node (real sshd)', () => {
  let dir: string;
  let s: Sshd;
  let node: ReturnType<typeof sshNode>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'h-'));
    const user = await makeUserKey(dir);
    s = await startSshd('127.0.0.2', user);
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${s.knownHostsLine}\n`);
    node = sshNode(s, 'box1', { identity: user.privateKey, knownHosts, workDir: path.join(dir, "remote w'ork $(dir)") });
  });
  afterAll(async () => {
    await s?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('name, env, directory and arguments arrive as written; nothing is run', async () => {
    // Short: the name (a marker path in it three times) must stay within its 200 characters.
    const pwned = path.join(dir, `p${randomBytes(2).toString('hex')}`);
    const touch = (n: number) => `touch ${pwned}-${n}`;
    const name = `x'; ${touch(1)}; echo "$(${touch(2)})" \`${touch(3)}\` ✓`;
    const env = `$(${touch(4)}) ; \`${touch(5)}\` 'q' "d" ünï\nsecond line`;
    const arg = `a  b $(${touch(6)}) ;${touch(7)}\n| ${touch(8)} & ü`;
    const yaml = [`name: ${JSON.stringify(name)}`, `env: {EVIL: ${JSON.stringify(env)}}`, commandYaml([process.execPath, 'show.mjs', arg]), ''].join('\n');
    const proj = await project(yaml, { 'show.mjs': 'console.log(JSON.stringify({ name: process.env.MARTEAU_JOB_NAME, env: process.env.EVIL, arg: process.argv[2], cwd: process.cwd() }))' }, `p $(${touch(9)}) 'q'`);
    const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 20_000, nodes: [node] }, run: 'all' });
    const out: string[] = [];
    e.events.on('log.line', (x) => { if (x.stream === 'stdout') out.push(x.line); });
    await e.start();
    try {
      const job = await e.enqueue(proj);
      const [done] = await e.waitFor([job.id]);
      expect(done.status, out.join('\n')).toBe('succeeded');
      expect(JSON.parse(out[0])).toEqual({ name, env, arg, cwd: path.posix.join(node.workDir, job.id) });
      for (let i = 1; i <= 9; i++) expect(existsSync(`${pwned}-${i}`)).toBe(false);
    } finally {
      await e.stop();
    }
  });
});
