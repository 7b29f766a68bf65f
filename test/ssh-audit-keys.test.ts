/**
 * SSH host keys and user credentials as an ops user meets them, against a real OpenSSH server
 * holding three host keys (ed25519, ecdsa, rsa): a known_hosts written by an older ssh (only
 * the ecdsa or rsa key), @cert-authority and @revoked lines, encrypted keys, a .pub given as the
 * identity, ssh-agent with and without keys, a default key beside an agent, accept-new into a
 * hashed known_hosts, and a work_dir the
 * node cannot expand. Each refusal says what is wrong and how to fix it, and never shows a secret.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { loadNodesConfig, type SshNodeConfig } from '../src/config/nodes.js';
import { NodeError } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

const PASSPHRASE = 'correct horse battery staple';

describe.skipIf(!haveServer('sshd'))('SSH host keys and credentials (real sshd, three host keys)', () => {
  let dir: string;
  let user: UserKey;
  let s: Sshd;
  let knownHosts: string;
  let encrypted: string;
  let agent: ChildProcess | undefined;

  const cfg = (o: Partial<SshNodeConfig> = {}) =>
    sshNode(s, 'box1', { identity: user.privateKey, knownHosts, workDir: path.join(dir, 'remote'), ...o });

  /** `echo` on the node through a fresh executor: its stdout, or the NodeError it threw. */
  async function echo(x: SshExecutor): Promise<string[] | NodeError> {
    const lines: string[] = [];
    try {
      const r = await x.run(['echo', 'reached'], { onLine: (l, stream) => stream === 'stdout' && lines.push(l) });
      expect(r.exitCode).toBe(0);
      return lines;
    } catch (e) {
      if (e instanceof NodeError) return e;
      throw e;
    } finally {
      await x.close();
    }
  }

  const file = async (name: string, text: string) => {
    const f = path.join(dir, name);
    await writeFile(f, text);
    return f;
  };
  const keyOf = (line: string) => line.split(' ').slice(1).join(' ');

  beforeAll(async () => {
    dir = await tempDir('ssh-audit-keys');
    user = await makeUserKey(dir);
    encrypted = path.join(dir, 'encrypted_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', 'enc', '-f', encrypted]);
    s = await startSshd('127.0.0.2', user, { hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] });
    await writeFile(path.join(s.dir, 'authorized_keys'), `${await readFile(user.publicKey, 'utf8')}${await readFile(`${encrypted}.pub`, 'utf8')}`);
    knownHosts = await file('known_hosts', `${s.knownHostsLines.join('\n')}\n`);
  });
  afterAll(async () => {
    agent?.kill();
    await s?.stop();
  });

  describe('host keys', () => {
    it('a known_hosts holding only the ecdsa or only the rsa key of a server that prefers ed25519 connects, as OpenSSH does', async () => {
      for (const [i, type] of [[1, 'ecdsa'], [2, 'rsa']] as const) {
        const only = await file(`known_hosts_${type}`, `${s.knownHostsLines[i]}\n`);
        expect(await echo(new SshExecutor(cfg({ knownHosts: only })))).toEqual(['reached']);
      }
      // Hashed (ssh-keygen -H), the same.
      const hashed = await file('known_hosts_hashed_ecdsa', `${s.knownHostsLines[1]}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
      expect(await readFile(hashed, 'utf8')).toMatch(/^\|1\|/);
      expect(await echo(new SshExecutor(cfg({ knownHosts: hashed })))).toEqual(['reached']);
    });

    it('a wrong key of the type known_hosts holds is a changed key (possible MITM), not an unknown host', async () => {
      const other = path.join(dir, 'other_ecdsa');
      execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', other]);
      const [type, key] = (await readFile(`${other}.pub`, 'utf8')).split(' ');
      const wrong = await file('known_hosts_wrong_ecdsa', `# ops\n[127.0.0.2]:${s.port} ${type} ${key}\n`);
      const err = await echo(new SshExecutor(cfg({ knownHosts: wrong, hostKey: 'accept-new' })));
      expect(err).toBeInstanceOf(NodeError);
      expect((err as NodeError).message).toContain(`HOST KEY CHANGED for [127.0.0.2]:${s.port}: it now offers ecdsa-sha2-nistp256 SHA256:`);
      expect((err as NodeError).message).toContain(`${wrong} line 2; refusing to connect (possible man-in-the-middle: another machine may be answering in its place)`);
      expect((err as NodeError).hint).toContain(`(on it, ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub shows SHA256:`);
      expect((err as NodeError).hint).toContain(`remove line 2 of ${wrong} (ssh-keygen -R '[127.0.0.2]:${s.port}' -f ${wrong}), then add its new key`);
      // accept-new never records over a changed key.
      expect((await readFile(wrong, 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
    });

    it('accept-new into a hashed known_hosts records a hashed entry that OpenSSH finds, naming no host in clear', async () => {
      const other = path.join(dir, 'other_host_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const hashed = await file('known_hosts_hashed_only', `box9.example.org ${(await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
      expect(await echo(new SshExecutor(cfg({ knownHosts: hashed, hostKey: 'accept-new' })))).toEqual(['reached']);
      const text = await readFile(hashed, 'utf8');
      expect(text).not.toContain('127.0.0.2');
      expect(text.split('\n').filter(Boolean).every((l) => l.startsWith('|1|'))).toBe(true);
      // OpenSSH's own lookup finds the recorded key for the host and port.
      const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.2]:${s.port}`, '-f', hashed], { encoding: 'utf8' });
      expect(found).toContain(keyOf(s.knownHostsLines[0]));
      expect(await echo(new SshExecutor(cfg({ knownHosts: hashed })))).toEqual(['reached']);
    });

    it('a host trusted only through @cert-authority is refused, saying certificates are not supported and how to add its key', async () => {
      const ca = await file('known_hosts_ca', `@cert-authority *.example.org,[127.0.0.2]:${s.port} ${keyOf(s.knownHostsLines[0])}\n`);
      const err = (await echo(new SshExecutor(cfg({ knownHosts: ca })))) as NodeError;
      expect(err).toBeInstanceOf(NodeError);
      expect(err.message).toMatch(/is not in .* \(line 1 trusts a @cert-authority for it, but host certificates are not supported\); refusing to connect \(host_key: strict\)$/);
      expect(err.hint).toContain(`ssh-keyscan -p ${s.port} 127.0.0.2 >> ${ca}`);
    });

    it('a @revoked key is refused even when listed for the host, and the hint says not to trust it again', async () => {
      const revoked = await file('known_hosts_revoked', `${s.knownHostsLines[0]}\n@revoked * ${keyOf(s.knownHostsLines[0])}\n`);
      const err = (await echo(new SshExecutor(cfg({ knownHosts: revoked })))) as NodeError;
      expect(err.message).toContain('is marked @revoked in');
      expect(err.hint).toMatch(/^a revoked key must never be trusted again: give the node a new host key/);
    });
  });

  describe('credentials', () => {
    it('an encrypted identity without passphrase_env is refused before connecting, saying how to give the passphrase', async () => {
      const err = (await echo(new SshExecutor(cfg({ identity: encrypted }), {}))) as NodeError;
      expect(err.message).toBe(`node "box1": the identity file ${encrypted} is encrypted and no passphrase is given`);
      expect(err.hint).toContain('set passphrase_env: VAR for node "box1"');
      expect(err.hint).toContain(`ssh-add ${encrypted}`);
    });

    it('a wrong passphrase is named as such, the right one connects, and no passphrase is ever in a message', async () => {
      const wrong = `not the ${PASSPHRASE}`;
      const err = (await echo(new SshExecutor(cfg({ identity: encrypted, passphraseEnv: 'BOX1_KEY_PASS' }), { BOX1_KEY_PASS: wrong }))) as NodeError;
      expect(err.message).toBe(`node "box1": $BOX1_KEY_PASS does not unlock the identity file ${encrypted}: wrong passphrase`);
      for (const text of [err.message, err.hint ?? '', err.stack ?? '']) {
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(PASSPHRASE);
      }
      expect(await echo(new SshExecutor(cfg({ identity: encrypted, passphraseEnv: 'BOX1_KEY_PASS' }), { BOX1_KEY_PASS: PASSPHRASE }))).toEqual(['reached']);
    });

    it('an identity file that is not there or cannot be read says so in words, not as an errno', async () => {
      const missing = path.join(dir, 'no-such-key');
      const err = (await echo(new SshExecutor(cfg({ identity: missing }), {}))) as NodeError;
      expect(err.message).toBe(`node "box1": cannot read the identity file ${missing}: no such file`);
      expect(err.hint).toMatch(/^identity: names the node's private key on this machine/);
      const isDir = (await echo(new SshExecutor(cfg({ identity: dir }), {}))) as NodeError;
      expect(isDir.message).toBe(`node "box1": cannot read the identity file ${dir}: it is a directory`);
    });

    it('the .pub file given as identity is named as a public key, with the private key to give instead', async () => {
      const err = (await echo(new SshExecutor(cfg({ identity: user.publicKey }), {}))) as NodeError;
      expect(err.message).toBe(`node "box1": the identity file ${user.publicKey} is a public key`);
      expect(err.hint).toBe(`identity: names the private key: ${user.privateKey}`);
    });

    it('without identity: the agent\'s key, the default key when $SSH_AUTH_SOCK is stale or its agent holds none, both when the agent has it', async () => {
      const emptyHome = path.join(dir, 'home-empty');
      const keyHome = path.join(dir, 'home-key');
      await mkdir(emptyHome);
      await mkdir(path.join(keyHome, '.ssh'), { recursive: true });
      await copyFile(user.privateKey, path.join(keyHome, '.ssh', 'id_ed25519'));
      const sock = path.join(dir, 'agent.sock');
      agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      const noIdentity = cfg({ identity: undefined });
      // The agent holds no key yet: the default key still gets in (OpenSSH tries both).
      expect(await echo(new SshExecutor(noIdentity, { SSH_AUTH_SOCK: sock, HOME: keyHome }))).toEqual(['reached']);
      // A socket left by an agent long gone: the default key, not "Failed to connect to agent".
      expect(await echo(new SshExecutor(noIdentity, { SSH_AUTH_SOCK: path.join(dir, 'gone.sock'), HOME: keyHome }))).toEqual(['reached']);
      // The encrypted key loaded in the agent, nothing on disk: the agent's key.
      execFileSync('ssh-add', ['-q', encrypted], { env: { SSH_AUTH_SOCK: sock, SSH_ASKPASS: await askpass(), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: 'ignore' });
      expect(await echo(new SshExecutor(noIdentity, { SSH_AUTH_SOCK: sock, HOME: emptyHome }))).toEqual(['reached']);
      // Nothing at all: every source named, and the fix.
      const err = (await echo(new SshExecutor(noIdentity, { SSH_AUTH_SOCK: path.join(dir, 'gone.sock'), HOME: emptyHome }))) as NodeError;
      expect(err.message).toBe(`node "box1": no SSH key to log in with: no identity: for it in the nodes file, $SSH_AUTH_SOCK (${path.join(dir, 'gone.sock')}) is not an agent's socket, no ${path.join(emptyHome, '.ssh')}/id_ed25519, id_ecdsa or id_rsa`);
      expect(err.hint).toContain('ssh-add');
    });
  });

  async function askpass(): Promise<string> {
    const f = path.join(dir, 'askpass.sh');
    await writeFile(f, `#!/bin/sh\nprintf '%s\\n' '${PASSPHRASE}'\n`, { mode: 0o700 });
    return f;
  }

  it('a work_dir the node cannot expand (~/, relative) is a config error at its line, not a directory named "~"', async () => {
    for (const workDir of ['~/marteau', 'marteau-jobs']) {
      const nodesFile = await file('marteau.nodes.yml', `nodes:\n  box1:\n    host: 127.0.0.2\n    work_dir: ${workDir}\n`);
      const err = await loadNodesConfig(nodesFile).catch((e: Error) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(new RegExp(`^${nodesFile.replace(/[.]/g, '\\.')}:4:15: nodes\\.box1\\.work_dir: work_dir is a path on the node and must be absolute \\(~ is not expanded there\\)`));
      expect((err as ConfigError).hint).toContain('/tmp/marteau-tui');
    }
    const ok = await file('marteau.nodes.yml', 'nodes:\n  box1: {host: 127.0.0.2, work_dir: /srv/load jobs}\n');
    expect((await loadNodesConfig(ok)).nodes[0]).toMatchObject({ workDir: '/srv/load jobs' });
  });
});
