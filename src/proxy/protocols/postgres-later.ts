/**
 * PostgreSQL: an injected error that waits for its request's Execute, in a later read
 * (postgres-aborted.ts, ranLater). The server is sent the request's first read, and every
 * message after it up to the Execute as it comes (a Bind, a Describe, a Flush: libpq's pipeline
 * mode, psycopg 3 and JDBC send them at their own times), so it answers them itself, at each
 * Flush, as it would: a client waiting for a description it asked for in a later read would
 * otherwise wait for ever. In the Execute's place goes a Parse that fails (PARSE_NAMED), as the
 * kinds stand for a statement failing as it runs: its error, sent by the server at once, Flush or
 * not, as a real one is, is the request's reply, which the injected error (without a
 * ReadyForQuery) replaces; in a block it aborts it, as a real error does, and outside one it
 * aborts the implicit transaction of the messages before it, which ran nothing; neither drops a
 * prepared statement. What follows the Execute goes nowhere, as the server ignores it after an
 * error, and the Sync goes to the server, whose ReadyForQuery passes to the client.
 *
 * Some kinds come before the Execute too (Meets): a deadlock at a later message that waits for a
 * lock, a statement timeout at the first message of the read that holds the Sync, the failing
 * Parse then in that message's place (landsAt; behind a Describe of another statement, which
 * goes, its RowDescription beginning the reply). A Sync with no Execute before it ends a request
 * that ran nothing. A real server serves it at a kind that comes only as a statement runs
 * (postgres-errors.ts, asItRuns), as it does when the request comes in one read, and at a
 * deadlock (lockWait) when none of its later messages waited for a lock: nothing more is sent,
 * the server's answers are the client's, its ReadyForQuery to the Sync the reply, which the
 * injected one becomes a copy of. The error is withdrawn then, and its behavior counted as
 * nothing acted (fate), as in the one-read case. At a statement timeout the failing Parse goes
 * ahead of a Sync that comes in a read of its own (checked on PostgreSQL 15: 57014 then
 * ReadyForQuery 'I', 'E' in a block); a COMMIT, never run, ends no block then.
 *
 * A COMMIT in a block is different: a real one that fails ends the block, and its ReadyForQuery
 * says idle (checked on PostgreSQL 15, a deferred unique constraint failing at the Execute of a
 * COMMIT described first). In its Execute's place goes a ROLLBACK of the proxy's own statement
 * (postgres-commit.ts, ROLLBACK_RUN) and a Flush: the ROLLBACK's answers, up to its
 * CloseComplete, are the reply the injected error replaces, so that it comes at the Execute, as
 * the real error does (sent at once, Flush or not), and the server's ReadyForQuery ('I') to the
 * client's Sync passes, when the Sync comes. The server's answers to the client's own messages
 * are counted (answersOf) to tell where the ROLLBACK's begin, and, at a deadlock, where the
 * Describe's RowDescription does.
 *
 * Should the server fail one of the messages before the Execute itself (a syntax error, a Bind of
 * the wrong parameters, a request ahead that failed in a block), it ignores what follows up to
 * the Sync, so nothing more is sent: its error is the request's reply all the same, the injected
 * one in its place.
 */
import type { ErrorFate, ErrorReply } from '../protocol.js';
import { int32BE } from './length-prefixed.js';
import { PARSE_NAMED } from './postgres-aborted.js';
import { type CommitStatements, ROLLBACK_RUN } from './postgres-commit.js';
import { pgReadyForQuery } from './postgres-errors.js';
import { lockedIn, waitsForLock } from './postgres-locks.js';

const FLUSH = 0x48; // 'H'
const EXECUTE = 0x45, SYNC = 0x53, TERMINATE = 0x58, DESCRIBE = 0x44; // 'E', 'S', 'X', 'D'
/** The server's messages that end a reply begun by a message not the client's (ends). */
const ERROR = 0x45, CLOSE_COMPLETE = 0x33; // 'E', '3'
const NO_NAMES: readonly string[] = [];
/** A COMMIT's ROLLBACK in its Execute's place, then a Flush: its answers, the reply, come at once. */
const ROLLBACK_NOW = Buffer.concat([ROLLBACK_RUN, Buffer.from([FLUSH, 0, 0, 0, 4])]);
/** ParameterDescription, a statement's Describe's first answer: not counted (see answersOf). */
const PARAMETERS = 0x74; // 't'

/**
 * How many of the server's messages answer a client's message of type `type` when it succeeds,
 * ParameterDescription aside: one for a Parse, Bind or Close, one for a Describe (RowDescription
 * or NoData, after a ParameterDescription for a statement's), none for a Flush. Counting a
 * statement's Describe by its ParameterDescription would take the Describe's body, which a read
 * may end before.
 */
function answersOf(type: number): number {
  return type === FLUSH ? 0 : 1;
}

/** The same for the whole messages of `request` (its first read). */
function answersTo(request: Buffer): number {
  let answers = 0;
  for (let pos = 0; pos + 5 <= request.length; pos += 1 + int32BE(request, pos + 1)) answers += answersOf(request[pos]);
  return answers;
}

