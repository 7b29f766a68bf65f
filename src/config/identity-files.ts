/**
 * Whether a node's `identity:` can be its key: this user can read it, and it is a private key
 * that needs no passphrase the nodes file does not give. Without the schema, so that a cached
 * nodes config and a job's start are checked as cheaply; the SSH executor says the same words
 * when it meets a key at connect.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { unreadableWords } from '../fs/errors.js';

/** What is wrong with a key file, and how to fix it. */
export interface KeyProblem {
  problem: string;
  hint: string;
}

/** The node as far as its key goes. */
interface KeyNode {
  name: string;
  identity?: string;
  passphraseEnv?: string;
}

/**
 * How much of a key file tells what it is: its first line, the PEM headers after it and, in
 * OpenSSH's format, the cipher's name near the start of the blob; 512 bytes hold them all.
 */
const HEAD_BYTES = 512;

export const UNREADABLE_HINT = "identity: names the node's private key on this machine (relative to the nodes file, ~/ for your home), e.g. ~/.ssh/id_ed25519; without identity: the SSH agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa are tried";

export function unreadableKey(file: string, why: string): KeyProblem {
  return { problem: `cannot read the identity file ${file}: ${why}`, hint: UNREADABLE_HINT };
}

/**
 * Why an SSH node's `identity:` cannot be its key; undefined when it can, or when the node has
 * none or is switched off in the file (often one whose machine, and key, are not there yet).
 * Only the head of the file is read, for its format; it is not kept.
 */
export function identityProblem(n: KeyNode & { type: string; enabled: boolean }): KeyProblem | undefined {
  if (n.type !== 'ssh' || !n.enabled || n.identity === undefined) return undefined;
  try {
    const st = statSync(n.identity);
    if (st.isDirectory()) return unreadableKey(n.identity, 'it is a directory');
    // A FIFO or a device would block a read here: only whether it can be opened is known.
    if (!st.isFile()) {
      accessSync(n.identity, constants.R_OK);
      return undefined;
    }
    return keyProblem(n, readHead(n.identity));
  } catch (e) {
    return unreadableKey(n.identity, unreadableWords(e));
  }
}

function readHead(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    return head.toString('utf8', 0, readSync(fd, head, 0, HEAD_BYTES, 0));
  } finally {
    closeSync(fd);
  }
}

/** What the node's identity file, whose text (or head) is `text`, cannot be used as. */
export function keyProblem(n: KeyNode, text: string): KeyProblem | undefined {
  const file = n.identity ?? '(default key)';
  switch (keyFileProblem(text)) {
    case 'public':
      return { problem: `the identity file ${file} is a public key`, hint: `identity: names the private key${file.endsWith('.pub') ? `: ${file.slice(0, -4)}` : ''}` };
    case 'not-a-key':
      return { problem: `the identity file ${file} holds no private key`, hint: 'identity: names a private key file, e.g. ~/.ssh/id_ed25519' };
    case 'encrypted':
      if (n.passphraseEnv) return undefined;
      return {
        problem: `the identity file ${file} is encrypted and no passphrase is given`,
        hint: `set passphrase_env: VAR for node "${n.name}" in the nodes file and export VAR with the passphrase, or add the key to ssh-agent (ssh-add ${file}) and remove identity:`,
      };
    default:
      return undefined;
  }
}

/** What a key file, or its first HEAD_BYTES, cannot be used as: undefined when it looks like a usable private key. */
export function keyFileProblem(text: string): 'public' | 'encrypted' | 'not-a-key' | undefined {
  const head = text.trimStart();
  if (/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+/.test(head)) return 'public';
  if (head.startsWith('PuTTY-User-Key-File-')) return /^Encryption: none\s*$/m.test(head) ? undefined : 'encrypted';
  const pem = /^-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----\r?\n([\s\S]*?)(?:-----END|$)/.exec(head);
  if (!pem) return 'not-a-key';
  if (pem[1] === 'ENCRYPTED ' || /^Proc-Type: 4,ENCRYPTED/m.test(pem[2])) return 'encrypted';
  if (pem[1] === 'OPENSSH ') {
    // openssh-key-v1\0, then the cipher name as an SSH string: "none" when not encrypted.
    const blob = Buffer.from(pem[2].replace(/\s+/g, ''), 'base64');
    const magic = 'openssh-key-v1\0'.length;
    if (blob.length < magic + 4) return 'not-a-key';
    const n = blob.readUInt32BE(magic);
    if (blob.toString('latin1', magic + 4, magic + 4 + n) !== 'none') return 'encrypted';
  }
  return undefined;
}
