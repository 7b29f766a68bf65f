/**
 * PostgreSQL's transaction block after an injected error inside it. A real server, once a
 * statement fails in a block, answers every later statement with 25P02 (current transaction is
 * aborted) until the block ends, and answers its COMMIT with ROLLBACK. Withheld, the statement
 * would leave the server's block whole: a client told 'E' that goes on regardless would have its
 * later statements run and committed, where PostgreSQL would have refused them and rolled back.
 *
 * So the server is sent a message that fails in the withheld request's place: its block is then
 * aborted for real, and every later request goes to it as it is, answered by the server itself
 * (25P02, ROLLBACK for COMMIT, either protocol, pipelined or not), at no cost to them. Its
 * ErrorResponse is replaced by the injected one; both end in ReadyForQuery 'E'.
 *
 * The injected error comes as when a request's first message fails (no ParseComplete before it;
 * one that begins with a Bind gets its BindComplete first, as when its statement fails as it runs,
 * postgres-errors.ts; one that parses or binds a statement and runs it, as it runs, ranFirst),
 * and the server is left as that leaves it, unnamed prepared statement included: a simple Query or a Parse of the unnamed statement drops the one prepared before
 * (checked on PostgreSQL 15: even in a failed block, even when it fails), any other message
 * leaves it, and the unnamed portal, alone. A client that prepares the unnamed statement in one
 * request and binds it in later ones (libpq's PQprepare and PQexecPrepared with "", pgx's
 * describe-exec mode) then gets 25P02 in the failed block, or its rows outside one, as after a
 * real error, not 26000 (no unnamed statement); and one whose Parse drew the error is never run
 * the statement prepared before it.
 *
 * A request that begins with a Close (postgres.js re-preparing a statement it found stale, JDBC
 * and Npgsql closing statements evicted from their caches) has the error after its Closes, as
 * a real error in a later message does: the server runs the Closes first (CloseComplete each,
 * in any state, a failed block too, and kept when the block is rolled back; checked on
 * PostgreSQL 15). Withheld whole, a statement the client had closed stayed prepared, and its
 * next Parse of the name got 42P05 (prepared statement already exists). Its Closes now go to
 * the server, then what the request's next message calls for (as above; a failing Parse of a
 * statement of no use, which drops nothing, where a FunctionCall cannot follow them), then Sync;
 * the client gets their CloseCompletes before the error. One that then parses or binds a
 * statement and runs it has them run with what comes before its Execute (ranFirst).
 */
import { int32BE } from './length-prefixed.js';
import { bindsCommit, type CommitStatements, parsesCommit } from './postgres-commit.js';
import { lockWaitAt } from './postgres-locks.js';

const T = (c: string): number => c.charCodeAt(0);
const Q = T('Q'), SYNC_TYPE = T('S'), PARSE = T('P'), BIND = T('B'), CLOSE = T('C'), DESCRIBE = T('D'), EXECUTE = T('E'), FLUSH = T('H');
const IN_BLOCK = T('T'); // ReadyForQuery's status inside a transaction block that has not failed
const IDLE = T('I');

/** What the server's log says for each stand-in: it fails on this text, which is no integer. */
const TEXT = 'an error injected by the marteau-tui chaos proxy in place of a statement (it aborts the transaction block, if any)';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = T(type);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * A Parse of the unnamed statement that fails as it is analysed, then Sync: the server drops the
 * unnamed statement first, as the request's own Parse or Query would have.
 */
const PARSE_UNNAMED = message('P', Buffer.from(`\0SELECT '${TEXT}'::integer\0\0\0`, 'latin1'));
const SYNC = message('S', Buffer.alloc(0));
const FAIL_UNNAMED: Buffer = Buffer.concat([PARSE_UNNAMED, SYNC]);

/**
 * A Parse of a named statement that fails as it is analysed: no statement is made (nor, if one
 * of the name exists, replaced), none dropped. Also sent in the place of an Execute whose
 * request's error waits for it (postgres-later.ts).
 */