/**
 * Where, besides its Execute, a real error of a held kind comes to a request whose first read
 * ran nothing and was answered (postgres-errors.ts):
 * - 'execute': nowhere (asItRuns: the kind comes only as a statement runs);
 * - 'lock': at a later message that waits for a lock (lockWait, a deadlock): a Parse, or a Bind
 *   of a statement its first read did not parse nor bind, whose tables the server locks as it
 *   binds it; a Bind of one it did waits for nothing, those locks being held up to the Sync
 *   (postgres-locks.ts; in a later read, checked so too). A Describe of another statement
 *   waits too, after its ParameterDescription (checked on PostgreSQL 15: 't' then 40P01; the
 *   proxy served it, 't T', and the request at its Sync): it goes to the server, the failing
 *   Parse behind it, and its RowDescription (or NoData) begins the reply the injected error
 *   replaces, up to the failing Parse's error (ends). One of a statement that returns no rows
 *   (parsed by name as one: postgres-locks.ts) is described without a lock (NoData), and goes;
 * - 'timeout': at the first message of the read that holds its Sync (a statement timeout, which
 *   counts from the request's first message: a real one that fires while the server waits for
 *   the client is raised as the server reads its next message, which fails, the rest discarded
 *   up to the Sync; checked on PostgreSQL 15 with statement_timeout 200 ms and Parse, Describe,
 *   Flush, then 300 ms later Bind, Describe, Flush, Sync in one write: 57014 then ReadyForQuery,
 *   no BindComplete). Of the gaps between reads, the last, by when the timer has most likely
 *   fired; never amid a read, which the server reads at once.
 */
export type Meets = 'execute' | 'lock' | 'timeout';

/** Whether a Sync comes in `buf` from the message at `pos` on, no Execute before it (Meets, 'timeout'). */
function syncAhead(buf: Buffer, pos: number): boolean {
  while (pos + 5 <= buf.length) {
    const type = buf[pos];
    if (type === SYNC) return true;
    const length = int32BE(buf, pos + 1);
    if (type === EXECUTE || type === TERMINATE || length < 4) return false;
    pos += 1 + length;
  }
  return false;
}

export class LaterErrors {
  /** The request whose messages go to the server as they come, its Execute to come; -1 for none. */
  private open = -1;
  /**
   * The requests whose reply is the server's next error, by ordinal: the open one, and those
   * whose Execute came while the server has not answered it yet (the next request may draw its
   * error before then, postgres.js pipelining).
   */
  private readonly waiting = new Set<number>();
  /**
   * Of those, the ones whose reply may begin after the server's answers to the client's
   * messages (the COMMITs in a block, whose ROLLBACK's answers are the reply; at a deadlock,
   * where a Describe of another statement's may be): those answers still to come.
   */
  private readonly owed = new Map<number, number>();
  /** Of those, the ones whose reply begins once they are in: the type of its last message. */
  private readonly ends = new Map<number, number>();
  /** Of those, the ones a real server serves if they run nothing (asItRuns, lockWait), with their injected reply. */
  private readonly servable = new Map<number, ErrorReply>();
  /** The requests served so (servedWith) whose fate is still to be told (fate). */
  private readonly withdrawn = new Set<number>();
  /** Of the open request: where its error can come before its Execute (hold), and the statements its first read locked. */
  private meets: Meets = 'execute';
  private locked: readonly string[] = NO_NAMES;

  /**
   * `reply`, the error for request `ordinal`, whose Execute is to come, without a ReadyForQuery;
   * `commit`: it is a COMMIT in a block, the answers to its first read `request` passed to the
   * client before it. `meets`: where else than at the Execute a real error of its kind can come
   * (Meets); at 'execute' and 'lock' a real server serves the request should it run nothing,
   * and the reply is then one of its own, which becomes the server's ReadyForQuery if it does
   * (servedWith).
   */
  hold(ordinal: number, reply: ErrorReply, request: Buffer, commit: boolean, meets: Meets): ErrorReply {
    this.open = ordinal;
    this.meets = meets;
    this.locked = meets === 'lock' ? lockedIn(request) : NO_NAMES;
    this.waiting.add(ordinal);
    if (commit || meets === 'lock') this.owed.set(ordinal, answersTo(request));
    if (commit) this.ends.set(ordinal, CLOSE_COMPLETE);
    if (meets === 'timeout') return reply;
    const own = { bytes: reply.bytes, close: reply.close };
    this.servable.set(ordinal, own);
    return own;
  }

  /** Whether request `ordinal`'s messages go to the server: its Execute has not come. */
  forwards(ordinal: number): boolean {
    return ordinal === this.open;
  }

  /** A message of type `type` of request `ordinal` went to the server. */
  sent(ordinal: number, type: number): void {
    const left = this.owed.size > 0 ? this.owed.get(ordinal) : undefined;
    if (left !== undefined) this.owed.set(ordinal, left + answersOf(type));
  }

