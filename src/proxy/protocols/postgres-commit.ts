/**
 * PostgreSQL's COMMIT that draws an injected error (commit.ts): the requests that are one, and
 * what the server is sent in their place. A simple Query that is a COMMIT, or holds one; an
 * extended-protocol batch that parses a COMMIT and runs it; or one that runs a statement parsed
 * as COMMIT before it, by name (JDBC names its COMMIT after prepareThreshold uses, then sends it
 * as Bind/Execute/Sync alone). The session notes those names as the client parses them.
 */
import { int32BE } from './length-prefixed.js';
import { commitAt, PG_SQL } from './commit.js';
import { eachStatement, isCommit, leadingWords } from './sql-statements.js';

const T = (c: string): number => c.charCodeAt(0);
const Q = T('Q'), PARSE = T('P'), BIND = T('B'), DESCRIBE = T('D'), EXECUTE = T('E'), SYNC = T('S'), CLOSE = T('C');

/** A simple Query ROLLBACK, sent in place of a COMMIT that draws an error. */
const ROLLBACK = Buffer.from([Q, 0, 0, 0, 13, ...Buffer.from('ROLLBACK\0', 'latin1')]);

function message(type: number, body: string): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  out.write(body, 5, 'latin1');
  return out;
}

/**
 * ROLLBACK in the extended protocol, in place of a COMMIT run by a statement the request does not
 * parse as the unnamed one: a statement of its own, parsed, bound to the unnamed portal (as the
 * COMMIT's Bind would have), run and closed, then Sync. A simple Query would drop the unnamed
 * statement, which the failing COMMIT leaves (checked on PostgreSQL 15: a COMMIT of a statement
 * prepared by name, failing on a deferred unique constraint, leaves the unnamed one bound after
 * it): a client that prepared it before (JDBC's unnamed statements, libpq's PQprepare with "")
 * got 26000 binding it again. Without its Sync (ROLLBACK_RUN), in place of the Execute of a
 * COMMIT that draws an error in a later read (postgres-later.ts).
 */
export const ROLLBACK_RUN = Buffer.concat([
  message(PARSE, 'marteau_tui_rollback\0ROLLBACK\0\0\0'),
  message(BIND, '\0marteau_tui_rollback\0\0\0\0\0\0\0'),
  message(EXECUTE, '\0\0\0\0\0'),
  message(CLOSE, 'Smarteau_tui_rollback\0'),
]);
const ROLLBACK_EXTENDED = Buffer.concat([ROLLBACK_RUN, message(SYNC, '')]);

/** DISCARD ALL, DEALLOCATE [ALL]: prepared statements may go without a Close. */
const FORGETS = /^\s*(discard|deallocate)\b/i;

/** Statement kinds that return rows only with RETURNING (PostgreSQL 15's MERGE has none). */
const ROWLESS_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const RETURNING = /returning/i;
/** The rowless statements kept by name, at most: past them, a statement is taken to return rows. */
const MAX_ROWLESS = 1024;

/**
 * Whether the statement text at [from, to) of `buf` returns no rows for sure: an INSERT, UPDATE,
 * DELETE or MERGE with no RETURNING anywhere in it (a word that holds it, a column's name, leaves
 * it unsure). A rule on its table could make it another statement: not looked for.
 */
function rowless(buf: Buffer, from: number, to: number): boolean {
  // A SELECT, the common case, is told by its first byte: a letter none of those words begins with.
  const c = from < to ? buf[from] | 0x20 : 0;
  if (c >= 0x61 && c <= 0x7a && c !== 0x69 && c !== 0x75 && c !== 0x64 && c !== 0x6d) return false;
  const words = leadingWords(buf, from, to, PG_SQL, 1);
  return words !== undefined && words.length === 1 && ROWLESS_WORDS.has(words[0]) && !RETURNING.test(buf.toString('latin1', from, to));
}

/**
 * Names of the statements a connection's client parsed as a COMMIT, and not closed since; and of
 * those it parsed as a statement that returns no rows (rowless), which the server describes
 * without a lock (postgres-locks.ts).
 */
export class CommitStatements {
  private readonly names = new Set<string>();
  private readonly rowless = new Set<string>();

