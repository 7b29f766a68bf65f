/**
 * Which requests a real MySQL or MariaDB in the state an error kind stands for refuses with it
 * (checked on MariaDB 10.11): a lock wait timeout, a deadlock and a killed query meet statements
 * as they run, never a ping, a fetch or a change of database; a read-only server refuses writes
 * only, to a user without the privilege to write anyway; one at max_connections refuses new
 * connections, as they log in. A request the server would serve passes untouched: a client at
 * 100:error still pings, and one asking for 1290 gets what a read-only server gives, reads
 * working.
 */
import { eachStatement, leadingWords, type SqlDialect } from './sql-statements.js';
import { MYSQL_SQL } from './commit.js';
import { COM_QUERY, COM_STMT_BULK_EXECUTE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './mysql-packets.js';

const COM_CREATE_DB = 0x05, COM_DROP_DB = 0x06;

/**
 * Commands that run a statement: a query, a prepare (it opens the statement's tables, waiting
 * for their metadata locks), an execute and MariaDB's bulk execute.
 */
const STATEMENTS = new Set([COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_BULK_EXECUTE]);

/** What of a connection's earlier requests decides whether a later one writes. */
export interface MysqlRequests {
  /** COM_QUERY starts with CLIENT_QUERY_ATTRIBUTES' header. */
  queryAttributes(): boolean;
  /** Whether prepared statement `id` (0xFFFFFFFF: the last prepared) is known to write nothing. */
  readsOnly(id: number): boolean;
}

/**
 * Whether a real server in the state `kind` stands for refuses `request` (a command's first
 * segment, or the login's). A server at max_connections (1040) refuses the login only, as the
 * server's answer to the handshake response (MariaDB 10.11 checks the count once the user is
 * authenticated), the connections in already served; a shutting down one (1053), and a kind
 * not known here, meet every command: it closes its connections, idle ones too (a ping gets no
 * OK). Other kinds let the login pass.
 */
export function refuses(kind: string, request: Buffer, session?: MysqlRequests): boolean {
  if (request.length < 5) return true;
  // The login, the handshake response, is numbered from 1; a command from 0.
  if (request[3] !== 0) return kind === '1040';
  const cmd = request[4];
  switch (kind) {
    case '1040':
      return false;
    case '1205':
    case '1213':
    case '1317':
      return STATEMENTS.has(cmd) && !(cmd === COM_QUERY && setsOnly(request, session));
    case '1290':
      return writes(cmd, request, session);
    default:
      return true;
  }
}

/**
 * Whether a read-only server refuses the request as a write. A prepare is refused by none (the
 * server refuses its execute); an execute as the statement prepared, when the session saw it; a
 * query by its statements (writes: see writesSql).
 */
function writes(cmd: number, request: Buffer, session?: MysqlRequests): boolean {
  if (cmd === COM_CREATE_DB || cmd === COM_DROP_DB) return true;
  if (cmd === COM_STMT_EXECUTE || cmd === COM_STMT_BULK_EXECUTE) {
    return session === undefined || request.length < 9 || !session.readsOnly(request.readUInt32LE(5));
  }
  if (cmd !== COM_QUERY) return false;
  const sql = sqlStart(request, session);
  return sql < 0 || writesSql(request, sql, request.length);
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

/**
 * Whether a query only sets variables (SET NAMES, SET autocommit = 0, as connectors send on
 * connecting), which waits for no lock and ends at once; not SET STATEMENT ... FOR, which runs
 * the statement after it, nor a SET whose value a subquery reads.
 */
function setsOnly(request: Buffer, session?: MysqlRequests): boolean {
  const sql = sqlStart(request, session);
  if (sql < 0) return false;
  let sets = true;
  const read = eachStatement(request, sql, request.length, MYSQL_SQL, (start, end) => {
    const words = leadingWords(request, start, end, MYSQL_SQL, 2);
    sets = words !== undefined && (words.length === 0 || (words[0] === 'SET' && words[1] !== 'STATEMENT' && !SELECT.test(request.toString('latin1', start, end))));
    return !sets;
  });
  return read && sets;
}
const SELECT = /\bselect\b/i;

/**
 * Whether the SQL text in bytes [from, to) of `buf` holds a statement a read-only MariaDB
 * refuses (checked on 10.11 with a user without READ ONLY ADMIN), or one it cannot read for
 * sure. Reads pass: SELECT (not FOR UPDATE), SHOW, SET, DO, transaction control (not START
 * TRANSACTION READ WRITE), LOCK TABLES ... READ, a temporary table's CREATE and DROP, EXPLAIN of
 * a read, PREPARE (its EXECUTE is refused: the text is not kept). Writes to a temporary table
 * the session made pass on the server but are refused here, as is a CALL (its routine decides).
 */
export function writesSql(buf: Buffer, from: number, to: number, d: SqlDialect = MYSQL_SQL): boolean {
  let write = false;
  const read = eachStatement(buf, from, to, d, (start, end) => {
    write = writesStatement(buf, start, end, d);
    return write;
  });
  return write || !read;
}

/** First words of a statement that read only, by themselves. */
const READS = new Set([
  'SELECT', 'WITH', 'VALUES', 'SHOW', 'HELP', 'DO', 'SET', 'BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'USE',
  'HANDLER', 'UNLOCK', 'CHECK', 'CHECKSUM', 'PREPARE', 'DEALLOCATE', 'XA', 'KILL', 'SIGNAL', 'RESIGNAL', 'GET',
]);

const FOR_UPDATE = /\bfor\s+update\b/i;
const READ_WRITE = /\bread\s+write\b/i;
const WRITE = /\bwrite\b/i;
const WRITE_STATEMENT = /\b(insert|update|delete|replace)\b/i;

function writesStatement(buf: Buffer, from: number, to: number, d: SqlDialect): boolean {
  const words = leadingWords(buf, from, to, d, 4);
  if (words === undefined) return true;
  // An empty statement (after the last ';').
  if (words.length === 0) return false;
  const text = (): string => buf.toString('latin1', from, to);
  switch (words[0]) {
    // A locking read of a table (FOR UPDATE; LOCK IN SHARE MODE passes).
    case 'SELECT':
    case 'WITH':
      return FOR_UPDATE.test(text());
    case 'START':
      return READ_WRITE.test(text());
    case 'LOCK':
      return WRITE.test(text());
    case 'CREATE':
    case 'DROP':
      return words[1] !== 'TEMPORARY' && !(words[1] === 'OR' && words[3] === 'TEMPORARY');
    // EXPLAIN UPDATE is refused as the UPDATE; DESC t and ANALYZE SELECT pass, ANALYZE TABLE not.
    case 'EXPLAIN':
    case 'DESCRIBE':
    case 'DESC':
      return WRITE_STATEMENT.test(text());
    case 'ANALYZE':
      return (words[1] !== 'SELECT' && words[1] !== 'FORMAT') || WRITE_STATEMENT.test(text());
    default:
      return !READS.has(words[0]);
  }
}

/**
 * Which of a connection's prepared statements write nothing (writesSql of their text), for the
 * executes a read-only server serves: ids the server gave, and the last prepare sent (MariaDB's
 * statement 0xFFFFFFFF, which the MariaDB connector executes before the prepare's reply comes).
 * Statement ids are never reused on a connection: one closed is forgotten, for memory's sake.
 */
export class PreparedReads {
  private readonly reads = new Set<number>();
  private lastSent = false;

  /** A COM_STMT_PREPARE of the text in bytes [from, to) of `buf` is sent; whole: all of it is there. Whether it reads only. */
  sent(buf: Buffer, from: number, to: number, whole: boolean): boolean {
    this.lastSent = whole && !writesSql(buf, from, to);
    return this.lastSent;
  }

  /** The server prepared statement `id` of a prepare that `readOnly`. */
  prepared(id: number, readOnly: boolean): void {
    if (readOnly) this.reads.add(id);
  }

  closed(id: number): void {
    this.reads.delete(id);
  }

  /** COM_RESET_CONNECTION, COM_CHANGE_USER: the server closes every statement. */
  reset(): void {
    this.reads.clear();
  }

  readsOnly(id: number): boolean {
    return id === 0xffffffff ? this.lastSent : this.reads.has(id);
  }
}