export const PARSE_NAMED = message('P', Buffer.from(`marteau_tui_chaos\0SELECT '${TEXT}'::integer\0\0\0`, 'latin1'));

/**
 * A FunctionCall of int4in (OID 42, fixed in PostgreSQL's catalog) on the text: it fails and
 * touches no prepared statement nor portal. Poolers pass it on (libpq's large objects use it).
 */
const FAIL_CALL: Buffer = (() => {
  const arg = Buffer.from(TEXT, 'latin1');
  const body = Buffer.alloc(4 + 2 + 2 + 4 + arg.length + 2);
  body.writeInt32BE(42, 0); // the function
  // No argument format codes (text), one argument, its length and bytes, a text result.
  body.writeInt16BE(1, 6);
  body.writeInt32BE(arg.length, 8);
  arg.copy(body, 12);
  return message('F', body);
})();

/** The stand-ins made here, the requests' Closes in them or not. */
const MADE = new WeakSet<Buffer>([FAIL_UNNAMED, FAIL_CALL]);
/** Those of them whose reply, up to its error or its ReadyForQuery, is the client's (ranFirst). */
const PASSING = new WeakSet<Buffer>();

/** Those of them whose request's error waits for its Execute, in a later read (ranLater). */
const LATER = new WeakSet<Buffer>();
/** Of those, the COMMITs in a block, whose Execute's stand-in rolls it back (ranLater). */
const ROLLS_BACK = new WeakSet<Buffer>();

/** Whether the server's reply to `standIn`, up to its error or its ReadyForQuery, goes to the client. */
export function passesReply(standIn: Buffer | undefined): boolean {
  return standIn !== undefined && PASSING.has(standIn);
}

/**
 * Whether `standIn` is one made here (not a COMMIT's ROLLBACK, postgres-commit.ts): the error
 * then leaves the status a failed statement leaves.
 */
export function failsInPlace(standIn: Buffer | undefined): boolean {
  return standIn !== undefined && MADE.has(standIn);
}

/** Whether `standIn` was sent for a request whose error waits for its Execute (ranLater). */
export function runsLater(standIn: Buffer | undefined): boolean {
  return standIn !== undefined && LATER.has(standIn);
}

/** Whether `standIn` was sent for a COMMIT in a block whose error waits for its Execute (ranLater). */
export function rollsBackLater(standIn: Buffer | undefined): boolean {
  return standIn !== undefined && ROLLS_BACK.has(standIn);
}

/** The whole Close messages `request` begins with: how many, and where they end. */
function leadingCloses(request: Buffer): { count: number; end: number } {
  let count = 0;
  let end = 0;
  while (end + 5 <= request.length && request[end] === CLOSE) {
    const next = end + 1 + int32BE(request, end + 1);
    if (next > request.length || next < end + 5) break;
    end = next;
    count++;
  }
  return { count, end };
}

/**
 * The completions the server sends for the messages of `request` that run before an error
 * injected on it, as their type bytes: a CloseComplete ('3') for each Close it begins with,
 * then a BindComplete ('2') when the next is a Bind (a statement fails as it runs,
 * postgres-errors.ts), but not in a failed block (`failedBlock`), where the server refuses the
 * Bind itself with 25P02, before its statement could run (Closes still run there; checked on
 * PostgreSQL 15).
 */
export function completedBefore(request: Buffer, failedBlock = false): string {
  const { count, end } = leadingCloses(request);
  return '3'.repeat(count) + (request[end] === BIND && !failedBlock ? '2' : '');
}

/**
 * What the server is sent in place of `request` (its first segment at least), withheld for an
 * injected error, given the transaction status of the last ReadyForQuery: a failing message
 * inside a block, nothing outside one (no block to abort) or in a failed one (already aborted),
 * except for a request that begins with a Parse of the unnamed statement, whose failing Parse
 * goes in any state so that the one before is dropped. `unsure`: a request in flight ahead of it
 * may begin or end a block (postgres-blocks.ts), so the last status may not hold when it runs:
 * the failing message goes then too, which, outside a block, fails and leaves nothing behind (no
 * transaction id taken, nothing written; a rollback counted and an ERROR line in the server's log,
 * as for a real error). A request that begins with Closes sends them first, in any state
 * (closedFirst); one that parses or binds a statement and runs it, what comes before its Execute
 * (ranFirst), or, at a deadlock (`lockWait`), before the message that waits for a lock; one that
 * parses or binds a statement and runs nothing in its first read (not `whole`: its Sync is to
 * come), that read as it is (ranLater). `commits`: the statements parsed as COMMIT, by name.
 */
