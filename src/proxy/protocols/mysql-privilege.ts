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
 */
import { leadingWords } from './sql-statements.js';
import { COM_QUERY } from './mysql-packets.js';
import { MYSQL_RUN } from './mysql-read-only.js';
import { mysqlErrPacket } from './mysql-errors.js';
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
  return Buffer.concat([Buffer.from([payload.length, 0, 0, 0]), payload]);
}
const PROBES = new Map<string, Buffer>();
for (const [verb, text] of Object.entries(PROBE_TEXT)) {
  PROBES.set(`${verb} 0`, comQuery(text, false));
  PROBES.set(`${verb} 1`, comQuery(text, true));
}
const SENT = new Set(PROBES.values());

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
  const of = words[0] === 'CREATE' && words[1] === 'OR' ? words[3] : words[1];
  const verb = words[0];
  if (!(of === 'USER' || (of === 'ROLE' && (verb === 'CREATE' || verb === 'DROP')))) return undefined;
  return PROBES.get(`${verb} ${attributes ? 1 : 0}`);
}

/** Whether `standIn` is a privilegeProbe's. */
export function isPrivilegeProbe(standIn: Buffer): boolean {
  return SENT.has(standIn);
}

const NO_PRIVILEGE = 1227;
const NO_PRIVILEGE_TEXT = 'Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation';

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

  /** The answer to request `ordinal` starts with bytes [p, p + n) of `b`: a probe's 1227 is the client's. */
  replied(ordinal: number, b: Buffer, p: number, n: number): void {
    const reply = this.replies.get(ordinal);
    if (reply === undefined) return;
    this.replies.delete(ordinal);
    if (n < 3 || b[p] !== 0xff || b.readUInt16LE(p + 1) !== NO_PRIVILEGE) return;
    reply.bytes = mysqlErrPacket(reply.bytes[3], NO_PRIVILEGE, '42000', NO_PRIVILEGE_TEXT);
    this.withdrawn.add(ordinal);
  }

  /** FramerSession.errorFate: held until the probe's answer, withdrawn if it was 1227 (told once). */
  fate(ordinal: number): ErrorFate {
    if (this.replies.has(ordinal)) return 'held';
    return this.withdrawn.delete(ordinal) ? 'withdrawn' : 'given';
  }
}
