/**
 * PostgreSQL's framing session, its error side (postgres-session.ts frames the messages): what
 * earlier requests and replies said that an injected error must follow (the transaction status,
 * COMMIT statements, blocks in flight, an error that waits for its request's Execute), and what
 * becomes of the rest of a request that drew an error before its Sync came. A layer of the
 * session's class: the framing it calls on is declared here and is the session's.
 */
import { emit, PASS_META, type StartMeta } from './length-prefixed.js';
import { END, PASS, WHOLE, type Frames } from '../frames.js';
import type { Fifo } from '../fifo.js';
import type { ErrorFate, ErrorReply } from '../protocol.js';
import { CommitStatements, resultsBefore } from './postgres-commit.js';
import { pgReadyForQuery } from './postgres-errors.js';
import { BlockForecast } from './postgres-blocks.js';
import { passesReply } from './postgres-aborted.js';
import { LaterErrors } from './postgres-later.js';
import { type Dir, EXTENDED_TYPES, PASSED_SYNC } from './postgres-messages.js';

const T = (c: string): number => c.charCodeAt(0);
const S = T('S'), X = T('X'), E = T('E'), Z = T('Z'), COMMAND_COMPLETE = T('C');

export abstract class PgErrorState {
  /** Transaction status of the last ReadyForQuery: 'I', 'T' or 'E'. */
  txStatus = T('I');
  /** Statements the client parsed as COMMIT, by name (postgres-commit.ts). */
  readonly commits = new CommitStatements();
  /** Requests in flight that may move the server into or out of a transaction block (postgres-blocks.ts). */
  readonly blocks = new BlockForecast();
  /** An error that waits for its request's Execute (postgres-later.ts). */
  readonly later = new LaterErrors();
  /** The open request drew an injected error before its Sync came (see errored). */
  protected erroredOpen = false;
  /** Requests whose stand-in's reply is the client's up to its error (postgres-aborted.ts, ranFirst), by ordinal. */
  protected readonly passing = new Set<number>();
  /**
   * Of those, COMMITs whose stand-in runs statements before its ROLLBACK: how many results still
   * pass (resultsBefore); -1 once one of them failed (prefixFailed).
   */
  protected readonly prefixes = new Map<number, number>();
  /** Their injected replies, which become the server's own should one of those statements fail (prefixReply). */
  private readonly prefixReplies = new Map<number, ErrorReply>();
  /** Requests whose error was so withdrawn, their fate still to be told (errorFate). */
  private readonly withdrawn = new Set<number>();
  /**
   * The type of the message that ends the reply in progress before its ReadyForQuery, or -1: the
   * CloseComplete of a COMMIT's ROLLBACK in a later read (postgres-later.ts).
   */
  protected replyEnd = -1;
  /**
   * The type of the message amid the reply in progress that needs a look: its end (replyEnd),
   * or else, once a request was sent a stand-in whose reply an injected error replaces, an
   * ErrorResponse, which may be the server's FATAL amid that reply (postgres-session.ts,
   * fatalAmid); -1 for none, as on the passing path, where it costs the compare replyEnd cost.
   */
  protected watch = -1;
  /** A request was sent a stand-in: ErrorResponses amid replies are looked at from then on (watch). */
  private watchesErrors = false;

  /** The next request's ordinal. */
  protected abstract ordinal: number;
  /** An extended-protocol request is open on the client side (no Sync yet). */
  protected abstract batchOpen: boolean;
  /** The replies owed, by request (postgres-messages.ts, pending). */
  protected abstract readonly fifo: Fifo<number>;
  protected abstract clientMessage(d: Dir, type: number): void;
  protected abstract startMessage(d: Dir, meta: StartMeta, endAfter: boolean): void;

  /** Whether request `ordinal` is the extended request still open: its Sync has not come. */
  syncToCome(ordinal: number | undefined): boolean {
    return this.batchOpen && ordinal === this.ordinal - 1;
  }

  /**
   * Request `ordinal` drew an injected error. One whose Sync has not come yet (a client that
   * sends Parse, Bind, Execute, maybe a Flush, and its Sync in a later write) got the error
   * alone, as from a server, which then discards every message up to the Sync and answers that
   * with its ReadyForQuery: the messages up to the Sync go with the request (nowhere), and its
   * Sync is passed on to the server, whose ReadyForQuery the client gets as its own. That also
   * says where the server stands after the request's stand-in, if it had one.
   */
  errored(ordinal: number, standIn?: Buffer): void {
    if (this.syncToCome(ordinal)) this.erroredOpen = true;
    if (standIn !== undefined && !this.watchesErrors) {
      this.watchesErrors = true;
      if (this.replyEnd < 0) this.watch = E;
    }
    if (passesReply(standIn)) this.passing.add(ordinal);
    const results = resultsBefore(standIn);
    if (results > 0) {
      this.passing.add(ordinal);
      this.prefixes.set(ordinal, results);
    }
  }

  /** The reply in progress ends at a message of type `type` before its ReadyForQuery (replyEnd), or -1. */
  protected endReplyAt(type: number): void {
    this.replyEnd = type;
    this.watch = type >= 0 ? type : this.watchesErrors ? E : -1;
  }