export function abortStandIn(request: Buffer, txStatus: number, unsure = false, whole = true, lockWait = false, commits?: CommitStatements): Buffer | undefined {
  const closes = leadingCloses(request);
  const abort = txStatus === IN_BLOCK || unsure;
  if (!whole && (txStatus === IDLE || txStatus === IN_BLOCK) && !unsure) {
    const later = ranLater(request, closes.end, txStatus === IN_BLOCK, lockWait, commits);
    if (later !== undefined) return later;
  }
  const fails = failsAt(request, closes.end, lockWait);
  if (fails > 0) return ranFirst(request, fails, abort);
  if (closes.count > 0) return closedFirst(request, closes.end, abort);
  const first = request[0];
  if (first === PARSE && request.length > 5 && request[5] === 0) return FAIL_UNNAMED;
  if (!abort) return undefined;
  return first === Q ? FAIL_UNNAMED : FAIL_CALL;
}

/** For a request whose Closes end at `end`: those, then what its next message calls for, then Sync. */
function closedFirst(request: Buffer, end: number, abort: boolean): Buffer {
  const unnamed = request[end] === PARSE && end + 5 < request.length && request[end + 5] === 0;
  const fail = unnamed ? PARSE_UNNAMED : abort ? PARSE_NAMED : undefined;
  const standIn = Buffer.concat(fail === undefined ? [request.subarray(0, end), SYNC] : [request.subarray(0, end), fail, SYNC]);
  MADE.add(standIn);
  return standIn;
}

/**
 * Where a real error of the kind comes to `request` as the server runs it, when after its Closes
 * (up to `closesEnd`) it begins with a Parse or a Bind and its messages up to its first Execute
 * (or Sync) are whole in it and only prepare (Parse, Bind, Describe, Close, Flush): its Execute,
 * or at a deadlock (`lockWait`) a message before it that waits for a lock (postgres-locks.ts),
 * the request running nothing then too; -1 otherwise (its Execute in a later read, as when
 * postgres.js describes a statement first). The server sends what it answered before that
 * message with the error (checked on PostgreSQL 15: Parse of a statement on a table, Describe,
 * Bind of one prepared before on a table another session locked, Describe, Sync: 1 t T, then
 * the deadlock, no BindComplete; a Bind-first or Close-first request likewise, 2 T or 3 1 t T
 * then the error; and a Bind, Describe, Execute whose statement fails as it runs, 2 T then the
 * error, where the proxy made up the BindComplete and left the Describe unanswered). A Bind
 * then its Execute need no trip to the server.
 */
function failsAt(request: Buffer, closesEnd: number, lockWait: boolean): number {
  if (request[closesEnd] !== PARSE && request[closesEnd] !== BIND) return -1;
  const end = preparedUpTo(request);
  const waits = lockWait ? lockWaitAt(request, end) : -1;
  if (waits > 0) return waits;
  if (end + 5 > request.length || request[end] !== EXECUTE) return -1;
  // A Bind straight before it: its BindComplete, all the server answers first, comes with the error (completedBefore).
  return request[closesEnd] === BIND && closesEnd + 1 + int32BE(request, closesEnd + 1) === end ? -1 : end;
}

/**
 * For a request that parses or binds a statement and runs it: the errors the kinds stand for
 * come as it runs, so the server is sent what comes before its Execute, at `at` (or before a
 * message that waits for a lock, at a deadlock: failsAt), the statement parsed, bound,
 * described, as for a real error at execution: it stays prepared, the unnamed one too), then, in
 * a block, a failing Parse that drops nothing, then Sync. Its replies up to that error or the
 * ReadyForQuery are passed to the client (ParseComplete, ParameterDescription, RowDescription,
 * BindComplete ...), then the injected error. A statement withheld at its Parse left a client
 * that pipelines Binds of it behind (postgres.js, a statement whose types it knows) one error
 * more per injected one, 26000 prepared statement does not exist, where a real error at
 * execution leaves it prepared.
 */
