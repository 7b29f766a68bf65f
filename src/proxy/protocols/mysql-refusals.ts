/**
 * Which requests a real MySQL or MariaDB in the state an error kind stands for refuses with it
 * (checked on MariaDB 10.11): a lock wait timeout and a deadlock meet statements that take locks
 * (a table's rows, or its metadata lock), a killed query a statement as it runs, never a ping, a
 * fetch or a change of database; a read-only server refuses writes only, to a user without the
 * privilege to write anyway (mysql-read-only.ts); one at max_connections refuses new connections. A
 * request the server would serve passes untouched: a client at 100:error still pings and runs
 * its pool's `SELECT 1`, and one asking for 1290 gets what a read-only server gives, reads
 * working.
 */
import { eachStatement, leadingWords } from './sql-statements.js';
import { COM_QUERY, COM_STMT_BULK_EXECUTE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './mysql-packets.js';
import { forgets, MYSQL_RUN, servedWrites, writesOf, writesSql, type SqlState } from './mysql-read-only.js';
import { statementText } from './mysql-temporary.js';

const COM_CREATE_DB = 0x05, COM_DROP_DB = 0x06;

/**
 * Commands that run a statement: a query, a prepare (it opens the statement's tables, waiting
 * for their metadata locks), an execute and MariaDB's bulk execute.
 */
const STATEMENTS = new Set([COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_BULK_EXECUTE]);

/** What of a connection's earlier requests decides whether a later one writes or takes locks. */
export interface MysqlRequests {
  /** COM_QUERY starts with CLIENT_QUERY_ATTRIBUTES' header. */
  queryAttributes(): boolean;
  /** What prepared statement `id` (0xFFFFFFFF: the last prepared) is known to do: READS_ONLY, LOCKS_NOTHING. */
  preparedAs(id: number): number;
  /** The tables prepared statement `id` writes, when it writes only tables it names. */
  preparedTables(id: number): readonly string[] | undefined;
  /** What the connection's statements left that a read-only server judges later ones by, a copy (mysql-read-only.ts). */
  sqlState(): SqlState;
}

/**
 * A prepared statement's text writes nothing (writesSql), takes no lock (locksNothingSql), may
 * drop or rename no temporary table (mysql-read-only.ts' forgets); or the statement is none the
 * server holds, whose execute runs nothing (NOT_PREPARED, with the three).
 */
export const READS_ONLY = 1, LOCKS_NOTHING = 2, KEEPS_TEMPORARY = 4, NOT_PREPARED = 8;

/**
 * Whether a real server in the state `kind` stands for refuses `request` (a command's first
 * segment, or the login's). A server at max_connections (1040) refuses new connections, which
 * the proxy does in place of the greeting (connectError, drawn per connection: a client going on
 * to TLS logs in where no error can reach), the connections in served; a shutting down one
 * (1053), and a kind not known here, meet every command: it closes its connections, idle ones
 * too (a ping gets no OK). Every kind lets the login pass.
 */
export function refuses(kind: string, request: Buffer, session?: MysqlRequests): boolean {
  if (request.length < 5) return true;
  // The login, the handshake response, is numbered from 1; a command from 0.
  if (request[3] !== 0) return false;
  const cmd = request[4];
  switch (kind) {
    case '1040':
      return false;
    case '1205':
    case '1213':
      return STATEMENTS.has(cmd) && !locksNothing(cmd, request, session);
    case '1317':
      return STATEMENTS.has(cmd) && !(cmd === COM_QUERY ? everyStatement(request, session, unkillable) : isExecute(cmd) && prepared(request, session, NOT_PREPARED));
    case '1290':
      return writes(cmd, request, session);
    default:
      return true;
  }
}

/**
 * Whether a read-only server refuses the request as a write. A prepare is refused by none (the
 * server refuses its execute: checked, with 1290 and no more); an execute as the statement
 * prepared, when the session saw it: a read passes, a write to the session's temporary tables
 * too, as the server serves it; a query by its statements (writes: see writesSql).
 */
function writes(cmd: number, request: Buffer, session?: MysqlRequests): boolean {
  if (cmd === COM_CREATE_DB || cmd === COM_DROP_DB) return true;
  if (isExecute(cmd)) {
    return !prepared(request, session, READS_ONLY)
      && !(session !== undefined && request.length >= 9 && servedWrites(session.preparedTables(request.readUInt32LE(5)), session.sqlState()));
  }
  if (cmd !== COM_QUERY) return false;
  const sql = sqlStart(request, session);
  return sql < 0 || writesSql(request, sql, request.length, MYSQL_RUN, session?.sqlState());
}

/**
 * Where a COM_QUERY's SQL text starts, or -1 if it cannot be read here: given query attributes
 * (their count, 0, and one set, 1, are all a query without them has), or only its first segment
 * here, the statements past it not known.
 */
function sqlStart(request: Buffer, session?: MysqlRequests): number {
  if (request.length < 4 + request.readUIntLE(0, 3)) return -1;
  if (!session?.queryAttributes()) return 5;
  return request.length >= 7 && request[5] === 0 && request[6] === 1 ? 7 : -1;
}

function isExecute(cmd: number): boolean {
  return cmd === COM_STMT_EXECUTE || cmd === COM_STMT_BULK_EXECUTE;
}

/** Whether the statement an execute (or bulk execute) runs is known, when prepared, to do `what`. */
function prepared(request: Buffer, session: MysqlRequests | undefined, what: number): boolean {
  return session !== undefined && request.length >= 9 && (session.preparedAs(request.readUInt32LE(5)) & what) !== 0;
}

/**
 * Whether a lock wait timeout or a deadlock cannot meet the request: a query or a prepare of
 * statements that take no lock (locksNothingSql; a prepare opens its tables, waiting for their
 * metadata locks: checked, a prepare in a metadata lock deadlock gets 1213), an execute of one.
 */
function locksNothing(cmd: number, request: Buffer, session?: MysqlRequests): boolean {
  if (cmd === COM_QUERY) return everyStatement(request, session, locksNothingStatement);
  if (cmd === COM_STMT_PREPARE) return request.length === 4 + request.readUIntLE(0, 3) && locksNothingSql(request, 5, request.length);
  return prepared(request, session, LOCKS_NOTHING);
}

/** Whether the query's statements can all be read, and each is one `test` (start, end) takes. */
function everyStatement(request: Buffer, session: MysqlRequests | undefined, test: StatementTest): boolean {
  const sql = sqlStart(request, session);
  return sql >= 0 && everyStatementIn(request, sql, request.length, test);
}

/**
 * Whether the SQL text in bytes [from, to) of `buf` can be read for sure and takes no lock in
 * any of its statements.
 */
export function locksNothingSql(buf: Buffer, from: number, to: number): boolean {
  return everyStatementIn(buf, from, to, locksNothingStatement);
}

type StatementTest = (buf: Buffer, start: number, end: number) => boolean;

/** Whether the SQL text in bytes [from, to) of `buf` can be read for sure, and `test` takes each of its statements. */
function everyStatementIn(buf: Buffer, from: number, to: number, test: StatementTest): boolean {
  let all = true;
  const read = eachStatement(buf, from, to, MYSQL_RUN, (start, end) => {
    all = test(buf, start, end);
    return !all;
  });
  return read && all;
}

/**
 * Whether a statement takes no lock another session may hold, so neither waits for one (1205)
 * nor closes a circle of waits (1213): one that names no table. A SELECT, DO, VALUES or SET
 * without FROM reads no table (`SELECT 1`, `SELECT @@version`, `DO 1`, `SET NAMES`), nor does a
 * SHOW (MariaDB 10.11 answered SHOW CREATE TABLE and SHOW TABLE STATUS at once behind another
 * session's LOCK TABLES ... WRITE), USE, BEGIN, START TRANSACTION, a SAVEPOINT or a ROLLBACK,
 * which releases locks and waits for none (served behind LOCK TABLES ... WRITE and behind FLUSH
 * TABLES WITH READ LOCK, where a COMMIT of a write gets 1205: a COMMIT may wait). Any statement
 * naming a table may meet both, even a plain SELECT, which reads a snapshot past any row lock but
 * opens its table under a metadata lock (checked: behind LOCK TABLES ... WRITE, `SELECT * FROM t`
 * and `SET @a = (SELECT v FROM t)` get 1205 after lock_wait_timeout; a transaction's statement
 * opening a table a RENAME waits on gets 1213). Where the text cannot tell, it leans to the lock,
 * so that a client's retry path is met: a FROM in a function's arguments (`EXTRACT(YEAR FROM d)`)
 * is taken for a table's; a sequence's NEXTVAL or a GET_LOCK takes one (two sessions' GET_LOCKs in
 * a circle: 1213); a stored function a SELECT calls is taken for a built-in (it may read tables,
 * but `SELECT NOW()` is the common case), as an implicit commit (BEGIN or SET autocommit = 1 in a
 * transaction) is taken for none.
 */
function locksNothingStatement(buf: Buffer, from: number, to: number): boolean {
  const words = leadingWords(buf, from, to, MYSQL_RUN, 2);
  if (words === undefined) return false;
  if (words.length === 0) return true;
  switch (words[0]) {
    case 'SHOW':
    case 'USE':
    case 'BEGIN':
    case 'SAVEPOINT':
    case 'RELEASE':
    case 'ROLLBACK':
      return true;
    case 'START':
      return words[1] === 'TRANSACTION';
    case 'SELECT':
    case 'DO':
    case 'VALUES':
      return !TAKES_LOCK.test(buf.toString('latin1', from, to));
    case 'SET':
      return words[1] !== 'STATEMENT' && !TAKES_LOCK.test(buf.toString('latin1', from, to));
    default:
      return false;
  }
}
const TAKES_LOCK = /\b(from|nextval|lastval|setval|next\s+value|previous\s+value|get_lock)\b/i;

/**
 * Whether a KILL QUERY cannot fail the statement: a DO naming no table, whose errors MariaDB
 * turns into warnings, a kill's too (checked: a killed `DO SLEEP(20)` is answered OK; a DO
 * waiting for a table's metadata lock gets 1317); a ROLLBACK, which InnoDB finishes whatever
 * (checked: one of 300,000 rows killed as it ran was answered OK, the transaction ended); a SET of variables, not SET STATEMENT ... FOR,
 * which runs the statement after it, nor a SET whose value a subquery reads. A SET calling a slow
 * function can be killed (`SET @a = SLEEP(20)` gets 1317); the proxy leans to a SET ending at
 * once, as connectors' SET NAMES and SET autocommit do as they connect.
 */
function unkillable(buf: Buffer, from: number, to: number): boolean {
  const words = leadingWords(buf, from, to, MYSQL_RUN, 2);
  if (words === undefined) return false;
  if (words.length === 0) return true;
  if (words[0] === 'DO') return !TAKES_LOCK.test(buf.toString('latin1', from, to));
  if (words[0] === 'ROLLBACK') return true;
  return words[0] === 'SET' && words[1] !== 'STATEMENT' && !SELECT.test(buf.toString('latin1', from, to));
}
const SELECT = /\bselect\b/i;

/** What a statement the server does not hold is known to do: nothing at all. */
const UNKNOWN = READS_ONLY | LOCKS_NOTHING | KEEPS_TEMPORARY | NOT_PREPARED;

/**
 * What each of a connection's prepared statements is known to do (READS_ONLY, LOCKS_NOTHING,
 * KEEPS_TEMPORARY, of its text; the tables it writes, when it writes only tables it names), for
 * the executes a read-only server or one with locks held serves: ids the server gave, and the
 * last prepare sent (MariaDB's statement 0xFFFFFFFF, which the MariaDB connector executes before
 * the prepare's reply comes). Statement ids are never reused on a connection: one closed is
 * forgotten, and an execute of an id the server does not hold (never given, closed, or gone
 * with a reset) runs nothing: MariaDB answers it 1243 Unknown prepared statement handler,
 * read-only, behind locks held or not (checked on 10.11: mysql2's execute of a statement it
 * closed), so it is NOT_PREPARED.
 */
export class PreparedStatements {
  private readonly known = new Map<number, number>();
  private readonly tables = new Map<number, readonly string[]>();
  private lastSent = 0;
  private lastTables: readonly string[] | undefined;

  /**
   * A COM_STMT_PREPARE of the text in bytes [from, to) of `buf` is sent; whole: all of it is
   * there. What it does; the tables it writes are lastTables() until the next.
   */
  sent(buf: Buffer, from: number, to: number, whole: boolean): number {
    const writes = whole ? writesOf(buf, from, to) : true;
    this.lastTables = typeof writes === 'boolean' ? undefined : writes;
    this.lastSent = whole
      ? (writes === false ? READS_ONLY : 0) | (locksNothingSql(buf, from, to) ? LOCKS_NOTHING : 0) | (forgets(statementText(buf, from, to)) ? 0 : KEEPS_TEMPORARY)
      : 0;
    return this.lastSent;
  }

  /** The tables the last prepare sent writes, when it writes only tables it names. */
  lastTablesSent(): readonly string[] | undefined {
    return this.lastTables;
  }

  /** The server prepared statement `id` of a prepare that does `as` (what sent() said), writing `tables`. */
  prepared(id: number, as: number, tables: readonly string[] | undefined): void {
    this.known.set(id, as);
    if (tables !== undefined) this.tables.set(id, tables);
  }

  closed(id: number): void {
    this.known.delete(id);
    this.tables.delete(id);
  }

  /** COM_RESET_CONNECTION, COM_CHANGE_USER: the server closes every statement. */
  reset(): void {
    this.known.clear();
    this.tables.clear();
  }

  preparedAs(id: number): number {
    return id === 0xffffffff ? this.lastSent : this.known.get(id) ?? UNKNOWN;
  }

  preparedTables(id: number): readonly string[] | undefined {
    return id === 0xffffffff ? this.lastTables : this.tables.get(id);
  }
}
