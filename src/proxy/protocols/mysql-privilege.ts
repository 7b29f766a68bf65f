/**
 * 1290 on a statement on user accounts (CREATE, ALTER, DROP, RENAME USER; CREATE, DROP ROLE) as
 * a read-only MariaDB answers it: it checks the privilege first, so a user without CREATE USER
 * (nor the write on the mysql database it stands for) gets 1227, one with it 1290 (checked on
 * 10.11 with read_only=1: 'Access denied; you need (at least one of) the CREATE USER
 * privilege(s) for this operation' to a user with every privilege on one database, 1290 to one
 * granted CREATE USER too). The privileges are the server's, so the server behind is asked: it
 * is sent, in the statement's place, one of the same check that fails after it and changes
 * nothing (a CREATE USER of the account logged in, which exists; a DROP, ALTER or RENAME of an
 * account that does not: 1396), and its 1227 becomes the reply, the injected 1290 withdrawn;
 * any other answer leaves the 1290.
 *
 * SET PASSWORD FOR an account other than the user's own is checked the same way first: a user
 * without the right to update the mysql database gets 1044 ('Access denied for user
 * 'app'@'%' to database 'mysql''), one with it 1290, as does SET PASSWORD of one's own account
 * (checked on 10.11 read_only=1, a user with every privilege on one database and an admin with
 * all). Which account is one's own (the host is the account's, '%' or another) and the
 * privilege are the server's: it is sent SET PASSWORD FOR the same account of a hash that is
 * none, refused after both checks (1372, 'Password hash should be a 41-digit hexadecimal
 * number': checked, on one's own account, on another's with the privilege, nothing changed),
 * and its 1044, naming the account as only the server knows it, becomes the reply.
 */
import { leadingWords } from './sql-statements.js';
import { COM_QUERY } from './mysql-packets.js';
import { MYSQL_RUN } from './mysql-read-only.js';
import type { ErrorFate, ErrorReply } from '../protocol.js';

/** An account no one makes: a host under .invalid, a name with a blank. */
const NOBODY = "'marteau-tui probe'@'marteau-tui.invalid'";
const PROBE_TEXT: Record<string, string> = {
  CREATE: 'CREATE USER CURRENT_USER',
  DROP: `DROP USER ${NOBODY}`,
  ALTER: `ALTER USER ${NOBODY} ACCOUNT LOCK`,
  RENAME: `RENAME USER ${NOBODY} TO ${NOBODY}`,
};

/** A COM_QUERY of `text`, with CLIENT_QUERY_ATTRIBUTES' header of none or without. */
function comQuery(text: string, attributes: boolean): Buffer {
  const payload = Buffer.concat([Buffer.from(attributes ? [COM_QUERY, 0, 1] : [COM_QUERY]), Buffer.from(text, 'latin1')]);
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  return Buffer.concat([head, payload]);
}
const PROBES = new Map<string, Buffer>();
for (const [verb, text] of Object.entries(PROBE_TEXT)) {
  PROBES.set(`${verb} 0`, comQuery(text, false));
  PROBES.set(`${verb} 1`, comQuery(text, true));
}
/** Every probe sent (the fixed ones, and each SET PASSWORD one made for its account), known by identity. */
const SENT = new WeakSet<Buffer>(PROBES.values());

/**
 * SET PASSWORD FOR an account, as its text says it: a name and a host, each quoted or not (no
 * backslash: an escape or not, by the session's sql_mode), or CURRENT_USER; what comes after
 * its '=' is not read. A comment before it is not read either: such a statement keeps 1290.
 */
const QUOTED = "'(?:[^'\\\\]|'')*'|\"(?:[^\"\\\\]|\"\")*\"|`(?:[^`]|``)*`";
const SET_PASSWORD_FOR = new RegExp(
  `^\\s*set\\s+password\\s+for\\s+((?:${QUOTED}|[\\w$.\\x80-\\xff-]+)(?:\\s*@\\s*(?:${QUOTED}|[\\w$.%\\x80-\\xff-]+)|\\s*\\(\\s*\\))?)\\s*=`,
  'i',
);
/** A password hash that is none: a SET PASSWORD of it fails after the checks of the account and the privilege. */
const NO_HASH = "'marteau-tui probe'";

