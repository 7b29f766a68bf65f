/**
 * Host key checking against an OpenSSH known_hosts file, because ssh2 checks nothing by itself.
 * Understands plain and hashed (`|1|salt|hash`) host fields, `[host]:port` for non-22 ports,
 * `*`/`?` patterns, negation `!`, and the `@revoked` marker. A known host whose key differs is
 * refused whatever the policy; an unknown host is refused unless the policy is `accept-new`,
 * which records the key (like OpenSSH's StrictHostKeyChecking=accept-new).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { mkdirp } from '../fs/mkdirp.js';
import path from 'node:path';

export type HostKeyStatus = 'known' | 'unknown' | 'changed' | 'revoked';

export interface HostKeyCheck {
  status: HostKeyStatus;
  /** 1-based lines of the entries for this host (to tell the user what to remove). */
  lines: number[];
}

/** The host field OpenSSH writes: `host` on port 22, `[host]:port` otherwise. */
export function hostToken(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Key type from an SSH wire-format public key blob (its first string). */
export function keyType(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const n = key.readUInt32BE(0);
  return n > 0 && n < 64 && key.length >= 4 + n ? key.toString('latin1', 4, 4 + n) : 'unknown';
}

/** OpenSSH-style fingerprint: SHA256:base64-without-padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

interface Entry {
  line: number;
  marker?: string;
  hosts: string;
  type: string;
  data: string;
}

function entries(text: string): Entry[] {
  const out: Entry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) return;
    out.push({ line: i + 1, marker, hosts: fields[0], type: fields[1], data: fields[2] });
  });
  return out;
}

/**
 * Key types known_hosts holds for this host, in file order. The handshake must ask for these
 * first, as OpenSSH does: a server with several host keys otherwise shows its preferred one,
 * which known_hosts may not hold although it holds another key of that very server.
 */
export function knownKeyTypes(text: string, host: string, port: number): string[] {
  const token = hostToken(host, port);
  const types = entries(text).filter((e) => !e.marker && hostsMatch(e.hosts, token)).map((e) => e.type);
  return [...new Set(types)];
}

/** Lines of `@cert-authority` entries for this host: host certificates are not checked here, so the user must be told why such a host is unknown. */
export function certAuthorityLines(text: string, host: string, port: number): number[] {
  const token = hostToken(host, port);
  return entries(text).filter((e) => e.marker === '@cert-authority' && hostsMatch(e.hosts, token)).map((e) => e.line);
}

export function checkHostKey(text: string, host: string, port: number, key: Buffer): HostKeyCheck {
  const token = hostToken(host, port);
  const type = keyType(key);
  const b64 = key.toString('base64');
  const lines: number[] = [];
  let known = false;
  let sameTypeOther = false;
  let revoked = false;
  for (const e of entries(text)) {
    if (e.marker === '@revoked') {
      if (e.data === b64) revoked = true;
      continue;
    }
    if (e.marker) continue; // @cert-authority: certificates are not used here
    if (!hostsMatch(e.hosts, token)) continue;
    lines.push(e.line);
    if (e.type === type && e.data === b64) known = true;
    else if (e.type === type) sameTypeOther = true;
  }
  if (revoked) return { status: 'revoked', lines };
  if (known) return { status: 'known', lines };
  // Like OpenSSH: another key of the same type for this host means it changed. A host known
  // only by other key types offering a new type is treated as unknown.
  if (sameTypeOther) return { status: 'changed', lines };
  return { status: 'unknown', lines };
}

function hostsMatch(field: string, token: string): boolean {
  let positive = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('|1|')) {
      const [, , salt, hash] = pattern.split('|');
      if (!salt || !hash) continue;
      const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64');
      if (h === hash) positive = true;
      continue;
    }
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatch(glob, token)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

function globMatch(glob: string, s: string): boolean {
  if (!/[*?]/.test(glob)) return glob.toLowerCase() === s.toLowerCase();
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(s);
}

export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/**
 * Append one entry (accept-new). O_APPEND keeps concurrent writers from mixing lines. A file
 * whose every entry is hashed (HashKnownHosts, ssh-keygen -H) names no host in clear, so the
 * new entry is hashed too, as ssh would write it there.
 */
export async function recordHostKey(file: string, known: string, host: string, port: number, key: Buffer): Promise<void> {
  const all = entries(known);
  const token = hostToken(host, port);
  const hosts = all.length && all.every((e) => e.marker || e.hosts.startsWith('|1|')) ? hashedHost(token) : token;
  await mkdirp(path.dirname(file), 0o700);
  await appendFile(file, `${hosts} ${keyType(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
}

/** OpenSSH's hashed host field: |1|base64(salt)|base64(HMAC-SHA1(salt, host)). */
function hashedHost(token: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(token).digest('base64')}`;
}