function ranFirst(request: Buffer, at: number, abort: boolean): Buffer {
  const standIn = Buffer.concat(abort ? [request.subarray(0, at), PARSE_NAMED, SYNC] : [request.subarray(0, at), SYNC]);
  MADE.add(standIn);
  PASSING.add(standIn);
  return standIn;
}

/** Where the whole messages `request` begins with that only prepare (Parse, Bind, Describe, Close, Flush) end. */
function preparedUpTo(request: Buffer): number {
  let pos = 0;
  while (pos + 5 <= request.length) {
    const type = request[pos];
    if (type !== PARSE && type !== BIND && type !== DESCRIBE && type !== CLOSE && type !== FLUSH) return pos;
    const next = pos + 1 + int32BE(request, pos + 1);
    if (next < pos + 5 || next > request.length) return pos;
    pos = next;
  }
  return pos;
}

/**
 * Whether `request` (its first segment) is all of a request that runs nothing: messages that only
 * prepare, then its Sync (postgres.js's describe(), libpq's PQprepare), or a Sync alone.
 */
export function runsNothing(request: Buffer): boolean {
  const end = preparedUpTo(request);
  return end + 5 === request.length && request[end] === SYNC_TYPE;
}

/**
 * For a request that parses a statement, or binds one prepared before (its Closes first), and
 * runs nothing in its first read, its Sync to come: postgres.js, for a statement whose parameter
 * types it must learn, sends Parse, Describe, Flush, and Bind, Execute, Sync once the description
 * is in. The kinds come as a statement runs, so a real one comes at that Execute, after the
 * server has parsed and described it (and bound it); a statement timeout, in a later read too
 * (postgres-later.ts, Meets: checked on PostgreSQL 15, a Bind, Describe, Flush answered 2 T,
 * then the Sync's read 57014). The error did not come at once after the BindComplete, the
 * Describe unanswered. The first read goes to the server as it is, its replies to the
 * client, and so does what follows up to the Execute, in whose place goes a Parse that fails
 * (postgres-later.ts); for a COMMIT in a block (`inBlock`), a ROLLBACK, as a failing COMMIT ends
 * the block. Not where the requests in flight leave the block unsure, nor in a failed
 * block. At a deadlock (`lockWait`), a first read that parses a statement and then has a message
 * that may wait for a lock (a Bind of another statement, a Parse: postgres-locks.ts) is run up
 * to that message, where the error comes (ranFirst): the server sends what it answered before it
 * with the error, as a real deadlock there does; after Closes or a Bind first too (checked:
 * 3 1 t T, or 2 T, then the error, where the proxy held the error for a later read). A COMMIT
 * is one the read parses, or binds by a name `commits` holds (JDBC's named COMMIT). Undefined
 * when the first read holds an Execute or a message of another type, or ends
 * amid a message: a Describe cut there would go unanswered, and a client waiting for its
 * description would wait for ever.
 */
function ranLater(request: Buffer, closesEnd: number, inBlock: boolean, lockWait: boolean, commits: CommitStatements | undefined): Buffer | undefined {
  const first = request[closesEnd];
  if ((first !== PARSE && first !== BIND) || preparedUpTo(request) !== request.length) return undefined;
  const waits = lockWait ? lockWaitAt(request, request.length) : -1;
  if (waits > 0) return ranFirst(request, waits, inBlock);
  const standIn = Buffer.from(request);
  MADE.add(standIn);
  PASSING.add(standIn);
  LATER.add(standIn);
  if (inBlock && (first === PARSE ? parsesCommit(request, closesEnd) : bindsCommit(request, closesEnd, commits))) ROLLS_BACK.add(standIn);
  return standIn;
}
