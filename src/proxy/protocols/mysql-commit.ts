/**
 * MySQL's and MariaDB's COMMIT that draws an injected error (commit.ts): a COM_QUERY that is a
 * COMMIT, or holds one, and the ROLLBACK the server is sent in its place; and a statement that
 * draws a deadlock, which a real one rolls back with its transaction.
 */
import { commitAt, MYSQL_SQL } from './commit.js';
import { COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './mysql-packets.js';

/**
 * A COM_QUERY packet (3-byte length, sequence id 0, command 0x03, the statement) that is a
 * COMMIT: the ROLLBACK sent in its place (commit.ts). With CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23
 * and later, which mysql2 asks for), a query without attributes starts with their count, 0, and
 * one set, 1 (no statement starts with a NUL byte), and so must the ROLLBACK.
 */
export function commitStandIn(request: Buffer): Buffer | undefined {
  if (request.length <= 5 || request[3] !== 0 || request[4] !== COM_QUERY) return undefined;
  const sql = request.length > 7 && request[5] === 0 && request[6] === 1 ? 7 : 5;
  const at = commitAt(request, sql, request.length, MYSQL_SQL);
  if (at < 0) return undefined;
  if (at === sql) return sql === 7 ? ROLLBACK_NO_ATTRIBUTES : ROLLBACK;
  // Statements before a COMMIT (CLIENT_MULTI_STATEMENTS): they go, with ROLLBACK after them.
  const payload = Buffer.concat([request.subarray(4, at), Buffer.from(' ', 'latin1'), ROLLBACK_TEXT]);
  return Buffer.concat([Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, 0]), payload]);
}

/**
 * A statement (COM_QUERY, COM_STMT_EXECUTE) or a prepare (COM_STMT_PREPARE) that draws a deadlock
 * (1213): InnoDB rolls back the deadlocked transaction whole, so the server is sent ROLLBACK in
 * its place. Withheld, the transaction stayed open while the client was told it was rolled back,
 * and a client retrying it had the first statements committed twice (its BEGIN commits the open
 * transaction). A prepare opens its tables, waiting for their metadata locks: the victim of a
 * deadlock there gets 1213 and its transaction rolled back too (checked on MariaDB 10.11: a
 * RENAME holding one table and waiting for another the transaction had read). The session
 * frames the ROLLBACK's reply as a query's (FramerSession.errored). Outside a transaction the
 * ROLLBACK does nothing, as a deadlock outside one leaves nothing. Other commands (a ping, a
 * fetch, ...) are withheld as before. `attributes`: the connection's queries carry
 * CLIENT_QUERY_ATTRIBUTES' header.
 */
export function deadlockStandIn(request: Buffer, attributes: boolean): Buffer | undefined {
  if (request.length <= 4 || request[3] !== 0) return undefined;
  const cmd = request[4];
  if (cmd !== COM_QUERY && cmd !== COM_STMT_EXECUTE && cmd !== COM_STMT_PREPARE) return undefined;
  return attributes ? ROLLBACK_NO_ATTRIBUTES : ROLLBACK;
}

/**
 * Explicitly neither chained nor released: a plain ROLLBACK would do either under the server's
 * completion_type, which a failed COMMIT does not (it returns the error first).
 */
const ROLLBACK_TEXT = Buffer.from('ROLLBACK AND NO CHAIN NO RELEASE', 'latin1');
const comQuery = (head: number[]): Buffer =>
  Buffer.from([1 + head.length + ROLLBACK_TEXT.length, 0, 0, 0, COM_QUERY, ...head, ...ROLLBACK_TEXT]);
const ROLLBACK = comQuery([]);
const ROLLBACK_NO_ATTRIBUTES = comQuery([0, 1]);
