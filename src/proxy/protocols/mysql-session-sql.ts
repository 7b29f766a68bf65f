/**
 * What a MySQL connection's statements leave on the server that 1290 judges its later ones by
 * (mysql-read-only.ts' SqlState): its temporary tables, whose writes a read-only server serves,
 * and its SQL prepared statements, whose EXECUTE it refuses or serves as their text.
 *
 * Learned from the queries as they pass, at a cost only to the rare ones: a query's first word's
 * first three bytes, past blanks and plain comments (no allocation), say whether it may create a
 * temporary table, prepare a statement or change the default database (CREATE, PREPARE, USE),
 * or, once the connection has either, drop, rename or hide one (DROP, ALTER, RENAME, CALL,
 * EXECUTE, DEALLOCATE); only those, and on a connection with multi-statements a text holding a
 * ';', are read. What a query does counts as its reply comes (a query refused by an injected
 * error never reaching the server): what it makes once the reply is no ERR (a failed PREPARE
 * leaves no statement of its name), what it drops whatever the reply. The default database (the
 * login's, COM_INIT_DB's, USE's) qualifies the tables' names, as the server resolves them. What
 * cannot be read for sure leans to refusing: a CALL, an EXECUTE that may drop a table, a text
 * not read for sure forget what they may touch.
 */
import { eachStatement, type SqlDialect } from './sql-statements.js';
import { copyState, follow, unqualifiedOut, type NamedStatement, type SqlState } from './mysql-read-only.js';
import { statementText } from './mysql-temporary.js';

/** What a request does to the session's SqlState, counted as its reply comes. */
export interface SqlChange {
  /** Temporary tables made, unless the reply is an ERR. */
  created: string[];
  /** Temporary tables dropped, renamed, hidden or not known any more: forgotten whatever the reply. */
  dropped: string[];
  /** Prepared statements made (an ERR: none of the name) or deallocated (undefined). */
  named: [string, NamedStatement | undefined][];
  /** The default database it changes to (unless the reply is an ERR), if it does. */
  database?: { to: string | undefined };
  /** Statements may be prepared under names not known (SqlState.namedUnknown), whatever the reply. */
  namedUnknown?: true;
}

const enum Touch { None, Make, Other, Runs }
const SEMI = 0x3b;
const STAR_SLASH = Buffer.from('*/');

/**
 * What the statement starting with bytes `c0`, `c1`, `c2` (a first word's first three, any case)
 * may do: make a temporary table or a prepared statement, or change the default database
 * (CREATE, PREPARE, USE); drop, rename or hide one (DROP, ALTER, RENAME, DEALLOCATE: not
 * DELETE, REPLACE nor EXPLAIN); run others, which may prepare a statement of any name too (CALL,
 * EXECUTE).
 */
