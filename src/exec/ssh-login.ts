/**
 * What an SSH connection settles before its first command: the host key checked against
 * known_hosts (or recorded, with `host_key: accept-new`), the credentials to offer, and a failed
 * connect said in words with what to check.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SshNodeConfig } from '../config/nodes.js';
import { NodeError } from './executor.js';
import { checkHostKey, fingerprint, hostToken, keyType, recordHostKey } from './known-hosts.js';

/** ssh2's `hostVerifier`: a key that is not the known one is refused, and `refuse` is told why. */
export function hostKeyVerifier(cfg: SshNodeConfig, known: string, refuse: (why: NodeError) => void): (key: Buffer, verify: (ok: boolean) => void) => void {
  const { name, host, port, knownHosts, hostKey } = cfg;
  return (key, verify) => {
    const check = checkHostKey(known, host, port, key);
    const what = `${keyType(key)} ${fingerprint(key)}`;
    if (check.status === 'known') return verify(true);
    if (check.status === 'unknown' && hostKey === 'accept-new') {
      recordHostKey(knownHosts, host, port, key).then(
        () => verify(true),
        (e: Error) => {
          refuse(new NodeError(name, `cannot record the host key in ${knownHosts}: ${e.message}`));
          verify(false);
        },
      );
      return;
    }
    if (check.status === 'unknown') {
      refuse(new NodeError(
        name,
        `host key of ${hostToken(host, port)} (${what}) is not in ${knownHosts}; refusing to connect`,
        `if this is the right machine, add its key: ssh-keyscan -p ${port} ${host} >> ${knownHosts} (check the fingerprint), or set host_key: accept-new for this node`,
      ));
    } else if (check.status === 'changed') {
      refuse(new NodeError(
        name,
        `HOST KEY CHANGED for ${hostToken(host, port)}: it now offers ${what}, which does not match ${knownHosts} line ${check.lines.join(', ')}; refusing to connect (possible man-in-the-middle)`,
        `if the machine was reinstalled, remove the old entry: ssh-keygen -R '${hostToken(host, port)}' -f ${knownHosts}`,
      ));
    } else {
      refuse(new NodeError(name, `host key ${what} of ${hostToken(host, port)} is marked @revoked in ${knownHosts}; refusing to connect`));
    }
    verify(false);
  };
}

/** The node's identity file, else the SSH agent, else the user's default key. */
export async function sshCredentials(cfg: SshNodeConfig, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const passphrase = cfg.passphraseEnv ? env[cfg.passphraseEnv] : undefined;
  if (cfg.passphraseEnv && passphrase === undefined) {
    throw new NodeError(cfg.name, `$${cfg.passphraseEnv} (passphrase_env) is not set`);
  }
  if (cfg.identity) {
    try {
      return { privateKey: await readFile(cfg.identity, 'utf8'), passphrase };
    } catch (e) {
      throw new NodeError(cfg.name, `cannot read the identity file ${cfg.identity}: ${(e as NodeJS.ErrnoException).code ?? e}`, 'check `identity:` in the nodes file');
    }
  }
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const f = path.join(os.homedir(), '.ssh', name);
    if (existsSync(f)) return { privateKey: await readFile(f, 'utf8'), passphrase };
  }
  throw new NodeError(cfg.name, 'no SSH key: no identity file configured, no SSH agent, no ~/.ssh/id_ed25519', 'set `identity:` for this node in the nodes file');
}

export function connectError(cfg: SshNodeConfig, to: string, e: Error & { code?: string; level?: string }, timeoutMs: number): NodeError {
  if (e.code === 'ECONNREFUSED') return new NodeError(cfg.name, `cannot connect to ${to}: connection refused`, 'is sshd running there, on that port?');
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return new NodeError(cfg.name, `cannot reach ${to} (${e.code})`);
  if (e.code === 'ENOTFOUND') return new NodeError(cfg.name, `unknown host ${cfg.host}`, 'check `host:` in the nodes file');
  if (/timed out/i.test(e.message)) return new NodeError(cfg.name, `no SSH handshake from ${to} within ${timeoutMs} ms`);
  if (e.level === 'client-authentication' || /authentication/i.test(e.message)) {
    return new NodeError(cfg.name, `authentication refused for ${to}`, `check the user and that the key ${cfg.identity ?? '(agent/default)'} is in the node's authorized_keys`);
  }
  return new NodeError(cfg.name, `cannot connect to ${to}: ${e.message}`);
}