  /**
   * A client message of type `type`, its body at [from, from + length) of `buf` as far as `buf`
   * holds it. Parse and Close name a statement; an unnamed one, the most common, costs a byte.
   */
  seen(type: number, buf: Buffer, from: number, length: number): void {
    if (type === Q) {
      if (this.names.size > 0 && from < buf.length && FORGETS.test(buf.toString('latin1', from, Math.min(buf.length, from + 32)))) this.names.clear();
      return;
    }
    if (type !== PARSE && type !== CLOSE) return;
    const end = from + length;
    if (end > buf.length) {
      // Not all here (a later message of a batch): what it names is unknown, so nothing is trusted.
      if (this.names.size > 0) this.names.clear();
      if (this.rowless.size > 0) this.rowless.clear();
      return;
    }
    if (type === CLOSE) {
      if (buf[from] !== T('S') || (this.names.size === 0 && this.rowless.size === 0)) return;
      const name = buf.toString('latin1', from + 1, Math.max(from + 1, buf.indexOf(0, from + 1)));
      this.names.delete(name);
      this.rowless.delete(name);
      return;
    }
    if (buf[from] === 0) return;
    const nameEnd = buf.indexOf(0, from);
    const queryEnd = nameEnd < 0 || nameEnd >= end ? -1 : buf.indexOf(0, nameEnd + 1);
    if (queryEnd < 0 || queryEnd >= end) return;
    const name = buf.toString('latin1', from, nameEnd);
    if (isCommit(buf, nameEnd + 1, queryEnd, PG_SQL)) this.names.add(name);
    else this.names.delete(name);
    // A statement is parsed by name once a connection (pg, postgres.js, JDBC), not at each run.
    if (rowless(buf, nameEnd + 1, queryEnd)) {
      if (this.rowless.size < MAX_ROWLESS) this.rowless.add(name);
    } else if (this.rowless.size > 0) this.rowless.delete(name);
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /**
   * Whether statement `name` was parsed as one that returns no rows (rowless). DEALLOCATE and
   * DISCARD do not forget it, which would cost a look at every simple query: a Describe of a
   * statement gone fails on the server all the same (one made again under the name by SQL's
   * PREPARE, which the proxy does not read, is described as before it, with no deadlock).
   */
  returnsNoRows(name: string): boolean {
    return this.rowless.size > 0 && this.rowless.has(name);
  }
}

/** What the server is sent in place of `request`, a COMMIT that draws an error; undefined if it is none. */
export function commitStandIn(request: Buffer, statements: CommitStatements | undefined): Buffer | undefined {
  if (request[0] === Q) return simpleStandIn(request);
  if (!isExtendedCommit(request, statements)) return undefined;
  // A Parse of the unnamed statement drops the one before even when it fails, as a Query does.
  return request[0] === PARSE && request[5] === 0 ? ROLLBACK : ROLLBACK_EXTENDED;
}

/**
 * The completions a real failing COMMIT run by name (`request`, for which commitStandIn gave a
 * stand-in) sends before its error, as their type bytes: BindComplete ('2'), and NoData ('n')
 * for a Describe of its portal; none when the request parses it (its error then comes as when
 * the Parse fails, postgres-errors.ts).
 */
export function commitCompletedBefore(request: Buffer): string {
  if (request[0] !== BIND) return '';
  let out = '';
  for (let pos = 0; pos + 5 < request.length && request[pos] !== EXECUTE; pos += 1 + int32BE(request, pos + 1)) {
    if (request[pos] === BIND) out += '2';
    else if (request[pos] === DESCRIBE && request[pos + 5] === T('P')) out += 'n';
  }
  return out;
}

/** Stand-ins that run statements of the client's ahead of their ROLLBACK, with how many (resultsBefore). */
const PREFIXED = new WeakMap<Buffer, number>();

/**
 * How many statements of the client's `standIn` (a COMMIT's) runs before its ROLLBACK; 0 for
 * none, or when they cannot be counted for sure. Their results are the client's, as from a real
 * failing COMMIT, which runs after them (checked on PostgreSQL 15: SELECT 1; INSERT ...; COMMIT
 * in a block, the COMMIT failing on a deferred unique constraint, answers T D C C E ZI); each
 * ends in a CommandComplete, and the ROLLBACK's begins the reply the injected error replaces.
 */
export function resultsBefore(standIn: Buffer | undefined): number {
  return standIn === undefined ? 0 : PREFIXED.get(standIn) ?? 0;
}

/** A simple Query that is a COMMIT or holds one: the Query sent in its place, ROLLBACK for COMMIT (commit.ts). */
function simpleStandIn(request: Buffer): Buffer | undefined {
  if (request.length <= 5) return undefined;
  const at = commitAt(request, 5, request.length, PG_SQL);
  if (at < 0) return undefined;
  if (at === 5) return ROLLBACK;
  const standIn = simpleQuery(Buffer.concat([request.subarray(5, at), Buffer.from(' ROLLBACK\0', 'latin1')]));
  const statements = statementsIn(request, 5, at);
  if (statements > 0) PREFIXED.set(standIn, statements);
  return standIn;
}

/**
 * How many statements bytes [from, to) of `buf` hold, the empty ones (blanks, comments) left out
 * as the server's parser leaves them; 0 when the text cannot be read for sure.
 */
function statementsIn(buf: Buffer, from: number, to: number): number {
  let count = 0;
  let sure = true;
  const read = eachStatement(buf, from, to, PG_SQL, (start, end) => {
    const words = leadingWords(buf, start, end, PG_SQL, 1);
    if (words === undefined) sure = false;
    else if (words.length > 0) count++;
    return !sure;
  });
  return read && sure ? count : 0;
}

/** A simple Query message of `text` (its NUL included). */
export function simpleQuery(text: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + text.length);
  out[0] = Q;
  out.writeInt32BE(4 + text.length, 1);
  text.copy(out, 5);
  return out;
}

