/**
 * PostgreSQL: an injected error that waits for its request's Execute, in a later read
 * (postgres-aborted.ts, ranLater). The server is sent the request's first read, whose replies
 * pass to the client (postgres.js waits for its statement's description before it binds it);
 * the rest, up to the Sync, goes nowhere. The client gets, for what of it comes before the
 * Execute, the completions the server would send (ParseComplete, BindComplete, CloseComplete),
 * then the error, then ReadyForQuery, once the server has answered the client's Sync, as a
 * statement failing as it runs: the error comes after the client's Bind, not before it.
 *
 * In a block, the failing Parse sent after the first read aborts it: its error, once the first
 * read is answered, begins the reply the injected one replaces. Should the server answer the
 * first read itself with an error (a syntax error, or a request ahead that failed inside a
 * block), it ignores what follows up to the Sync: a client waiting for a description would then
 * wait for ever, so the injected error goes at once, in its place, and the ReadyForQuery when
 * the Sync comes, as the server's own does.
 */
import type { ErrorReply } from '../protocol.js';
import { completions, READY_FOR_QUERY_LENGTH } from './postgres-errors.js';
import { completionOf } from './postgres-aborted.js';

const EXECUTE = 0x45; // 'E' from the client

export class LaterErrors {
  /** The request whose error waits, by ordinal (one at most: the open request). */
  private ordinal = -1;
  private reply: ErrorReply | undefined;
  /** The completions of its messages that went nowhere, as type bytes. */
  private before = '';
  /** Its Execute has come: what follows it goes unanswered, as after a real error. */
  private ran = false;
  /** The server's answers to its first read still to come (postgres-aborted.ts, answersTo). */
  private answers = 0;

  /**
   * `reply`, the error (with its ReadyForQuery) for request `ordinal`, in an object of its own
   * whose bytes get the completions of the messages to come ahead of them.
   */
  hold(ordinal: number, reply: ErrorReply, answers: number): ErrorReply {
    const held = { bytes: reply.bytes, close: reply.close };
    this.ordinal = ordinal;
    this.reply = held;
    this.before = '';
    this.ran = false;
    this.answers = answers;
    return held;
  }

  /** The server answered a message of request `ordinal`'s first read (passed to the client). */
  passed(ordinal: number): void {
    if (this.waiting(ordinal)) this.answers--;
  }

  /** Whether request `ordinal`'s error waits for the server's answer to its Sync. */
  waiting(ordinal: number): boolean {
    return this.reply !== undefined && ordinal === this.ordinal;
  }

  /** A message of type `type` of request `ordinal`, which goes nowhere. */
  seen(type: number, ordinal: number): void {
    if (!this.waiting(ordinal) || this.ran) return;
    if (type === EXECUTE) this.ran = true;
    else this.before += completionOf(type);
  }

  /** The server answered request `ordinal`'s Sync: its error's bytes are complete. */
  answered(ordinal: number): void {
    if (!this.waiting(ordinal)) return;
    const reply = this.reply!;
    if (this.before !== '') reply.bytes = Buffer.concat([completions(this.before), reply.bytes]);
    this.reply = undefined;
  }

  /**
   * The server failed request `ordinal`'s first read: what followed went nowhere, as the server
   * ignores it. `open`, its Sync still to come: the error goes now, alone, as the server's would
   * (true). Otherwise it goes with the ReadyForQuery that is coming, as the server's does.
   */
  serverFailed(ordinal: number, open: boolean): boolean {
    // Once its first read is answered, the error is the failing Parse's that aborts a block.
    if (!this.waiting(ordinal) || this.answers <= 0) return false;
    this.before = '';
    if (!open) return false;
    const reply = this.reply!;
    reply.bytes = reply.bytes.subarray(0, reply.bytes.length - READY_FOR_QUERY_LENGTH);
    this.reply = undefined;
    return true;
  }
}
