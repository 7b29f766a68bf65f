/**
 * What a read-only MariaDB refuses with 1290 (checked on 10.11 with read_only=1, a user without
 * READ ONLY ADMIN): the statements that write, read from a query's or a prepared statement's
 * text, and what the session's earlier statements left that decides some (its temporary tables,
 * its SQL prepared statements: SqlState, followed statement by statement).
 */
import { eachStatement, leadingWords, type SqlDialect } from './sql-statements.js';
import { MYSQL_SQL } from './commit.js';
import { alteredTable, nameOf, statementText, tablesWritten, temporaryCreated } from './mysql-temporary.js';
import { tablesOfSeveral } from './mysql-table-refs.js';

/** Statements as the server runs them: an executable comment's text too (mysqldump's `/*!40101 SET NAMES utf8`). */
export const MYSQL_RUN: SqlDialect = { ...MYSQL_SQL, executable: true };

/** What a statement writes: nothing (false), only the tables named (a write to a temporary table is served), or anything (true). */
export type Writes = boolean | readonly string[];

/** A prepared statement's text, for its execute: what it writes, and whether it may drop or rename a temporary table. */
export interface NamedStatement {
  writes: Writes;
  forgets: boolean;
}

/** What a session's earlier statements left that a read-only server judges a statement by. */
export interface SqlState {
  /** Its temporary tables (mysql-temporary.ts' names), qualified by their database when it is known. */
  temporary: Set<string>;
  /** Its SQL prepared statements (PREPARE s FROM '...'), by name in lower case. */
  named: Map<string, NamedStatement>;
  /**
   * Statements may be prepared under names `named` does not hold (a routine's PREPARE, a text not
   * read); while not, an EXECUTE of a name it does not hold runs nothing (the server answers 1243).
   */
  namedUnknown: boolean;
  /** Its default database, if known (the login's, COM_INIT_DB's, USE's): an unqualified name's. */
  database: string | undefined;
}

export function copyState(state: SqlState): SqlState {
  return { temporary: new Set(state.temporary), named: new Map(state.named), namedUnknown: state.namedUnknown, database: state.database };
}

/** A table's name (nameOf) qualified by the default database `database`, when it is not and that is known. */
function qualified(name: string, database: string | undefined): string {
  return database === undefined || name.includes('\0') ? name : `${database}\0${name}`;
}

/**
 * Whether the SQL text in bytes [from, to) of `buf` holds a statement a read-only MariaDB
 * refuses, or one it cannot read for sure. Reads pass: SELECT (not FOR UPDATE), SHOW, SET, DO,
 * transaction control (not START TRANSACTION READ WRITE), LOCK TABLES ... READ, a temporary
 * table's CREATE and DROP, EXPLAIN of a read, PREPARE (the server refuses the EXECUTE of a
 * write), an executable comment's text when it reads; so do FLUSH, RESET and the like (READS).
 * A sequence's NEXTVAL or SETVAL (in a SELECT, a DO, a SET) writes, as do SET PASSWORD and SET
 * STATEMENT ... FOR a write. A statement on accounts is refused, and answered as the server
 * does (1227 to a user without CREATE USER, 1044 to SET PASSWORD FOR another account from one
 * who may not update the mysql database: mysql-privilege.ts).
 *
 * Some are refused with 1290 where the server answers otherwise, by what is not on the wire
 * (the server behind is writable: what passes is done). REPAIR TABLE of a table not temporary:
 * the server answers it with a result set, two rows a table whatever its engine ('Error', the
 * read-only message, then 'error', 'Corrupt'; for a table not there 'Error', 'Table ... doesn't
 * exist', then 'status', 'Operation failed'); an ERR stands for it, as which tables exist is
 * the server's to say. ANALYZE TABLE: refused whole (1290) when one of its tables is InnoDB
 * (persistent statistics or not) or Aria, served otherwise: a MyISAM table's rows ('status',
 * 'OK' or 'Table is already up to date'), a MEMORY table's note, a missing table's two rows;
 * the engines are the server's, and 1290 is its answer for the default one. Asking the server
 * behind would take a query of the engines and then, by its answer, the ANALYZE itself, where a
 * stand-in is one request (checked on 10.11 read_only=1, user app). A CALL: the server runs the routine, and refuses its first write (after the result
 * sets of the statements before it) if the routine runs without READ ONLY ADMIN (SQL SECURITY
 * INVOKER, or a DEFINER without it; a routine of root's writes); its body, its definer and
 * their privileges are the server's, and its declared SQL data access is not enforced (checked
 * on 10.11: a routine declared READS SQL DATA gets 1290 at its INSERT), so passed, a CALL's
 * writes would be done where the server would refuse them.
 *
 * Given the session's `state` (a copy, followed along the text's statements: a CREATE TEMPORARY
 * TABLE then a write to it), a write to its temporary tables only passes, as the server serves
 * it (a lock of their rows or of them too: mysql-table-refs.ts), and an EXECUTE as the
 * statement it runs: one the session prepared from a literal text, EXECUTE IMMEDIATE of one; of
 * a name the session has not prepared, it passes (the server answers 1243 Unknown prepared
 * statement handler, read-only or not); any other EXECUTE is refused.
 */