/** Whether the Parse at `at` of `request`, whole in it, parses a COMMIT. */
export function parsesCommit(request: Buffer, at: number): boolean {
  const end = at + 1 + int32BE(request, at + 1);
  // The statement's name, then its text, each ended by a NUL.
  const nameEnd = request.indexOf(0, at + 5);
  const queryEnd = nameEnd < 0 ? -1 : request.indexOf(0, nameEnd + 1);
  return queryEnd >= 0 && queryEnd < end && isCommit(request, nameEnd + 1, queryEnd, PG_SQL);
}

/**
 * Whether the Bind at `at` of `request`, whole in it, binds a statement `statements` holds as a
 * COMMIT, by name: after the portal's name, the statement's.
 */
export function bindsCommit(request: Buffer, at: number, statements: CommitStatements | undefined): boolean {
  const end = at + 1 + int32BE(request, at + 1);
  const portalEnd = request.indexOf(0, at + 5);
  const nameEnd = portalEnd < 0 ? -1 : request.indexOf(0, portalEnd + 1);
  return nameEnd > portalEnd + 1 && nameEnd < end && statements !== undefined && statements.has(request.toString('latin1', portalEnd + 1, nameEnd));
}

/**
 * An extended-protocol batch whose one statement is a COMMIT, parsed in it (named or not) or by
 * a name `statements` holds, then bound, described and executed, up to Sync. A statement parsed
 * in it is left unprepared by the ROLLBACK in its place, as it was when withheld: the error the
 * client gets has no ParseComplete, so a client (pg) parses it again. One parsed before stays.
 */
function isExtendedCommit(request: Buffer, statements: CommitStatements | undefined): boolean {
  let pos = 0;
  let parsed = false;
  let bound = false;
  let executed = false;
  while (pos + 5 <= request.length) {
    const type = request[pos];
    const end = pos + 1 + int32BE(request, pos + 1);
    if (end > request.length || end < pos + 5) return false;
    if (type === PARSE) {
      if (parsed || !parsesCommit(request, pos)) return false;
      parsed = true;
    } else if (type === BIND) {
      // One parsed in the batch, or a COMMIT by its name.
      if (bound || (!parsed && !bindsCommit(request, pos, statements))) return false;
      bound = true;
    } else if (type === EXECUTE) {
      executed = bound;
    } else if (type !== DESCRIBE && type !== SYNC) {
      return false;
    }
    pos = end;
  }
  return executed && pos === request.length;
}