  /**
   * The server sent a message of type `type`, not an error nor a ReadyForQuery, answering request
   * `ordinal`, whose stand-in's answers pass: whether it does, rather than begin the reply. Of a
   * COMMIT's stand-in, the results of the statements before its ROLLBACK pass, up to their last
   * CommandComplete (prefixes); of others, postgres-later.ts tells (passes).
   */
  protected passesAhead(ordinal: number, type: number): boolean {
    const left = this.prefixes.size > 0 ? this.prefixes.get(ordinal) : undefined;
    if (left === undefined) return this.later.passes(ordinal, type);
    if (left === 0) return false;
    if (type === COMMAND_COMPLETE && left > 0) this.prefixes.set(ordinal, left - 1);
    return true;
  }

  /**
   * `reply`, the injected error of request `ordinal`, a COMMIT whose stand-in runs statements of
   * the client's before its ROLLBACK: its own copy, which the server's ReadyForQuery may replace
   * (prefixEnds).
   */
  prefixReply(ordinal: number, reply: ErrorReply): ErrorReply {
    const own = { bytes: reply.bytes, close: reply.close };
    this.prefixReplies.set(ordinal, own);
    return own;
  }

  /**
   * The server sent an error answering request `ordinal`: whether it is one of the statements
   * before a COMMIT's ROLLBACK failing, as the client's own would have, the rest of the query
   * then skipped (the ROLLBACK, as the COMMIT would have been): it passes, the client's.
   */
  protected prefixFailed(ordinal: number): boolean {
    const left = this.prefixes.size > 0 ? this.prefixes.get(ordinal) : undefined;
    if (left === undefined || left <= 0) return false;
    this.prefixes.set(ordinal, -1);
    return true;
  }

  /**
   * The reply of request `ordinal` begins with a message of type `type`: a COMMIT's stand-in has
   * run the statements before its ROLLBACK. After one of them failed (prefixFailed) the COMMIT's
   * place never came: the server's ReadyForQuery (its status 'E' in a block) is the reply, the
   * injected one a copy of it, the error withdrawn (checked on PostgreSQL 15: 'INSERT ...; COMMIT'
   * whose INSERT breaks a unique key in a block answers 23505 then 'E'; the proxy told the client
   * 40001 and 'I', and the server refused its next statements with 25P02).
   */
  protected prefixEnds(ordinal: number, type: number): void {
    const left = this.prefixes.get(ordinal);
    const reply = this.prefixReplies.get(ordinal);
    this.prefixes.delete(ordinal);
    this.prefixReplies.delete(ordinal);
    if (left !== -1 || type !== Z || reply === undefined) return;
    reply.bytes = pgReadyForQuery(this.txStatus);
    this.withdrawn.add(ordinal);
  }

  /**
   * FramerSession.errorFate: an error held for its request's Execute may be withdrawn
   * (postgres-later.ts), and one on a COMMIT after a statement before it failed (prefixEnds).
   */
  errorFate(ordinal: number): ErrorFate {
    if (this.withdrawn.size > 0 && this.withdrawn.delete(ordinal)) return 'withdrawn';
    return this.later.fate(ordinal);
  }

  /**
   * A message at `pos` of the open request, which drew an error before its Sync came (errored):
   * it goes with the request, nowhere, as the server discards what follows an error; but up to
   * the Execute of a request whose error waits for it, to the server, and in the Execute's place a
   * Parse that fails (postgres-later.ts). Messages that reach the server name what they name. The
   * next frame's start.
   */
  protected afterError(d: Dir, out: Frames, segStart: number, pos: number, type: number, buf: Buffer, body: number): number {
    if (type === S || type === X) return this.passOn(d, out, segStart, pos, type);
    this.clientMessage(d, type);
    // After a message passed to the server, the request's own bytes go on.
    d.inMsg = true;
    const ordinal = this.ordinal - 1;
    if (EXTENDED_TYPES[type] === 0 || !this.later.forwards(ordinal)) return segStart;
    emit(out, d, segStart, pos, false);
    // At its Execute, or where else a real error of its kind comes, a failing Parse in its place.
    const instead = type === E ? this.later.ran(ordinal) : this.later.landsAt(ordinal, type, buf, pos, this.commits);
    if (instead !== undefined) {
      out.pushIn(instead, 0, instead.length, WHOLE | PASS);
      return pos;
    }
    this.later.sent(ordinal, type);
    this.commits.seen(type, buf, pos + 5, body);
    this.blocks.seen(type, buf, pos + 5, body, ordinal);
    this.startMessage(d, PASS_META, true);
    return pos;
  }

  /**
   * The Sync (or Terminate) at `pos` of a request that drew an error before it came: the request
   * ends before it (an empty last frame, when the Sync starts the chunk), and it goes on its own,
   * passed through, its ReadyForQuery too; a Sync with no Execute before it of a request whose
   * error waits for one, behind the failing Parse, or alone when the server serves the request
   * (postgres-later.ts, unrun). The next frame's start.
   */
  private passOn(d: Dir, out: Frames, segStart: number, pos: number, type: number): number {
    out.push(segStart, pos, END);
    d.inMsg = false;
    d.endAfter = false;
    this.batchOpen = false;
    this.erroredOpen = false;
    const ordinal = this.ordinal - 1;
    if (type === S) {
      const instead = this.later.forwards(ordinal) ? this.later.unrun(ordinal) : undefined;
      if (instead !== undefined) out.pushIn(instead, 0, instead.length, WHOLE | PASS);
      this.fifo.push(PASSED_SYNC);
    }
    this.startMessage(d, PASS_META, true);
    return pos;
  }
}
