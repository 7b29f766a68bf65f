/**
 * What an SSH connection settles before its first command: the host key checked against
 * known_hosts (or recorded, with `host_key: accept-new`), the credentials to offer, and a failed
 * connect said in words with what to check.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SshNodeConfig } from '../config/nodes.js';
import { unreadableWords } from '../fs/errors.js';
import { keyFileProblem, keyProblem, unreadableKey } from '../config/identity-files.js';
import { NodeConfigError, NodeError, NodeUntrusted, type NodeNotice } from './executor.js';
import { certAuthorityLines, checkHostKey, fingerprint, hostToken, keyType, knownKeyTypes, recordHostKey } from './known-hosts.js';

/**
 * ssh2's `hostVerifier`: a key that is not the known one is refused, and `refuse` is told why; a
 * key recorded by accept-new is told to `recorded`, since it is trusted from then on.
 */
export function hostKeyVerifier(cfg: SshNodeConfig, known: string, refuse: (why: NodeError) => void, recorded?: NodeNotice): (key: Buffer, verify: (ok: boolean) => void) => void {
  const { name, host, port, knownHosts, hostKey } = cfg;
  return (key, verify) => {
    const check = checkHostKey(known, host, port, key);
    const what = `${keyType(key)} ${fingerprint(key)}`;
    if (check.status === 'known') return verify(true);
    if (check.status === 'unknown' && hostKey === 'accept-new') {
      recordHostKey(knownHosts, known, host, port, key).then(
        () => {
          recorded?.(`host key of ${hostToken(host, port)} (${what}) was not known: added to ${knownHosts} (host_key: accept-new)`);
          verify(true);
        },
        (e: Error) => {
          refuse(new NodeError(name, `cannot record the host key in ${knownHosts}: ${e.message}`));
          verify(false);
        },
      );
      return;
    }
    if (check.status === 'unknown') {
      // A setup step not done (exit 2): nothing says the machine is not the right one.
      const ca = certAuthorityLines(known, host, port);
      refuse(new NodeConfigError(
        name,
        `host key of ${hostToken(host, port)} (${what}) is not in ${knownHosts}${ca.length ? ` (line ${ca.join(', ')} trusts a @cert-authority for it, but host certificates are not supported)` : ''}; refusing to connect (host_key: strict)`,
        `if this is the right machine (${showsKey(key)}), add its key: ssh-keyscan -p ${port} ${host} >> ${knownHosts}, or set host_key: accept-new for this node`,
      ));
    } else if (check.status === 'changed') {
      // Not a mistake of the setup: the machine is not the one known_hosts knows (exit 3).
      const lines = `${check.lines.length > 1 ? 'lines' : 'line'} ${check.lines.join(', ')}`;
      refuse(new NodeUntrusted(
        name,
        `HOST KEY CHANGED for ${hostToken(host, port)}: it now offers ${what}, which does not match ${knownHosts} ${lines}; refusing to connect (possible man-in-the-middle: another machine may be answering in its place)`,
        `do not connect until you know why it changed; if the machine was reinstalled (${showsKey(key)}), remove ${lines} of ${knownHosts} (ssh-keygen -R '${hostToken(host, port)}' -f ${knownHosts}), then add its new key`,
      ));
    } else {
      refuse(new NodeUntrusted(
        name,
        `host key ${what} of ${hostToken(host, port)} is marked @revoked in ${knownHosts}; refusing to connect`,
        `a revoked key must never be trusted again: give the node a new host key, then add that one (ssh-keyscan -p ${port} ${host} >> ${knownHosts}, checking the fingerprint)`,
      ));
    }
    verify(false);
  };
}

/** How to tell on the machine itself that `key` is its host key: where sshd keeps it, and its fingerprint. */
function showsKey(key: Buffer): string {
  const file = /^(?:ssh-|ecdsa-sha2-)?(ed25519|ecdsa|rsa|dss)/.exec(keyType(key))?.[1]?.replace('dss', 'dsa');
  return file ? `on it, ssh-keygen -lf /etc/ssh/ssh_host_${file}_key.pub shows ${fingerprint(key)}` : `on it, ssh-keygen -lf of its host key shows ${fingerprint(key)}`;
}

/** What a known_hosts key type asks for in the handshake (an RSA key is signed three ways). */
const ALGORITHMS_OF_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * ssh2's `algorithms.serverHostKey`: the host key algorithms known_hosts holds for this host
 * first (OpenSSH's order), the others after; undefined when none is known (ssh2's defaults).
 */
export function hostKeyAlgorithms(known: string, host: string, port: number): { remove: string[]; prepend: string[] } | undefined {
  const first = knownKeyTypes(known, host, port).flatMap((t) => ALGORITHMS_OF_TYPE[t] ?? []);
  return first.length ? { remove: first, prepend: first } : undefined;
}

/**
 * The node's identity file; else the SSH agent and the user's first default key that needs no
 * passphrase it lacks (ssh2 offers the key, then the agent's keys). Each key problem is told
 * here, before connecting, in words: the handshake would only say it cannot parse the key.
 */
