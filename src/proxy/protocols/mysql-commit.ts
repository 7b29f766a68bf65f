/**
 * What a MySQL or MariaDB server is sent in place of a request that draws an injected error: a
 * COMMIT's ROLLBACK (commit.ts), a deadlocked statement's ROLLBACK, and a prepare that fails. A
 * ROLLBACK draws none of the kinds a stand-in is sent for: a real one is served whatever the
 * server's state (mysql-refusals.ts), and passes.
 */
import { commitAt, MYSQL_SQL } from './commit.js';
import { COM_QUERY, COM_STMT_BULK_EXECUTE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './mysql-packets.js';

/**
 * A COM_QUERY packet (3-byte length, sequence id 0, command 0x03, the statement) that is a
 * COMMIT: the ROLLBACK sent in its place (commit.ts). With CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23
 * and later, which mysql2 asks for), a query without attributes starts with their count, 0, and
 * one set, 1 (no statement starts with a NUL byte), and so must the ROLLBACK.
 *
 * Not at 1290, which a read-only server gives a query's first write, never a COMMIT: the rest of
 * the query, a COMMIT after that write too, is not run, and the transaction stays open (checked
 * on MariaDB 10.11 read_only=1, a user without the privilege: `INSERT ...; COMMIT` is answered
 * 1290 alone, `SELECT 1; INSERT ...; COMMIT` the SELECT's result then 1290, @@in_transaction 1
 * after both). A ROLLBACK in its COMMIT's place ended the transaction the server keeps: such a
 * query is withheld whole when the write is its first statement, else sent as writeStandIn.
 */
export function commitStandIn(request: Buffer): Buffer | undefined {
  if (request.length <= 5 || request[3] !== 0 || request[4] !== COM_QUERY) return undefined;
  const sql = request.length > 7 && request[5] === 0 && request[6] === 1 ? 7 : 5;
  const at = commitAt(request, sql, request.length, MYSQL_SQL);
  if (at < 0) return undefined;
  if (at === sql) return sql === 7 ? ROLLBACK_NO_ATTRIBUTES : ROLLBACK;
  // Statements before a COMMIT (CLIENT_MULTI_STATEMENTS): they go, with ROLLBACK after them.
  return prefixStandIn(request, at, ROLLBACK_TEXT);
}

/**
 * A COM_QUERY (`request`, whole) of several statements drawn 1290 whose first write starts at
 * byte `at`, past statements of its own (mysql-read-only.ts' firstWrite): those statements go,
 * with `DO 0` in place of the write and the rest. A read-only server runs them, then refuses
 * the write and runs none of what follows (checked on MariaDB 10.11 read_only=1, a user without
 * READ ONLY ADMIN: `SELECT 1; INSERT ...` answers the SELECT's result, then 1290; a CREATE
 * TEMPORARY TABLE before the write is made). Withheld whole, their results were lost and what
 * they did was not done. DO 0 changes nothing, its OK the packet the injected error replaces.
 */
export function writeStandIn(request: Buffer, at: number): Buffer {
  return prefixStandIn(request, at, DO_NOTHING);
}
const DO_NOTHING = Buffer.from('DO 0', 'latin1');

/** The client's text from where a stand-in departs from it (`at`), as far as a syntax error's quote may reach. */
export interface Prefix {
  at: number;
  tail: Buffer;
}

/**
 * `request`'s bytes up to `at` (its statements before it), then `last`: a stand-in that runs
 * statements of the client's, whose results are the client's, ahead of the error
 * (mysql-commit-results.ts).
 */
function prefixStandIn(request: Buffer, at: number, last: Buffer): Buffer {
  const payload = Buffer.concat([request.subarray(4, at), Buffer.from(' ', 'latin1'), last]);
  const standIn = Buffer.concat([Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, 0]), payload]);
  // A copy: the request's memory is the connection's read buffer, reused.
  RUNS_STATEMENTS.set(standIn, { at, tail: Buffer.from(request.subarray(at, at + QUOTED_MAX + 1)) });
  return standIn;
}

