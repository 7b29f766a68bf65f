/**
 * The reply to a COMMIT's stand-in that runs statements of the client's before its ROLLBACK
 * (`SELECT 1; SELECT id FROM t; COMMIT` sent as `SELECT 1; SELECT id FROM t; ROLLBACK ...`,
 * mysql-commit.ts), and to a write's at 1290 that runs them before DO 0 (writeStandIn: the
 * same, the write's ERR after the results, checked on 10.11 read_only=1). A real COMMIT that
 * fails there runs after them: MariaDB 10.11 answers their results, each ending with
 * SERVER_MORE_RESULTS_EXISTS, then the COMMIT's ERR numbered after them (checked: behind another session's FLUSH TABLES WITH READ LOCK, 1205 as packet 11 after
 * two result sets; killed by KILL QUERY, 1317 after one). So every packet of the stand-in's
 * reply passes but its last, which the injected error replaces, numbered as it.
 *
 * That last packet is the server's own ERR when one of those statements failed: the server stops
 * the query there (an empty statement too, 1064), the COMMIT never run, and the transaction stays
 * open (checked: `SELECT 1; INSERT ...; COMMIT` whose INSERT breaks a key answers a result set,
 * then 1062, @@in_transaction 1; a KILL QUERY of a SELECT SLEEP among them, its column
 * definitions, then 1317). The client then gets that ERR, the injected error withdrawn: a
 * ROLLBACK (a DO 0 too) is served in any state (mysql-refusals.ts), so an ERR ending the reply
 * is none of its.
 * A connection killed among them ends with no ERR (the results so far, then the close), which
 * the connection passes as the server's end.
 */
import type { ErrorReply } from '../protocol.js';
import { QUOTED_MAX, type Prefix } from './mysql-commit.js';

/** The injected reply of a stand-in that runs statements of the client's, with where it departs from the client's text. */
export interface PrefixReply extends ErrorReply {
  standIn: Buffer;
  prefix: Prefix;
}

/** The injected reply of such a stand-in: its own copy, numbered as the reply's last packet (lastPacket). */
export function ownReply(reply: ErrorReply, standIn: Buffer, prefix: Prefix): PrefixReply {
  return { bytes: Buffer.from(reply.bytes), close: reply.close, standIn, prefix };
}

/**
 * The stand-in's reply ends with the packet of `len` bytes at `p` in `b` (`n` of them there),
 * numbered `seq`: `reply`, the injected one in its place, becomes that ERR of the server's (read
 * whole), or is numbered `seq`. Whether the error is withdrawn.
 */
export function lastPacket(reply: PrefixReply, b: Buffer, p: number, len: number, n: number, seq: number): boolean {
  if (len >= 3 && n >= len && b[p] === 0xff) {
    let payload = b.subarray(p, p + len);
    if (payload.readUInt16LE(1) === ER_PARSE_ERROR) payload = clientsQuote(payload, reply);
    const bytes = Buffer.allocUnsafe(4 + payload.length);
    bytes.writeUIntLE(payload.length, 0, 3);
    bytes[3] = seq;
    payload.copy(bytes, 4);
    reply.bytes = bytes;
    return true;
  }
  reply.bytes[3] = seq;
  return false;
}

const ER_PARSE_ERROR = 1064;
const QUOTE = Buffer.from("'", 'latin1');
const ELLIPSIS = Buffer.from('...', 'latin1');

/**
 * A syntax error (1064) quotes the text from where the server stopped reading: MariaDB 10.11's
 * "... near '<text>' at line N", the text cut past 80 bytes to 77 and '...' (at a character's
 * start; checked with 'é's). Stopped in a statement of the client's before the stand-in's own
 * last one (`SELECT 1; SELEC 2; COMMIT` as `SELECT 1; SELEC 2;  ROLLBACK AND NO CHAIN NO
 * RELEASE`), the quote runs on into that one where the client's query has its COMMIT or its
 * write and what follows: the ERR `err` (its payload) is given the client's text in its place.
 * The quote is found in the message as the stand-in's text from one of the places it may start
 * (the one reaching furthest back), so a message in another language or character set than the
 * query's, found in none, is left as it is.
 */
function clientsQuote(err: Buffer, { standIn, prefix: { at, tail } }: PrefixReply): Buffer {
  for (let k = Math.max(5, at - QUOTED_MAX); k <= at; k++) {
    const ours = quoted(standIn.subarray(k));
    const found = err.indexOf(Buffer.concat([QUOTE, ours, QUOTE]));
    if (found < 0) continue;
    const theirs = quoted(Buffer.concat([standIn.subarray(k, at), tail]));
    return Buffer.concat([err.subarray(0, found + 1), theirs, err.subarray(found + 1 + ours.length)]);
  }
  return err;
}

/** `text` as a syntax error quotes it. */
function quoted(text: Buffer): Buffer {
  if (text.length <= QUOTED_MAX) return text;
  let cut = QUOTED_MAX - ELLIPSIS.length;
  // Not amid a UTF-8 character: back to its first byte.
  while (cut > 0 && (text[cut] & 0xc0) === 0x80) cut--;
  return Buffer.concat([text.subarray(0, cut), ELLIPSIS]);
}
