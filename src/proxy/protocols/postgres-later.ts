/**
 * PostgreSQL: an injected error that waits for its request's Execute, in a later read
 * (postgres-aborted.ts, ranLater). The server is sent the request's first read, and every
 * message after it up to the Execute as it comes (a Bind, a Describe, a Flush: libpq's pipeline
 * mode, psycopg 3 and JDBC send them at their own times), so it answers them itself, at each
 * Flush, as it would: a client waiting for a description it asked for in a later read would
 * otherwise wait for ever. In the Execute's place goes a Parse that fails (FAIL_PARSE), as the
 * kinds stand for a statement failing as it runs: its error, sent by the server at once, Flush or
 * not, as a real one is, is the request's reply, which the injected error (without a
 * ReadyForQuery) replaces; in a block it aborts it, as a real error does, and outside one it
 * aborts the implicit transaction of the messages before it, which ran nothing; neither drops a
 * prepared statement. What follows the Execute goes nowhere, as the server ignores it after an
 * error, and the Sync goes to the server, whose ReadyForQuery passes to the client. A Sync with
 * no Execute before it has the failing Parse sent ahead of it.
 *
 * Should the server fail one of the messages before the Execute itself (a syntax error, a Bind of
 * the wrong parameters, a request ahead that failed in a block), it ignores what follows up to
 * the Sync, so nothing more is sent: its error is the request's reply all the same, the injected
 * one in its place.
 */
import type { ErrorReply } from '../protocol.js';

export class LaterErrors {
  /** The request whose messages go to the server as they come, its Execute to come; -1 for none. */
  private open = -1;
  /**
   * The requests whose reply is the server's next error, by ordinal: the open one, and those
   * whose Execute came while the server has not answered it yet (the next request may draw its
   * error before then, postgres.js pipelining).
   */
  private readonly waiting = new Set<number>();

  /** `reply`, the error (without a ReadyForQuery) for request `ordinal`, whose Execute is to come. */
  hold(ordinal: number, reply: ErrorReply): ErrorReply {
    this.open = ordinal;
    this.waiting.add(ordinal);
    return reply;
  }

  /** Whether request `ordinal`'s messages go to the server: its Execute has not come. */
  forwards(ordinal: number): boolean {
    return ordinal === this.open;
  }

  /** Request `ordinal`'s Execute (or its Sync without one) came: the failing Parse goes in its place. */
  ran(ordinal: number): void {
    if (ordinal === this.open) this.open = -1;
  }

  /**
   * The server sent an error while answering request `ordinal`: whether it is the reply of an
   * error held here (the failing Parse's, or the server's own before it), which then ends the wait.
   */
  answeredBy(ordinal: number): boolean {
    if (this.waiting.size === 0 || !this.waiting.delete(ordinal)) return false;
    this.ran(ordinal);
    return true;
  }
}
