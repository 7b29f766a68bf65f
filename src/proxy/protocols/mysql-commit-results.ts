/**
 * The reply to a COMMIT's stand-in that runs statements of the client's before its ROLLBACK
 * (`SELECT 1; SELECT id FROM t; COMMIT` sent as `SELECT 1; SELECT id FROM t; ROLLBACK ...`,
 * mysql-commit.ts). A real COMMIT that fails there runs after them: MariaDB 10.11 answers their
 * results, each ending with SERVER_MORE_RESULTS_EXISTS, then the COMMIT's ERR numbered after
 * them (checked: behind another session's FLUSH TABLES WITH READ LOCK, 1205 as packet 11 after
 * two result sets; killed by KILL QUERY, 1317 after one). So every packet of the stand-in's
 * reply passes but its last, which the injected error replaces, numbered as it.
 *
 * That last packet is the server's own ERR when one of those statements failed: the server stops
 * the query there (an empty statement too, 1064), the COMMIT never run, and the transaction stays
 * open (checked: `SELECT 1; INSERT ...; COMMIT` whose INSERT breaks a key answers a result set,
 * then 1062, @@in_transaction 1; a KILL QUERY of a SELECT SLEEP among them, its column
 * definitions, then 1317). The client then gets that ERR, the injected error withdrawn: a
 * ROLLBACK is served in any state (mysql-refusals.ts), so an ERR ending the reply is none of its.
 * A connection killed among them ends with no ERR (the results so far, then the close), which
 * the connection passes as the server's end.
 */
import type { ErrorReply } from '../protocol.js';

/** The injected reply of such a stand-in: its own copy, numbered as the reply's last packet (lastPacket). */
export function ownReply(reply: ErrorReply): ErrorReply {
  return { bytes: Buffer.from(reply.bytes), close: reply.close };
}

/**
 * The stand-in's reply ends with the packet of `len` bytes at `p` in `b` (`n` of them there),
 * numbered `seq`: `reply`, the injected one in its place, becomes that ERR of the server's (read
 * whole), or is numbered `seq`. Whether the error is withdrawn.
 */
export function lastPacket(reply: ErrorReply, b: Buffer, p: number, len: number, n: number, seq: number): boolean {
  if (len >= 3 && n >= len && b[p] === 0xff) {
    const bytes = Buffer.allocUnsafe(4 + len);
    bytes.writeUIntLE(len, 0, 3);
    bytes[3] = seq;
    b.copy(bytes, 4, p, p + len);
    reply.bytes = bytes;
    return true;
  }
  reply.bytes[3] = seq;
  return false;
}