export async function sshCredentials(cfg: SshNodeConfig, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const passphrase = cfg.passphraseEnv ? env[cfg.passphraseEnv] : undefined;
  if (cfg.passphraseEnv && passphrase === undefined) {
    throw new NodeConfigError(cfg.name, `$${cfg.passphraseEnv} (passphrase_env) is not set`, `export ${cfg.passphraseEnv} with the passphrase of the node's key in the environment marteau-tui starts from`);
  }
  if (cfg.identity) {
    let text: string;
    try {
      text = await readFile(cfg.identity, 'utf8');
    } catch (e) {
      const { problem, hint } = unreadableKey(cfg.identity, unreadableWords(e));
      throw new NodeConfigError(cfg.name, problem, hint);
    }
    const bad = keyProblem(cfg, text);
    if (bad) throw new NodeConfigError(cfg.name, bad.problem, bad.hint);
    return { privateKey: text, passphrase };
  }
  const sock = env.SSH_AUTH_SOCK;
  const agent = sock && (await stat(sock).then((s) => s.isSocket(), () => false)) ? sock : undefined;
  const skipped: string[] = [];
  const sshDir = path.join(env.HOME || os.homedir(), '.ssh');
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const f = path.join(sshDir, name);
    if (!existsSync(f)) continue;
    const text = await readFile(f, 'utf8');
    const problem = keyFileProblem(text);
    if (problem === 'encrypted' && passphrase === undefined) skipped.push(f);
    else if (!problem) return { ...(agent ? { agent } : {}), privateKey: text, passphrase };
  }
  if (agent) return { agent };
  // Nothing on this machine to log in with: the nodes file or the environment is to fix (exit 2).
  const why = [
    'no identity: for it in the nodes file',
    sock ? `$SSH_AUTH_SOCK (${sock}) is not an agent's socket` : 'no SSH agent ($SSH_AUTH_SOCK is not set)',
    skipped.length ? `${skipped.join(', ')} encrypted and no passphrase_env` : `no ${sshDir}/id_ed25519, id_ecdsa or id_rsa`,
  ];
  throw new NodeConfigError(
    cfg.name,
    `no SSH key to log in with: ${why.join(', ')}`,
    `add identity: with the node's private key (e.g. identity: ~/.ssh/id_ed25519, and passphrase_env: for an encrypted key) to node "${cfg.name}" in the nodes file, or start ssh-agent, ssh-add the key and run marteau-tui with its SSH_AUTH_SOCK`,
  );
}

export const NO_ANSWER_HINT = 'is the node up, and is `port:` the port sshd listens on? (a firewall that drops packets looks like this too)';

export function connectError(cfg: SshNodeConfig, to: string, e: Error & { code?: string; level?: string }, timeoutMs: number): NodeError {
  if (e.code === 'ECONNREFUSED') return new NodeError(cfg.name, `cannot connect to ${to}: connection refused`, 'is sshd running there, on that port?');
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return new NodeError(cfg.name, `cannot reach ${to} (${e.code})`);
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    return new NodeError(cfg.name, `unknown host ${cfg.host}`, 'check `host:` in the nodes file; ~/.ssh/config is not read, so a Host alias there must be written as its HostName (and Port, User, IdentityFile as port:, user:, identity:)');
  }
  if (/before handshake|protocol version|Bad identification/i.test(e.message)) {
    return new NodeError(cfg.name, `${to} does not answer as an SSH server: ${e.message}`, 'check `port:` in the nodes file: it must be the port sshd listens on');
  }
  if (/timed out/i.test(e.message)) return new NodeError(cfg.name, `no SSH handshake from ${to} within ${timeoutMs} ms`, NO_ANSWER_HINT);
  if (/bad passphrase|integrity check failed|decrypt/i.test(e.message)) {
    return new NodeConfigError(cfg.name, `$${cfg.passphraseEnv} does not unlock the identity file ${cfg.identity ?? '(default key)'}: wrong passphrase`, `export ${cfg.passphraseEnv} with the key's passphrase`);
  }
  if (/privateKey/.test(e.message)) return new NodeConfigError(cfg.name, `cannot use the identity file ${cfg.identity ?? '(default key)'}: ${e.message}`, 'identity: names a private key file, e.g. ~/.ssh/id_ed25519');
  if (e.level === 'agent') return new NodeError(cfg.name, `the SSH agent at $SSH_AUTH_SOCK does not answer: ${e.message}`, 'start ssh-agent and ssh-add the key, or set `identity:` for this node');
  if (e.level === 'client-authentication' || /authentication/i.test(e.message)) {
    return new NodeError(cfg.name, `authentication refused for ${to}`, `check the user and that the key ${cfg.identity ?? '(agent/default)'} is in the node's authorized_keys`);
  }
  return new NodeError(cfg.name, `cannot connect to ${to}: ${e.message}`);
}

/** A close() (a probe past its deadline, a job's end) came before the handshake ended: nothing may run on it. */
export function closedWhileConnecting(node: string, address: string): NodeError {
  return new NodeError(node, `the connection to ${address} was closed while it was being made`);
}

/**
 * SFTP refused. An external sftp-server (Debian's default) starts through the login shell, so
 * a banner from ~/.bashrc arrives where the first packet's length is read: "Welc" is a length
 * of 1466264675. Said as such, as OpenSSH's sftp does, rather than as a missing subsystem.
 */
/** The node runs commands but cannot move files: its SFTP fails. */
export class SftpUnavailable extends NodeError {}

export function sftpError(node: string, user: string, e: Error): NodeError {
  const len = /Packet length (\d+) exceeds/.exec(e.message);
  if (len) {
    const n = Number(len[1]);
    const head = Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString('latin1');
    return new SftpUnavailable(
      node,
      `SFTP is not available: the login of ${user} printed ${/^[\x20-\x7e]{4}$/.test(head) ? `"${head}..."` : 'something'} where the SFTP server's first packet was expected (a banner in ~/.bashrc?)`,
      `make the login of ${user} on the node print nothing when not interactive: at the top of its ~/.bashrc, [ -z "$PS1" ] && return; or set Subsystem sftp internal-sftp in sshd_config`,
    );
  }
  return new SftpUnavailable(node, `SFTP is not available: ${e.message}`, 'add the line Subsystem sftp internal-sftp to the node\'s sshd_config and reload sshd');
}
