/**
 * The temporary tables a MySQL connection made through the proxy, for 1290: a read-only MariaDB
 * serves a session's writes to its own temporary tables (checked on 10.11 with read_only=1, a
 * user without READ ONLY ADMIN: INSERT, REPLACE, UPDATE, DELETE, TRUNCATE, ALTER, DROP TABLE of
 * one are served; the same write once it is dropped, or to the name in other letter case, gets
 * 1290), so the proxy asked for 1290 lets them through.
 *
 * Learned from the queries as they pass, at a cost only to the rare ones: a query's first bytes
 * say whether it may create a temporary table (CREATE), or, once the connection has one, drop or
 * rename it, or change the database its unqualified name is in (DROP, ALTER, RENAME, USE, a
 * CALL, an EXECUTE); only those, a leading comment's, and on a connection with multi-statements
 * one holding a ';', are read (sentQuery). What a query does counts as its reply comes (a query
 * refused by an injected error never reaching the server): a table made once the reply to its
 * CREATE is no ERR, a drop, rename or change of database whatever the reply. What cannot be
 * read for sure leans to refusing: a name written otherwise (qualified where it was not, other
 * quotes) is not taken for the table, a CALL or EXECUTE that may drop one, a change of database,
 * a text not read for sure forget what they may touch.
 */
import { eachStatement, type SqlDialect } from './sql-statements.js';

const IDENT = '(?:`(?:[^`]|``)+`|[\\w$\\x80-\\xff]+)';
const NAME = `${IDENT}(?:\\s*\\.\\s*${IDENT})?`;
/** A name ends where no identifier character nor a '.' follows (not `tt` of `tt2`). */
const END = '(?![\\w$.\\x80-\\xff`])';
const NAMES = new RegExp(NAME, 'g');
const IDENTS = new RegExp(IDENT, 'g');

const CREATE = new RegExp(`^create\\s+(?:or\\s+replace\\s+)?temporary\\s+table\\s+(?:if\\s+not\\s+exists\\s+)?(${NAME})${END}`, 'i');
const DROP = new RegExp(`^drop\\s+(?:temporary\\s+)?table\\s+(?:if\\s+exists\\s+)?(${NAME}(?:\\s*,\\s*${NAME})*)\\s*(?:restrict|cascade)?\\s*$`, 'i');
const ALTER = new RegExp(`^alter\\s+(?:online\\s+)?(?:ignore\\s+)?table\\s+(${NAME})${END}`, 'i');
/** Statements writing one table, named: served on a read-only server if it is the session's temporary table. */
const WRITES_ONE = [
  new RegExp(`^(?:insert|replace)\\s+(?:(?:low_priority|delayed|high_priority|ignore)\\s+)*(?:into\\s+)?(${NAME})${END}`, 'i'),
  new RegExp(`^update\\s+(?:(?:low_priority|ignore)\\s+)*(${NAME})\\s+set\\s`, 'i'),
  new RegExp(`^delete\\s+(?:(?:low_priority|quick|ignore)\\s+)*from\\s+(${NAME})(?:\\s+(?:where|order|limit|returning)\\s|\\s*$)`, 'i'),
  new RegExp(`^truncate\\s+(?:table\\s+)?(${NAME})\\s*$`, 'i'),
  ALTER,
];

/** A table's name as the server tells tables apart: backquotes off, the database before a NUL. */
function nameOf(written: string): string {
  return (written.match(IDENTS) ?? []).map((id) => (id.startsWith('`') ? id.slice(1, -1).replace(/``/g, '`') : id)).join('\0');
}

/**
 * The tables a statement (its text from its first word) writes, when it writes only tables it
 * names: DROP TABLE's list, or one table of a single-table INSERT, REPLACE, UPDATE, DELETE,
 * TRUNCATE or ALTER; undefined for any other.
 */
export function tablesWritten(text: string): string[] | undefined {
  const drop = DROP.exec(text);
  if (drop) return (drop[1].match(NAMES) ?? []).map(nameOf);
  for (const re of WRITES_ONE) {
    const m = re.exec(text);
    if (m) return [nameOf(m[1])];
  }
  return undefined;
}

/** The temporary table a statement (its text from its first word) creates, if it does. */
export function temporaryCreated(text: string): string | undefined {
  const m = CREATE.exec(text);
  return m ? nameOf(m[1]) : undefined;
}

const enum Touch { None, Create, Other }
const SEMI = 0x3b;
const STAR_SLASH = Buffer.from('*/');

/**
 * What the statement starting with bytes `c0`, `c1` (a first word's first two, any case) may do
 * to the temporary tables: CREATE one; DROP, ALTER, RENAME one, USE another database, CALL or
 * EXECUTE what may do either.
 */
function touch(c0: number, c1: number): Touch {
  const w = ((c0 | 0x20) << 8) | (c1 | 0x20);
  if (w === 0x6372 /* cr */) return Touch.Create;
  return w === 0x6472 /* dr */ || w === 0x616c /* al */ || w === 0x7265 /* re */ || w === 0x7573 /* us */
    || w === 0x6361 /* ca */ || w === 0x6578 /* ex */ ? Touch.Other : Touch.None;
}

