/**
 * A node's host key that known_hosts does not hold, or holds another one for (a real sshd, the
 * built CLI). An unknown key under host_key: strict (the default) is a setup step not done: a
 * config error (exit 2) at once, with the fingerprint the server offered and how to add it. A
 * changed key stays a refusal of the machine (exit 3): someone may be answering in its place.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliDone } from './helpers/marteau-cli.js';
import { commandYaml, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

describe.skipIf(!haveServer('sshd'))('a host key known_hosts does not hold (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  /** The SHA256 fingerprint of the sshd's host key, as ssh-keygen -l prints it. */
  let offered: string;
  let address: string;

  beforeAll(async () => {
    dir = await tempDir('ssh-host-key-mistakes');
    user = await makeUserKey(dir);
    s = await startSshd('127.0.0.14', user);
    offered = execFileSync('ssh-keygen', ['-lf', path.join(s.dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1];
    address = `[${s.host}]:${s.port}`;
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** A nodes file of one node `box` on the sshd, checked against `knownHosts` (host_key left at its default). */
  async function nodesFile(name: string, knownHosts: string): Promise<string> {
    const file = path.join(dir, `${name}.nodes.yml`);
    const lines = ['nodes:', '  box:', `    host: ${s.host}`, `    port: ${s.port}`, `    identity: ${user.privateKey}`, `    known_hosts: ${knownHosts}`, `    work_dir: ${path.join(dir, `remote-${name}`)}`];
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('an unknown host key: exit 2 at once, with the fingerprint offered, the ssh-keyscan line and accept-new; `nodes` exits 2', async () => {
    const knownHosts = path.join(dir, 'empty_known_hosts');
    await writeFile(knownHosts, '');
    const nodes = await nodesFile('unknown', knownHosts);
    const words = `host key of ${address} (ssh-ed25519 ${offered}) is not in ${knownHosts}; refusing to connect (host_key: strict); if this is the right machine (on it, ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub shows ${offered}), add its key: ssh-keyscan -p ${s.port} ${s.host} >> ${knownHosts}, or set host_key: accept-new for this node`;
    const started = Date.now();
    const r = await cliDone(['--ci', await project(`${commandYaml(['true'])}\n`), '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '60']);
    expect(Date.now() - started, r.out).toBeLessThan(20_000);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toContain(`failed: ${nodes}: no use waiting for 1 free node: box down (node "box": ${words})`);
    expect(r.out).toMatch(/\nmarteau-tui --ci: 1 job: 1 failed exit 2\n$/);
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
    const listed = await cliDone(['nodes', '--nodes', nodes, '--state-dir', await stateDir()]);
    expect(listed.code, listed.out + listed.err).toBe(2);
    expect(listed.out).toContain(`node "box": ${words.split('; ')[0]}`);
  }, 120_000);

  it('a changed host key: still refused as the machine\'s fault, exit 3 at once, saying a man in the middle is possible and which known_hosts line to remove', async () => {
    const knownHosts = path.join(dir, 'changed_known_hosts');
    const other = path.join(dir, 'other_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const [type, key] = (await readFile(`${other}.pub`, 'utf8')).split(' ');
    await writeFile(knownHosts, `# the machine as it was\n${address} ${type} ${key}\n`);
    const nodes = await nodesFile('changed', knownHosts);
    const started = Date.now();
    const r = await cliDone(['--ci', await project(`${commandYaml(['true'])}\n`), '--nodes', nodes, '--state-dir', await stateDir(), '--node-wait', '60']);
    // At once too: no wait makes the machine trusted.
    expect(Date.now() - started, r.out).toBeLessThan(20_000);
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.out).toContain('failed: no use waiting for 1 free node: box down (node "box": HOST KEY CHANGED');
    expect(r.out).toContain(
      `box down (node "box": HOST KEY CHANGED for ${address}: it now offers ssh-ed25519 ${offered}, which does not match ${knownHosts} line 2; refusing to connect (possible man-in-the-middle: another machine may be answering in its place); ` +
        `do not connect until you know why it changed; if the machine was reinstalled (on it, ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub shows ${offered}), remove line 2 of ${knownHosts} (ssh-keygen -R '${address}' -f ${knownHosts}), then add its new key)`,
    );
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
  }, 60_000);
});