export function writesSql(buf: Buffer, from: number, to: number, d: SqlDialect = MYSQL_RUN, state?: SqlState): boolean {
  return firstWrite(buf, from, to, d, state) >= 0;
}

/**
 * Where the first statement of bytes [from, to) of `buf` that writesSql refuses starts (`from`
 * when the text cannot be read for sure), or -1: none. The server runs those before it, and
 * stops there.
 */
export function firstWrite(buf: Buffer, from: number, to: number, d: SqlDialect = MYSQL_RUN, state?: SqlState): number {
  let at = -1;
  const read = eachStatement(buf, from, to, d, (start, end) => {
    let write = writesStatement(buf, start, end, d);
    if (state !== undefined) {
      const text = statementText(buf, start, end);
      if (write) write = !served(text, state, d);
      follow(state, text);
    }
    if (write) at = start;
    return write;
  });
  return read ? at : from;
}

/** What the text in bytes [from, to) of `buf`, one statement, writes (a prepared statement's). */
export function writesOf(buf: Buffer, from: number, to: number): Writes {
  if (!writesSql(buf, from, to)) return false;
  return tablesOnly(statementText(buf, from, to)) ?? true;
}

/** Whether a statement (its text from its first word) may drop or rename a temporary table, run as a prepared statement. */
export function forgets(text: string): boolean {
  return FORGETS.test(text);
}
const FORGETS = /^(?:drop|alter|rename|call|execute|create)\b/i;

/**
 * The tables a write (its text from its first word) writes or locks, when it names them all,
 * and no sequence: a SELECT ... FOR UPDATE the tables whose rows it locks, no other statement
 * a row it locks (INSERT ... SELECT ... FOR UPDATE).
 */
function tablesOnly(text: string): string[] | undefined {
  if (SEQUENCE_WRITE.test(text)) return undefined;
  if (FOR_UPDATE.test(text) && !/^select\b/i.test(text)) return undefined;
  return tablesWritten(text) ?? tablesOfSeveral(text);
}

/** Whether `writes` is served in a session in `state`: they write only its temporary tables. */
export function servedWrites(writes: Writes | undefined, state: SqlState): boolean {
  return writes === false || (Array.isArray(writes) && writes.every((name) => state.temporary.has(qualified(name, state.database))));
}

/** Whether a write (its text from its first word) is served all the same, by the session's `state`. */
function served(text: string, state: SqlState, d: SqlDialect): boolean {
  const immediate = EXECUTE_IMMEDIATE.exec(text);
  if (immediate) {
    const sql = Buffer.from(literal(immediate[1]), 'latin1');
    return !writesSql(sql, 0, sql.length, d, state);
  }
  const execute = EXECUTE.exec(text);
  if (execute) {
    const named = state.named.get(nameOf(execute[1]).toLowerCase());
    return named === undefined ? !state.namedUnknown : servedWrites(named.writes, state);
  }
  return state.temporary.size > 0 && servedWrites(tablesOnly(text), state);
}

