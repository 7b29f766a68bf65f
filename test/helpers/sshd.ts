/**
 * A real OpenSSH server per test: its own host key, an authorized user key, a free port on a
 * loopback address of its own (127.0.0.2, 127.0.0.3, ... are distinct "hosts" on Linux), all in
 * a temp dir. `crash()` kills the sshd processes abruptly (listener and sessions), the way a
 * node dies, leaving the commands they ran to notice on their own.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { SshNodeConfig } from '../../src/config/nodes.js';
import { freePort } from './net.js';
import { findBinary, startProcess, tempDir } from './servers.js';

export interface Sshd {
  host: string;
  port: number;
  dir: string;
  /** `[host]:port ssh-ed25519 AAAA...`: the line a known_hosts file needs. */
  knownHostsLine: string;
  pid: number;
  stop(): Promise<void>;
  /** SIGKILL every sshd process of this server (listener and per-connection ones). */
  crash(): void;
  /** Start sshd again on the same address, port, keys and config after `crash()`: a node back from a reboot. */
  restart(): Promise<void>;
  /** Every host key's known_hosts line (one per `hostKeyTypes`), first the one in `knownHostsLine`. */
  knownHostsLines: string[];
}

export interface UserKey {
  privateKey: string;
  publicKey: string;
}

/** An ed25519 key pair for the test user. */
export async function makeUserKey(dir: string): Promise<UserKey> {
  const privateKey = path.join(dir, 'user_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'marteau-test', '-f', privateKey]);
  return { privateKey, publicKey: `${privateKey}.pub` };
}

export interface SshdOptions {
  /** Variables every session starts with (sshd's SetEnv), e.g. a PATH holding stand-in tools. */
  setEnv?: Record<string, string>;
  /** Host key types, in the order sshd_config lists them (default: ed25519 only). */
  hostKeyTypes?: ('ed25519' | 'ecdsa' | 'rsa')[];
  /** More sshd_config lines (e.g. ForceCommand), placed before the defaults so they win. */
  extraConfig?: string[];
  /** The sftp subsystem (default internal-sftp; Debian's sshd_config runs /usr/lib/openssh/sftp-server, through the login shell); null: none. */
  sftpServer?: string | null;
}

export async function startSshd(host: string, user: UserKey, opts: SshdOptions = {}): Promise<Sshd> {
  const sshd = findBinary('sshd') ?? '/usr/sbin/sshd';
  // Privilege separation directory: sshd started as root insists on it.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await tempDir('sshd');
  const port = await freePort(host);
  const home = path.join(dir, 'home');
  mkdirSync(home, { mode: 0o700 });
  const hostKeys = (opts.hostKeyTypes ?? ['ed25519']).map((t) => {
    const file = path.join(dir, `host_${t}`);
    execFileSync('ssh-keygen', ['-q', '-t', t, '-N', '', '-f', file]);
    return file;
  });
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(user.publicKey, 'utf8'));
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      // sshd keeps the first value of most keywords: these override the defaults below.
      ...(opts.extraConfig ?? []),
      `ListenAddress ${host}`,
      `Port ${port}`,
      ...hostKeys.map((k) => `HostKey ${k}`),
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      ...(opts.sftpServer === null ? [] : [`Subsystem sftp ${opts.sftpServer ?? 'internal-sftp'}`]),
      'MaxStartups 50',
      'MaxSessions 50',
      'LogLevel ERROR',
      // A HOME of its own: the login user's real ~/.bashrc (bash reads it for every SSH
      // command) may take seconds, e.g. `pyenv init`, and tests make hundreds of commands.
      // One line: sshd keeps only the first SetEnv directive.
      `SetEnv ${Object.entries({ HOME: home, ...opts.setEnv }).map(([k, v]) => `${k}="${v}"`).join(' ')}`,
      '',
    ].join('\n'),
  );
  let { child, stop } = await startProcess(sshd, ['-D', '-e', '-f', config], port, dir, { host });
  const knownHostsLines = await Promise.all(hostKeys.map(async (k) => {
    const [type, key] = (await readFile(`${k}.pub`, 'utf8')).trim().split(/\s+/);
    return `[${host}]:${port} ${type} ${key}`;
  }));
  return {
    host,
    port,
    dir,
    knownHostsLine: knownHostsLines[0],
    knownHostsLines,
    get pid() { return child.pid!; },
    stop: () => stop(),
    restart: async () => {
      ({ child, stop } = await startProcess(sshd, ['-D', '-e', '-f', config], port, dir, { host }));
    },
    crash: () => {
      for (const pid of [child.pid!, ...descendants(child.pid!)]) {
        if (comm(pid) === 'sshd' || pid === child.pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    },
  };
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** All processes below `root` in the parent tree (bounded by the process count). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [pid, pp] of parent) {
      if (pp === p && !out.includes(pid)) {
        out.push(pid);
        queue.push(pid);
      }
    }
  }
  return out;
}

/** Pids of live processes whose command line contains `marker` (a unique token per test). */
export function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const state = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (state.slice(state.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}


/** A nodes-file entry for a test sshd: this user, strict host keys, one job at a time. */
export function sshNode(
  s: Sshd,
  name: string,
  o: { identity: string; knownHosts: string; workDir: string } & Partial<SshNodeConfig>,
): SshNodeConfig {
  return {
    type: 'ssh',
    name,
    host: s.host,
    port: s.port,
    user: os.userInfo().username,
    hostKey: 'strict',
    connectTimeoutMs: 5000,
    maxJobs: 1,
    tags: [],
    enabled: true,
    ...o,
  };
}

export interface Relay {
  port: number;
  /** A known_hosts file naming the relay's port with the server's key. */
  knownHosts: string;
  /** Stop forwarding without closing anything (no FIN, no RST): a dead link or a dropped route. */
  cut(): void;
  close(): void;
}

/**
 * A TCP relay in front of a test sshd, on its address: the network between the engine and a
 * node. `bytesPerSecond` bounds what it forwards towards the node (a slow link for an upload),
 * `bytesPerSecondBack` what it forwards from it (for a download).
 */
export async function relayTo(s: Sshd, o: { bytesPerSecond?: number; bytesPerSecondBack?: number } = {}): Promise<Relay> {
  let cut = false;
  const sockets: net.Socket[] = [];
  const relay = net.createServer((c) => {
    const up = net.connect(s.port, s.host);
    sockets.push(c, up);
    c.on('data', (d) => {
      if (cut) return;
      up.write(d);
      if (!o.bytesPerSecond) return;
      c.pause();
      setTimeout(() => c.resume(), (d.length / o.bytesPerSecond) * 1000);
    });
    up.on('data', (d) => {
      if (cut) return;
      c.write(d);
      if (!o.bytesPerSecondBack) return;
      up.pause();
      setTimeout(() => up.resume(), (d.length / o.bytesPerSecondBack) * 1000);
    });
    c.on('error', () => {});
    up.on('error', () => {});
  });
  await new Promise<void>((r) => relay.listen(0, s.host, () => r()));
  const port = (relay.address() as net.AddressInfo).port;
  const knownHosts = path.join(s.dir, `known_hosts_relay_${port}`);
  await writeFile(knownHosts, `${s.knownHostsLine.replace(`:${s.port} `, `:${port} `)}\n`);
  return {
    port,
    knownHosts,
    cut: () => { cut = true; },
    close: () => {
      for (const k of sockets) k.destroy();
      relay.close();
    },
  };
}