/** The probe of a SET PASSWORD FOR the account `account` (its text), made once per request drawn. */
function setPasswordProbe(account: string, attributes: boolean): Buffer {
  const probe = comQuery(`SET PASSWORD FOR ${account} = ${NO_HASH}`, attributes);
  SENT.add(probe);
  return probe;
}

/**
 * What the server is sent in place of a COM_QUERY (`request`, its first segment) that is one
 * statement on user accounts, drawn 1290; undefined for any other. `attributes`: the
 * connection's queries carry CLIENT_QUERY_ATTRIBUTES' header.
 */
export function privilegeProbe(request: Buffer, attributes: boolean): Buffer | undefined {
  if (request.length <= 5 || request[3] !== 0 || request[4] !== COM_QUERY) return undefined;
  if (attributes && !(request.length > 7 && request[5] === 0 && request[6] === 1)) return undefined;
  const sql = attributes ? 7 : 5;
  if (request.indexOf(0x3b, sql) >= 0) return undefined;
  const words = leadingWords(request, sql, request.length, MYSQL_RUN, 4);
  if (words === undefined || words.length < 2) return undefined;
  if (words[0] === 'SET') {
    if (words[1] !== 'PASSWORD' || words[2] !== 'FOR') return undefined;
    const m = SET_PASSWORD_FOR.exec(request.toString('latin1', sql));
    return m ? setPasswordProbe(m[1], attributes) : undefined;
  }
  const of = words[0] === 'CREATE' && words[1] === 'OR' ? words[3] : words[1];
  const verb = words[0];
  if (!(of === 'USER' || (of === 'ROLE' && (verb === 'CREATE' || verb === 'DROP')))) return undefined;
  return PROBES.get(`${verb} ${attributes ? 1 : 0}`);
}

/** Whether `standIn` is a privilegeProbe's. */
export function isPrivilegeProbe(standIn: Buffer): boolean {
  return SENT.has(standIn);
}

/** What a server without the privilege answers: 1227 (CREATE USER privilege), 1044 (SET PASSWORD's, the mysql database). */
const NO_PRIVILEGE = 1227, NO_DATABASE_ACCESS = 1044;

/** An ERR payload holds at most 512 bytes of message (MYSQL_ERRMSG_SIZE) after its code and SQL state. */
export const PROBE_PEEK = 1 + 2 + 6 + 512;

/** A connection's requests sent as a privilegeProbe: the injected reply each becomes, by the probe's answer. */
export class PrivilegeProbes {
  private readonly replies = new Map<number, ErrorReply>();
  private readonly withdrawn = new Set<number>();

  /** Request `ordinal` goes as a probe, drawn `reply`: the reply the client gets, one of its own. */
  probing(ordinal: number, reply: ErrorReply): ErrorReply {
    const own = { bytes: reply.bytes, close: reply.close };
    this.replies.set(ordinal, own);
    return own;
  }

  /** A probe's answer is still to come: its first packet is read whole (PROBE_PEEK). */
  waiting(): boolean {
    return this.replies.size > 0;
  }

  /**
   * The answer to request `ordinal` starts with a packet of `len` bytes at `p` in `b`, `n` of
   * them there: a probe's privilege error (the server's packet, numbered as the reply) is the
   * client's.
   */
  replied(ordinal: number, b: Buffer, p: number, len: number, n: number): void {
    const reply = this.replies.get(ordinal);
    if (reply === undefined) return;
    this.replies.delete(ordinal);
    if (n < len || len < 3 || b[p] !== 0xff) return;
    const code = b.readUInt16LE(p + 1);
    if (code !== NO_PRIVILEGE && code !== NO_DATABASE_ACCESS) return;
    const bytes = Buffer.allocUnsafe(4 + len);
    bytes.writeUIntLE(len, 0, 3);
    bytes[3] = reply.bytes[3];
    b.copy(bytes, 4, p, p + len);
    reply.bytes = bytes;
    this.withdrawn.add(ordinal);
  }

  /** FramerSession.errorFate: held until the probe's answer, withdrawn if it was 1227 (told once). */
  fate(ordinal: number): ErrorFate {
    if (this.replies.has(ordinal)) return 'held';
    return this.withdrawn.delete(ordinal) ? 'withdrawn' : 'given';
  }
}