const IDENT = '(`(?:[^`]|``)+`|[\\w$\\x80-\\xff]+)';
/** A quoted text, without a backslash (an escape or not, by the session's sql_mode). */
const LITERAL = "'((?:[^'\\\\]|'')*)'";
const USING = '(?:\\s+using\\s[\\s\\S]*)?\\s*$';
const PREPARE = new RegExp(`^prepare\\s+${IDENT}\\s+from\\s+(?:${LITERAL}\\s*$)?`, 'i');
const DEALLOCATE = new RegExp(`^(?:deallocate|drop)\\s+prepare\\s+${IDENT}\\s*$`, 'i');
const EXECUTE = new RegExp(`^execute\\s+(?!immediate\\b)${IDENT}${USING}`, 'i');
const EXECUTE_IMMEDIATE = new RegExp(`^execute\\s+immediate\\s+${LITERAL}${USING}`, 'i');

function literal(quoted: string): string {
  return quoted.replace(/''/g, "'");
}

/** A statement prepared from a text not read (PREPARE s FROM @sql): it may write, drop or rename anything. */
const UNREAD: NamedStatement = { writes: true, forgets: true };

/** Statements may now be prepared under any name (a routine's PREPARE), or the session's are not known. */
function namesUnknown(state: SqlState): void {
  state.named.clear();
  state.namedUnknown = true;
}

/** The statement a literal text prepares, for its executes. */
function namedOf(text: string): NamedStatement {
  const sql = Buffer.from(text, 'latin1');
  return { writes: writesOf(sql, 0, sql.length), forgets: forgets(statementText(sql, 0, sql.length)) };
}

/**
 * A statement (its text from its first word) runs in a session in `state`: what it creates,
 * prepares or deallocates is taken in; what it may drop, rename or hide is taken out (all of it
 * where it cannot tell).
 */
export function follow(state: SqlState, text: string): void {
  const { temporary, named } = state;
  const created = temporaryCreated(text);
  if (created !== undefined) {
    temporary.add(qualified(created, state.database));
    return;
  }
  // An executable comment's text (mysqldump's /*!40101 ...) is not read here.
  if (text.startsWith('/*')) {
    temporary.clear();
    return namesUnknown(state);
  }
  switch (/^\w*/.exec(text)![0].toUpperCase()) {
    case 'PREPARE': {
      const m = PREPARE.exec(text);
      if (!m) namesUnknown(state);
      else if (m[2] === undefined) named.set(nameOf(m[1]).toLowerCase(), UNREAD);
      else named.set(nameOf(m[1]).toLowerCase(), namedOf(literal(m[2])));
      return;
    }
    case 'DEALLOCATE':
      return deallocate(state, text);
    case 'DROP':
      if (/^drop\s+prepare\s/i.test(text)) return deallocate(state, text);
      break;
    case 'USE': {
      const use = USE.exec(text);
      state.database = use ? nameOf(use[1]) : undefined;
      return unqualifiedOut(temporary);
    }
    // A routine may prepare a statement of any name (checked: a CALL's PREPARE replaces the
    // session's), drop or rename any temporary table.
    case 'CALL':
      temporary.clear();
      return namesUnknown(state);
    case 'EXECUTE': {
      const immediate = EXECUTE_IMMEDIATE.exec(text);
      const sql = immediate ? literal(immediate[1]) : undefined;
      if (sql !== undefined) {
        follow(state, statementText(Buffer.from(sql, 'latin1'), 0, sql.length));
      } else {
        const execute = EXECUTE.exec(text);
        const statement = execute ? named.get(nameOf(execute[1]).toLowerCase()) : undefined;
        // One that may drop a table or CALL a routine; one not prepared runs nothing.
        if (statement === undefined ? !execute || state.namedUnknown : statement.forgets) {
          temporary.clear();
          namesUnknown(state);
        }
      }
      return;
    }
  }
  if (temporary.size > 0) followTemporary(temporary, text, state.database);
}
const USE = new RegExp(`^use\\s+${IDENT}\\s*$`, 'i');