  /**
   * A message of type `type` of the open request `ordinal`, at `pos` of `buf`, not its Execute,
   * is to go to the server: what goes in its place when its error comes here (Meets), the failing
   * Parse, as at an Execute with no ROLLBACK (a COMMIT never run ends no block), the server
   * serving the request no more (a Describe, whole in `buf`, goes ahead of it: Meets, 'lock');
   * undefined when the message goes. `statements`: the names parsed as returning no rows.
   */
  landsAt(ordinal: number, type: number, buf: Buffer, pos: number, statements?: CommitStatements): Buffer | undefined {
    if (ordinal !== this.open || this.meets === 'execute') return undefined;
    if (this.meets === 'lock' ? !waitsForLock(type, buf, pos, this.locked, statements) : !syncAhead(buf, pos)) return undefined;
    this.open = -1;
    if (this.servable.size > 0) this.servable.delete(ordinal);
    if (type === DESCRIBE && this.meets === 'lock') {
      this.ends.set(ordinal, ERROR);
      return Buffer.concat([buf.subarray(pos, pos + 1 + int32BE(buf, pos + 1)), PARSE_NAMED]);
    }
    if (this.owed.size > 0) this.owed.delete(ordinal);
    if (this.ends.size > 0) this.ends.delete(ordinal);
    return PARSE_NAMED;
  }

  /** Request `ordinal`'s Execute came: what the server is sent in its place. */
  ran(ordinal: number): Buffer {
    if (ordinal === this.open) this.open = -1;
    if (this.servable.size > 0) this.servable.delete(ordinal);
    if (this.ends.size > 0 && this.ends.get(ordinal) === CLOSE_COMPLETE) return ROLLBACK_NOW;
    // No reply begins but the failing Parse's error.
    if (this.owed.size > 0) this.owed.delete(ordinal);
    return PARSE_NAMED;
  }

  /**
   * Request `ordinal`'s Sync came with no Execute before it: what the server is sent ahead of the
   * Sync, nothing when the server serves the request (hold, served).
   */
  unrun(ordinal: number): Buffer | undefined {
    if (ordinal === this.open) this.open = -1;
    if (this.owed.size > 0) this.owed.delete(ordinal);
    if (this.ends.size > 0) this.ends.delete(ordinal);
    return this.servable.size > 0 && this.servable.has(ordinal) ? undefined : PARSE_NAMED;
  }

  /**
   * The server's ReadyForQuery, of status `status`, came while answering request `ordinal`:
   * whether it ends the reply of a request served (unrun), the injected reply now a copy of it.
   */
  servedWith(ordinal: number, status: number): boolean {
    const reply = this.servable.size > 0 && ordinal !== this.open ? this.servable.get(ordinal) : undefined;
    if (reply === undefined) return false;
    reply.bytes = pgReadyForQuery(status);
    this.withdrawn.add(ordinal);
    this.end(ordinal);
    return true;
  }

  /**
   * What became of the error of request `ordinal` (FramerSession.errorFate): held while the
   * server may yet serve the request (hold, served), withdrawn once it did (told once).
   */
  fate(ordinal: number): ErrorFate {
    if (this.servable.size > 0 && this.servable.has(ordinal)) return 'held';
    return this.withdrawn.size > 0 && this.withdrawn.delete(ordinal) ? 'withdrawn' : 'given';
  }

  /**
   * The server sent a message of type `type`, not an error nor a ReadyForQuery, while answering
   * request `ordinal`: whether it answers the client's (passed to it) rather than begins the
   * reply (ends).
   */
  passes(ordinal: number, type: number): boolean {
    const left = this.owed.size > 0 ? this.owed.get(ordinal) : undefined;
    if (left === undefined || type === PARAMETERS) return true;
    if (left === 0) return !this.ends.has(ordinal);
    this.owed.set(ordinal, left - 1);
    return true;
  }

  /**
   * The server's next message answering request `ordinal` is not the client's (passes): the type
   * of the message that ends the reply it begins, or -1. A COMMIT's ROLLBACK's answers up to its
   * CloseComplete are the reply; a Describe's RowDescription (or NoData) up to the failing
   * Parse's error behind it (landsAt).
   */
  endOfReply(ordinal: number): number {
    const end = this.ends.size > 0 ? this.ends.get(ordinal) : undefined;
    if (end === undefined) return -1;
    this.end(ordinal);
    return end;
  }

  /**
   * The server sent an error while answering request `ordinal`: whether it alone is the reply of
   * an error held here (the failing Parse's, or the server's own before it, a COMMIT's too).
   */
  answeredBy(ordinal: number): boolean {
    if (this.waiting.size === 0 || !this.waiting.has(ordinal)) return false;
    this.end(ordinal);
    return true;
  }

  private end(ordinal: number): void {
    this.waiting.delete(ordinal);
    this.owed.delete(ordinal);
    this.ends.delete(ordinal);
    this.servable.delete(ordinal);
    if (ordinal === this.open) this.open = -1;
  }
}