/** The longest text MariaDB quotes whole in a syntax error (ER_PARSE_ERROR's `near '%-.80T'`). */
export const QUOTED_MAX = 80;

/** Stand-ins that run statements of the client's before their last, by where they depart from its text. */
const RUNS_STATEMENTS = new WeakMap<Buffer, Prefix>();

/**
 * Where `standIn` departs from the client's text, if it runs statements of the client's before
 * its ROLLBACK or DO 0: their results are the client's, ahead of the error (mysql-commit-results.ts).
 */
export function runsStatements(standIn: Buffer): Prefix | undefined {
  return RUNS_STATEMENTS.get(standIn);
}

/**
 * A statement (COM_QUERY, COM_STMT_EXECUTE, MariaDB's COM_STMT_BULK_EXECUTE) that draws a
 * deadlock (1213): InnoDB rolls back the deadlocked transaction whole, so the server is sent
 * ROLLBACK in its place. Withheld, the
 * transaction stayed open while the client was told it was rolled back, and a client retrying it
 * had the first statements committed twice (its BEGIN commits the open transaction). The session
 * frames the ROLLBACK's reply as a query's (FramerSession.errored). Outside a transaction the
 * ROLLBACK does nothing, as a deadlock outside one leaves nothing. Other commands (a ping, a
 * fetch, ...) a deadlock never meets (mysql-refusals.ts). `attributes`: the connection's queries
 * carry CLIENT_QUERY_ATTRIBUTES' header.
 */
export function deadlockStandIn(request: Buffer, attributes: boolean): Buffer | undefined {
  if (request.length <= 4 || request[3] !== 0) return undefined;
  const cmd = request[4];
  if (cmd !== COM_QUERY && cmd !== COM_STMT_EXECUTE && cmd !== COM_STMT_BULK_EXECUTE) return undefined;
  return attributes ? ROLLBACK_NO_ATTRIBUTES : ROLLBACK;
}

/**
 * A COM_STMT_PREPARE that draws an error is sent as a prepare that fails (of an empty statement,
 * 1065 Query was empty): a server whose prepare fails forgets the statement it prepared last,
 * which a COM_STMT_EXECUTE of statement id 0xFFFFFFFF runs (MariaDB's "the statement just
 * prepared"). The MariaDB connector sends its execute() so, right behind the prepare, without
 * waiting for its reply: withheld, the prepare left the server's last statement the one before,
 * which the execute then ran with its own parameters (an INSERT done again, and the client told
 * its execute failed). Now the execute gets 1243 Unknown prepared statement handler from the
 * server, as after a real failed prepare, which the connector passes over, having failed the
 * call. A deadlock (1213) also rolls back: a prepare opens its tables, waiting for their metadata
 * locks, and the victim of a deadlock there has its transaction rolled back (checked on MariaDB
 * 10.11: a RENAME holding one table and waiting for another the transaction had read); the
 * server is sent ROLLBACK, then the failing prepare, whose two replies the session frames as one
 * (FramerSession.errored).
 */
export function prepareStandIn(request: Buffer, deadlock: boolean, attributes: boolean): Buffer | undefined {
  if (request.length <= 4 || request[3] !== 0 || request[4] !== COM_STMT_PREPARE) return undefined;
  if (!deadlock) return FAILED_PREPARE;
  return attributes ? ROLLBACK_NO_ATTRIBUTES_THEN_FAILED_PREPARE : ROLLBACK_THEN_FAILED_PREPARE;
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
const FAILED_PREPARE = Buffer.from([1, 0, 0, 0, COM_STMT_PREPARE]);
const ROLLBACK_THEN_FAILED_PREPARE = Buffer.concat([ROLLBACK, FAILED_PREPARE]);
const ROLLBACK_NO_ATTRIBUTES_THEN_FAILED_PREPARE = Buffer.concat([ROLLBACK_NO_ATTRIBUTES, FAILED_PREPARE]);