function deallocate(state: SqlState, text: string): void {
  const m = DEALLOCATE.exec(text);
  if (m) state.named.delete(nameOf(m[1]).toLowerCase());
  else namesUnknown(state);
}

/**
 * What a statement other than a CREATE TEMPORARY TABLE, a PREPARE, an EXECUTE or a USE may drop,
 * rename or hide of `temporary`, in default database `database`.
 */
function followTemporary(temporary: Set<string>, text: string, database: string | undefined): void {
  switch (/^\w*/.exec(text)![0].toUpperCase()) {
    // RENAME TABLE of one renames it.
    case 'RENAME':
      return temporary.clear();
    case 'DROP': {
      if (!/^drop\s+(?:temporary\s+)?table\s/i.test(text)) return;
      const dropped = tablesWritten(text);
      if (dropped === undefined) temporary.clear();
      else for (const name of dropped) temporary.delete(qualified(name, database));
      return;
    }
    case 'ALTER': {
      if (!/\brename\b/i.test(text)) return;
      const altered = alteredTable(text);
      if (altered !== undefined) temporary.delete(qualified(altered, database));
      else temporary.clear();
      return;
    }
    case 'CREATE':
      if (/^create\s+or\s+replace\s+table\s/i.test(text)) temporary.clear();
  }
}

/** Names kept unqualified (the default database not known), once it changes, name another database's tables. */
export function unqualifiedOut(temporary: Set<string>): void {
  for (const name of temporary) if (!name.includes('\0')) temporary.delete(name);
}

/**
 * First words of a statement a read-only server does not refuse, by themselves: reads, and the
 * statements that change no data (FLUSH, RESET: MariaDB answers them as a writable server does,
 * 1227 to a user without RELOAD, served to one with it), a replica's and a backup's (PURGE,
 * BACKUP STAGE, STOP SLAVE, CHANGE MASTER), a key cache's (CACHE INDEX).
 */
const READS = new Set([
  'SHOW', 'HELP', 'BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'USE',
  'HANDLER', 'UNLOCK', 'CHECK', 'CHECKSUM', 'PREPARE', 'DEALLOCATE', 'XA', 'KILL', 'SIGNAL', 'RESIGNAL', 'GET',
  'FLUSH', 'RESET', 'PURGE', 'BACKUP', 'STOP', 'CHANGE', 'CACHE',
]);

const FOR_UPDATE = /\bfor\s+update\b/i;
const SEQUENCE_WRITE = /\b(nextval|setval)\s*\(|\bnext\s+value\s+for\b/i;
const FOR = /\bfor\b/i;
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
      return FOR_UPDATE.test(text()) || SEQUENCE_WRITE.test(text());
    case 'VALUES':
    case 'DO':
      return SEQUENCE_WRITE.test(text());
    case 'SET':
      return words[1] === 'PASSWORD' || (words[1] === 'STATEMENT' ? writesAfterFor(buf, from, to, d) : SEQUENCE_WRITE.test(text()));
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
    // LOAD INDEX INTO CACHE; LOAD DATA and LOAD XML write.
    case 'LOAD':
      return words[1] !== 'INDEX';
    default:
      return !READS.has(words[0]);
  }
}

/** SET STATEMENT's settings, then FOR and the statement it runs: whether that one writes. */
function writesAfterFor(buf: Buffer, from: number, to: number, d: SqlDialect): boolean {
  const at = buf.toString('latin1', from, to).search(FOR);
  return at < 0 || writesStatement(buf, from + at + 3, to, d);
}