function touch(c0: number, c1: number, c2: number): Touch {
  const w = ((c0 | 0x20) << 16) | ((c1 | 0x20) << 8) | (c2 | 0x20);
  if (w === 0x637265 /* cre */ || w === 0x707265 /* pre */ || w === 0x757365 /* use */) return Touch.Make;
  if (w === 0x63616c /* cal */ || w === 0x657865 /* exe */) return Touch.Runs;
  return w === 0x64726f /* dro */ || w === 0x616c74 /* alt */ || w === 0x72656e /* ren */ || w === 0x646561 /* dea */ ? Touch.Other : Touch.None;
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

export class SessionSql {
  private readonly state: SqlState = { temporary: new Set(), named: new Map(), namedUnknown: false, database: undefined };

  /** A copy, for a refusal to follow along a query's own statements. */
  snapshot(): SqlState {
    return copyState(this.state);
  }

  /** The connection has temporary tables or SQL prepared statements. */
  holdsAny(): boolean {
    return this.state.temporary.size > 0 || this.state.named.size > 0;
  }

  /** What a routine may prepare changes what is known (SqlState.namedUnknown: not yet). */
  namesKnown(): boolean {
    return !this.state.namedUnknown;
  }

  /** The login, to default database `database` (if it names one and it was read). */
  loggedIn(database: string | undefined): void {
    this.state.database = database;
  }

  /**
   * COM_RESET_CONNECTION, COM_CHANGE_USER: the server drops every temporary table and prepared
   * statement (the default database, after a change of user the new one's, is not read).
   */
  clear(): void {
    this.state.temporary.clear();
    this.state.named.clear();
    this.state.namedUnknown = false;
    this.state.database = undefined;
  }

  /** COM_INIT_DB of the name in bytes [from, to) of `buf`. */
  databaseSent(buf: Buffer, from: number, to: number): SqlChange {
    return { created: [], dropped: [], named: [], database: { to: buf.toString('latin1', from, to) } };
  }

  /**
   * An execute of a statement that may drop or rename any temporary table, or prepare any
   * statement (a CALL): they are forgotten as its reply comes.
   */
  mayDrop(): SqlChange {
    return { created: [], dropped: [...this.state.temporary], named: [...this.state.named.keys()].map((name) => [name, undefined]), namedUnknown: true };
  }

  /** The server's reply to a request that makes `change` came; `failed`: an ERR. */
  replied(change: SqlChange, failed: boolean): void {
    const { temporary, named } = this.state;
    for (const name of change.dropped) temporary.delete(name);
    if (change.namedUnknown) this.state.namedUnknown = true;
    if (!failed) for (const name of change.created) temporary.add(name);
    if (!failed && change.database !== undefined) {
      this.state.database = change.database.to;
      unqualifiedOut(temporary);
    }
    for (const [name, statement] of change.named) {
      if (failed || statement === undefined) named.delete(name);
      else named.set(name, statement);
    }
  }

  /**
   * A COM_QUERY's SQL text, bytes [from, to) of `buf` (`whole`: all of it; undefined: where it
   * starts is not known), is framed; `multi`: the connection runs several statements a query.
   * What it does, to count as its reply comes (the query may yet be refused, or answered by an
   * injected error, and never reach the server), or undefined.
   */
  sentQuery(buf: Buffer, from: number | undefined, to: number, whole: boolean, multi: boolean, d: SqlDialect): SqlChange | undefined {
    if (from === undefined) return this.read(buf, 0, 0, false, d);
    const i = firstWord(buf, from, to);
    if (i >= 0 && i + 2 < to) {
      const t = touch(buf[i], buf[i + 1], buf[i + 2]);
      if (t === Touch.None || (t !== Touch.Make && !this.holdsAny() && (t === Touch.Other || this.state.namedUnknown))) {
        if (!multi) return undefined;
        const semi = buf.indexOf(SEMI, i);
        if (semi < 0 || semi >= to) return undefined;
      }
    } else if (i >= 0) {
      return undefined;
    }
    return this.read(buf, from, to, whole, d);
  }

  private read(buf: Buffer, from: number, to: number, whole: boolean, d: SqlDialect): SqlChange | undefined {
    const before = this.state;
    const after = copyState(before);
    const read = whole && eachStatement(buf, from, to, d, (start, end) => {
      follow(after, statementText(buf, start, end));
      return false;
    });
    if (!read) {
      after.temporary.clear();
      after.named.clear();
      after.namedUnknown = true;
    }
    const named: [string, NamedStatement | undefined][] = [];
    for (const [name, statement] of after.named) if (before.named.get(name) !== statement) named.push([name, statement]);
    for (const name of before.named.keys()) if (!after.named.has(name)) named.push([name, undefined]);
    const created = [...after.temporary].filter((name) => !before.temporary.has(name));
    const dropped = [...before.temporary].filter((name) => !after.temporary.has(name));
    const database = after.database !== before.database ? { to: after.database } : undefined;
    const namedUnknown = after.namedUnknown && !before.namedUnknown ? true : undefined;
    return created.length > 0 || dropped.length > 0 || named.length > 0 || database !== undefined || namedUnknown
      ? { created, dropped, named, database, namedUnknown }
      : undefined;
  }
}
