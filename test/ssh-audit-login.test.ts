/**
 * What a node's login does to a job, against real OpenSSH servers: a user whose shell is
 * /bin/false (sshd's ForceCommand stands in for it: the same session, the command never runs),
 * a .bashrc that prints a banner on stdout and stderr (a builtin job must still run there; SFTP
 * through Debian's external sftp-server cannot, and a transfer and the probe must say why), a
 * close() while the handshake is in flight (nothing may run after it), and `marteau-tui nodes`
 * over nodes that fail each in its own way, every probe bounded and each reason named.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApp, type DemoApp } from '../fixtures/demo/app.js';
import type { SshNodeConfig } from '../src/config/nodes.js';
import { Engine } from '../src/core/engine.js';
import { NodeError } from '../src/exec/executor.js';
import { SshExecutor } from '../src/exec/ssh.js';
import { AGENT_ENTRY } from '../src/runners/builtin/agent-protocol.js';
import { loadRunners } from '../src/report/runners.js';
import { dist } from './helpers/dist.js';
import { cli } from './helpers/marteau-cli.js';
import { freePort } from './helpers/net.js';
import { localNodes, project, removeTemp, stateDir } from './helpers/projects.js';
import { haveServer, tempDir } from './helpers/servers.js';
import { makeUserKey, sshNode, startSshd, type Sshd, type UserKey } from './helpers/sshd.js';

afterAll(removeTemp);

const me = os.userInfo().username;
const SFTP_BANNER = `SFTP is not available: the login of ${me} printed "Welc..." where the SFTP server's first packet was expected (a banner in ~/.bashrc?)`;
const SFTP_BANNER_HINT = `make the login of ${me} on the node print nothing when not interactive: at the top of its ~/.bashrc, [ -z "$PS1" ] && return; or set Subsystem sftp internal-sftp in sshd_config`;
const SHELL_HINT = "give the node's user a POSIX login shell (sh, bash, dash, zsh), e.g. usermod -s /bin/bash USER on the node, and remove any ForceCommand for it in sshd_config";

describe.skipIf(!haveServer('sshd'))('node logins (real sshd)', () => {
  let dir: string;
  let user: UserKey;
  let banner: Sshd;
  let noShell: Sshd;
  /** Debian's sftp-server, started through the login shell, behind a .bashrc banner. */
  let debian: Sshd;
  let knownHosts: string;

  const cfg = (s: Sshd, name: string, o: Partial<SshNodeConfig> = {}): SshNodeConfig =>
    sshNode(s, name, { identity: user.privateKey, knownHosts, workDir: path.join(dir, `remote-${name}`), ...o });

  beforeAll(async () => {
    dist(path.relative('dist', AGENT_ENTRY));
    dir = await tempDir('ssh-audit-login');
    user = await makeUserKey(dir);
    [banner, noShell, debian] = await Promise.all([
      startSshd('127.0.0.2', user),
      startSshd('127.0.0.4', user, { extraConfig: ['ForceCommand /bin/false'] }),
      startSshd('127.0.0.3', user, { sftpServer: '/usr/lib/openssh/sftp-server' }),
    ]);
    // bash reads ~/.bashrc for every SSH command (Debian's SSH_SOURCE_BASHRC), before ours.
    await writeFile(path.join(banner.dir, 'home', '.bashrc'), 'echo "Welcome to box1, authorized use only"\necho "pyenv: no such command" >&2\n');
    await writeFile(path.join(debian.dir, 'home', '.bashrc'), 'echo "Welcome to box2"\n');
    knownHosts = path.join(dir, 'known_hosts');
    await writeFile(knownHosts, `${banner.knownHostsLine}\n${noShell.knownHostsLine}\n${debian.knownHostsLine}\n`);
  });
  afterAll(async () => {
    await Promise.all([banner?.stop(), noShell?.stop(), debian?.stop()]);
  });

  it('a login shell that runs no command (/bin/false): the probe and a run both say so, with the fix; a failed cd is still the command\'s own failure', async () => {
    const x = new SshExecutor(cfg(noShell, 'noshell'));
    const probe = await x.probe(10_000).catch((e: Error) => e);
    expect(probe).toBeInstanceOf(NodeError);
    expect((probe as NodeError).message).toMatch(/^node "noshell": the login shell of \S+@\[127\.0\.0\.4\]:\d+ did not run the command \(it exited 1 without a word\)$/);
    expect((probe as NodeError).hint).toBe(SHELL_HINT);
    // Before: exit 1 and no output, read as the job's own failure.
    const run = await x.run(['echo', 'hi']).catch((e: Error) => e);
    expect(run).toBeInstanceOf(NodeError);
    expect((run as NodeError).message).toContain('did not run the command (it exited 1 without a word)');
    await x.close();

    const ok = new SshExecutor(cfg(banner, 'box1'));
    const lines: string[] = [];
    const r = await ok.run(['true'], { cwd: path.join(dir, 'no such dir'), onLine: (l, s) => lines.push(`${s}: ${l}`) });
    expect(r.exitCode).not.toBe(0);
    expect(lines.some((l) => l.startsWith('stderr: ') && l.includes('no such dir'))).toBe(true);
    await ok.close();
  });

  it('a banner printed by the login goes to stderr, never into the program\'s stdout', async () => {
    const x = new SshExecutor(cfg(banner, 'box1'));
    const lines: string[] = [];
    const r = await x.run(['echo', 'hi'], { onLine: (l, s) => lines.push(`${s}: ${l}`) });
    await x.close();
    expect(r.exitCode).toBe(0);
    expect(lines.filter((l) => l.startsWith('stdout: '))).toEqual(['stdout: hi']);
    expect(lines).toContain('stderr: Welcome to box1, authorized use only');
    expect(lines).toContain('stderr: pyenv: no such command');
  });

  it('SFTP through an external sftp-server (Debian\'s default) behind that banner: the banner is named, not a missing subsystem, by a transfer and by the probe', async () => {
    const x = new SshExecutor(cfg(debian, 'box2'));
    const err = await x.put(__filename, path.join(dir, 'remote-box2', 'f.ts')).catch((e: Error) => e);
    await x.close();
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).message).toBe(`node "box2": ${SFTP_BANNER}`);
    expect((err as NodeError).hint).toBe(SFTP_BANNER_HINT);
    // `true` runs there: the probe said "up" alone, and every job that copies files then failed on the node.
    const probing = new SshExecutor(cfg(debian, 'box2'));
    const probe = await probing.probe(10_000);
    await probing.close();
    expect(probe.noSftp).toEqual({ error: `node "box2": ${SFTP_BANNER}`, hint: SFTP_BANNER_HINT });
  });

  describe('a builtin job', () => {
    let app: DemoApp;
    beforeAll(async () => { app = await startDemoApp(0); });
    afterAll(async () => { await app?.close(); });

    it('runs on a node whose login prints banners: Node.js\'s version is read from its own stdout', async () => {
      const e = new Engine({ runners: loadRunners, stateDir: await stateDir(), nodes: { ...localNodes(1), probeTimeoutMs: 30_000, nodes: [cfg(banner, 'box1', { connectTimeoutMs: 10_000 })] }, run: 'all' });
      const logs: string[] = [];
      e.events.on('log.line', (x) => logs.push(`${x.node ?? '-'}: ${x.line}`));
      await e.start();
      try {
        const yaml = ['name: banner-bench', 'runner: builtin', `base_url: http://127.0.0.1:${app.port}`, 'cycles: [1]', 'duration: 0.5', 'startup_delay: 0.01', 'scenario:', '  - {get: /, expect: 200}', ''].join('\n');
        const job = await e.enqueue(await project(yaml));
        const [done] = await e.waitFor([job.id]);
        expect(done.status, logs.join('\n')).toBe('succeeded');
      } finally {
        await e.stop();
      }
    });
  });

  it('close() while the handshake is in flight: the connection is dropped and the command never runs', async () => {
    // A relay that holds the server's bytes until released: the handshake waits on it.
    const held: Buffer[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    let clientGone!: () => void;
    const gone = new Promise<void>((r) => { clientGone = r; });
    let connected!: () => void;
    const accepted = new Promise<void>((r) => { connected = r; });
    let open = false;
    const relay = net.createServer((c) => {
      const up = net.connect(banner.port, banner.host);
      c.on('data', (d) => up.write(d));
      up.on('data', (d) => { if (open) c.write(d); else held.push(d); });
      void released.then(() => { open = true; if (!c.destroyed) c.write(Buffer.concat(held.splice(0))); });
      c.on('close', () => { up.destroy(); clientGone(); });
      c.on('error', () => {});
      up.on('error', () => c.destroy());
      connected();
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.2', () => r()));
    const port = (relay.address() as net.AddressInfo).port;
    const relayKnown = path.join(dir, 'known_hosts_relay');
    await writeFile(relayKnown, `${banner.knownHostsLine.replace(`:${banner.port} `, `:${port} `)}\n`);
    const marker = path.join(dir, `ran-${randomBytes(4).toString('hex')}`);
    const x = new SshExecutor({ ...cfg(banner, 'box1', { knownHosts: relayKnown, connectTimeoutMs: 30_000 }), port });
    const run = x.run(['touch', marker]).catch((e: Error) => e);
    await accepted;
    await x.close();
    release();
    const err = await run;
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).message).toMatch(/the connection to .* was closed while it was being made$/);
    expect(existsSync(marker)).toBe(false);
    await gone;
    relay.close();
  });

  it('`marteau-tui nodes` over nodes failing each its own way: bounded by the probe timeout, every reason and fix named, exit 3; one whose SFTP fails is up without it', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.6', () => r()));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const closedPort = await freePort('127.0.0.5');
    const node = (name: string, host: string, port: number, extra = '') =>
      `  ${name}: {host: ${host}, port: ${port}, identity: ${user.privateKey}, known_hosts: ${knownHosts}, connect_timeout: 30s${extra}}`;
    const nodesFile = path.join(dir, 'marteau.nodes.yml');
    await writeFile(nodesFile, [
      'nodes:',
      node('up', banner.host, banner.port),
      node('refused', '127.0.0.5', closedPort),
      node('silent', '127.0.0.6', silentPort),
      node('noshell', noShell.host, noShell.port),
      node('wronguser', banner.host, banner.port, ', user: nosuchuser'),
      node('nosftp', debian.host, debian.port),
      'probe: {timeout: 3s}',
      '',
    ].join('\n'));
    const started = Date.now();
    const run = cli(['nodes', '--nodes', nodesFile, '--state-dir', await stateDir()]);
    const code = await run.exited;
    const took = Date.now() - started;
    silent.close();
    expect(code, run.err()).toBe(3);
    // Probes run side by side, each within its timeout (3 s), not one after the other.
    expect(took).toBeLessThan(15_000);
    const out = run.out();
    expect(out).toMatch(/^up\s+ssh\s+\S+\s+yes\s+up\s/m);
    expect(out).toMatch(/^nosftp\s+ssh\s+\S+\s+yes\s+up, no SFTP\s/m);
    for (const n of ['refused', 'silent', 'noshell', 'wronguser']) expect(out).toMatch(new RegExp(`^${n}\\s+ssh\\s+\\S+\\s+yes\\s+down\\s`, 'm'));
    expect(out).toContain(`  refused: node "refused": cannot connect to ${me}@[127.0.0.5]:${closedPort}: connection refused\n    hint: is sshd running there, on that port?`);
    expect(out).toContain(`  silent: node "silent": no answer from ${me}@[127.0.0.6]:${silentPort} within 3000 ms\n    hint: is the node up, and is \`port:\` the port sshd listens on?`);
    expect(out).toContain(`  noshell: node "noshell": the login shell of ${me}@[127.0.0.4]:${noShell.port} did not run the command (it exited 1 without a word)\n    hint: ${SHELL_HINT}`);
    expect(out).toContain(`  nosftp: node "nosftp": ${SFTP_BANNER}\n    hint: ${SFTP_BANNER_HINT}; until then it takes only jobs that copy no files (runner: command with upload: false, no artifacts: nor xml:)`);
    expect(out).toContain(`  wronguser: node "wronguser": authentication refused for nosuchuser@[127.0.0.2]:${banner.port}\n    hint: check the user and that the key ${user.privateKey} is in the node's authorized_keys`);
  });
});