/** Where the first word is, past blanks, parentheses and plain comments from `i`; -1 if unsure (an executable comment). */
function firstWord(buf: Buffer, i: number, to: number): number {
  while (i < to) {
    const c = buf[i];
    if (c <= 0x20 || c === 0x28) {
      i++;
    } else if (c === 0x23 || (c === 0x2d && buf[i + 1] === 0x2d)) {
      const lf = buf.indexOf(0x0a, i);
      if (lf < 0 || lf >= to) return to;
      i = lf + 1;
    } else if (c === 0x2f && buf[i + 1] === 0x2a) {
      if (buf[i + 2] === 0x21 || (buf[i + 2] | 0x20) === 0x6d) return -1;
      const end = buf.indexOf(STAR_SLASH, i + 2);
      if (end < 0 || end + 2 > to) return -1;
      i = end + 2;
    } else {
      return i;
    }
  }
  return i;
}

/** Blanks and plain comments before a statement's first word (an executable one is left: the text is then not read). */
const LEADING = /^(?:\s|\(|\/\*(?![Mm]?!)[\s\S]*?\*\/|#[^\n]*(?:\n|$)|--(?:\s[^\n]*)?(?:\n|$))*/;

/** The statement in bytes [start, end) of `buf` from its first word. */
export function statementText(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, end).replace(LEADING, '');
}

/**
 * A statement (its text from its first word) runs in a session whose temporary tables are
 * `names`: the one it creates (to count once the server says so), or undefined; what it may
 * drop, rename or hide is taken out of `names` (all of them where it cannot tell).
 */
export function follow(names: Set<string>, text: string): string | undefined {
  const created = temporaryCreated(text);
  if (created !== undefined || names.size === 0) return created;
  // An executable comment's text (mysqldump's /*!40101 ...) is not read here.
  if (text.startsWith('/*')) {
    names.clear();
    return undefined;
  }
  switch (/^\w*/.exec(text)![0].toUpperCase()) {
    case 'USE':
      unqualifiedOut(names);
      break;
    // A routine or a prepared statement may drop any; RENAME TABLE of one renames it.
    case 'CALL':
    case 'EXECUTE':
    case 'RENAME':
      names.clear();
      break;
    case 'DROP': {
      if (!/^drop\s+(?:temporary\s+)?table\s/i.test(text)) break;
      const dropped = tablesWritten(text);
      if (dropped === undefined) names.clear();
      else for (const name of dropped) names.delete(name);
      break;
    }
    case 'ALTER': {
      if (!/\brename\b/i.test(text)) break;
      const m = ALTER.exec(text);
      if (m) names.delete(nameOf(m[1]));
      else names.clear();
      break;
    }
    case 'CREATE':
      if (/^create\s+or\s+replace\s+table\s/i.test(text)) names.clear();
  }
  return undefined;
}

/** Unqualified names, once the default database changes, name another database's tables. */
function unqualifiedOut(names: Set<string>): void {
  for (const name of names) if (!name.includes('\0')) names.delete(name);
}

/** What a query does to the session's temporary tables, counted as its reply comes. */
export interface TemporaryChange {
  /** Made, unless the reply is an ERR. */
  created: string[];
  /** Dropped, renamed, hidden, or not known any more: forgotten whatever the reply. */
  dropped: string[];
}

export class TemporaryTables {
  private readonly names = new Set<string>();

  /** The connection's temporary tables known (a copy, for a refusal to follow along a query's own statements). */
  known(): Set<string> {
    return new Set(this.names);
  }

  /** COM_RESET_CONNECTION, COM_CHANGE_USER: the server drops every one. */
  clear(): void {
    this.names.clear();
  }

  /** COM_INIT_DB. */
  databaseChanged(): void {
    unqualifiedOut(this.names);
  }

  /** The server's reply to a query that makes `change` came; `failed`: an ERR. */
  replied(change: TemporaryChange, failed: boolean): void {
    for (const name of change.dropped) this.names.delete(name);
    if (!failed) for (const name of change.created) this.names.add(name);
  }

  /**
   * A COM_QUERY's SQL text, bytes [from, to) of `buf` (`whole`: all of it; undefined: where it
   * starts is not known), is framed; `multi`: the connection runs several statements a query.
   * What it does to the temporary tables, to count as its reply comes (the query may yet be
   * refused, or answered by an injected error, and never reach the server), or undefined.
   */
  sentQuery(buf: Buffer, from: number | undefined, to: number, whole: boolean, multi: boolean, d: SqlDialect): TemporaryChange | undefined {
    if (from === undefined) return this.names.size > 0 ? { created: [], dropped: [...this.names] } : undefined;
    const i = firstWord(buf, from, to);
    if (i >= 0 && i + 1 < to) {
      const t = touch(buf[i], buf[i + 1]);
      if (t === Touch.None || (t === Touch.Other && this.names.size === 0)) {
        if (!multi) return undefined;
        const semi = buf.indexOf(SEMI, i);
        if (semi < 0 || semi >= to) return undefined;
      }
    } else if (i >= 0) {
      return undefined;
    }
    return this.read(buf, from, to, whole, d);
  }

  private read(buf: Buffer, from: number, to: number, whole: boolean, d: SqlDialect): TemporaryChange | undefined {
    const after = new Set(this.names);
    const read = whole && eachStatement(buf, from, to, d, (start, end) => {
      const name = follow(after, statementText(buf, start, end));
      if (name !== undefined) after.add(name);
      return false;
    });
    if (!read) after.clear();
    const created = [...after].filter((name) => !this.names.has(name));
    const dropped = [...this.names].filter((name) => !after.has(name));
    return created.length > 0 || dropped.length > 0 ? { created, dropped } : undefined;
  }
}
