/**
 * PostgreSQL: which messages of an extended-protocol request may wait for a lock, where a
 * deadlock (40P01) can meet a request that runs nothing (postgres-errors.ts, lockWait). A Parse
 * locks the tables it names as it is analysed, and a Bind those of its statement as the server
 * revalidates it (a statement prepared in an earlier request too); the locks are held up to the
 * request's Sync, so a Bind of a statement the request parsed or bound before waits for nothing
 * (checked on PostgreSQL 15: behind another session's LOCK TABLE, a Bind of a statement prepared
 * earlier, or a Parse naming the table, waits, and gets 40P01 at once once the other session
 * waits for a table the request locked; a Bind of the statement it parsed gets BindComplete).
 * A Describe of a statement revalidates it too, once its ParameterDescription is written, to
 * describe its rows (exec_describe_statement_message; checked: 't' then 40P01, no
 * RowDescription); a Describe of a portal, already planned, takes no lock, nor one of a statement
 * that returns no rows, answered NoData without revalidating it (checked: an INSERT, UPDATE,
 * DELETE or MERGE prepared before on a table another session holds: 't n' at once). The proxy
 * knows those by the Parse that named them (postgres-commit.ts, CommitStatements.returnsNoRows).
 */
import { int32BE } from './length-prefixed.js';
import type { CommitStatements } from './postgres-commit.js';

const PARSE = 0x50, BIND = 0x42, DESCRIBE = 0x44, STATEMENT = 0x53; // 'P', 'B', 'D', 'S'

/** The string at `from` of `buf`, if its terminator comes before `to`. */
function cstring(buf: Buffer, from: number, to: number): string | undefined {
  const end = buf.indexOf(0, from);
  return end < 0 || end >= to ? undefined : buf.toString('latin1', from, end);
}

/** The statement a Parse or Bind at `pos` of `buf` names (a Bind's after its portal), if `buf` holds it whole. */
function statementOf(buf: Buffer, pos: number): string | undefined {
  const to = Math.min(buf.length, pos + 1 + int32BE(buf, pos + 1));
  if (buf[pos] === PARSE) return cstring(buf, pos + 5, to);
  const portalEnd = buf.indexOf(0, pos + 5);
  return portalEnd < 0 || portalEnd >= to ? undefined : cstring(buf, portalEnd + 1, to);
}

/** The names of the statements the whole messages of `request` parse or bind: their tables are locked. */
export function lockedIn(request: Buffer): string[] {
  const names: string[] = [];
  for (let pos = 0; pos + 5 <= request.length; pos += 1 + int32BE(request, pos + 1)) {
    const name = request[pos] === PARSE || request[pos] === BIND ? statementOf(request, pos) : undefined;
    if (name !== undefined) names.push(name);
  }
  return names;
}

/**
 * Whether the message of type `type` at `pos` of `buf` may wait for a lock, given the statements
 * `locked`. A Describe only when whole in `buf` (postgres-later.ts sends it on), and of a
 * statement not known to return no rows (`statements`).
 */
export function waitsForLock(type: number, buf: Buffer, pos: number, locked: readonly string[], statements?: CommitStatements): boolean {
  if (type === PARSE) return true;
  if (type === DESCRIBE) {
    if (buf[pos + 5] !== STATEMENT) return false;
    const statement = cstring(buf, pos + 6, Math.min(buf.length, pos + 1 + int32BE(buf, pos + 1)));
    return statement !== undefined && !locked.includes(statement) && statements?.returnsNoRows(statement) !== true;
  }
  if (type !== BIND) return false;
  // A Bind whose statement's name this read cuts names one that may not be locked.
  const statement = statementOf(buf, pos);
  return statement === undefined || !locked.includes(statement);
}

/**
 * Where in `request`, up to `end` (whole messages), the first message after its first Parse or
 * Bind that may wait for a lock starts, or -1: a deadlock could meet it there, the request
 * holding the locks its earlier messages took.
 */
export function lockWaitAt(request: Buffer, end: number): number {
  const locked: string[] = [];
  for (let pos = 0; pos + 5 <= end; pos += 1 + int32BE(request, pos + 1)) {
    const type = request[pos];
    if (type !== PARSE && type !== BIND) continue;
    if (locked.length > 0 && waitsForLock(type, request, pos, locked)) return pos;
    locked.push(statementOf(request, pos) ?? '');
  }
  return -1;
}
