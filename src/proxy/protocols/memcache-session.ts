/**
 * What memcache's text and binary sessions share: each side's unfinished tail held until its end,
 * the frames each side's chunk is cut into, and the requests waiting for their replies, oldest
 * first (memcached answers in order), each tagged with the shape of the reply it expects; among
 * them the quiet ones, which a reply may never come for (memcache-quiet.ts).
 */
import { Frames, OffsetSession, PASS, WHOLE } from '../frames.js';
import { Tail } from './held-bytes.js';
import { type Quiet, QuietRequests } from './memcache-quiet.js';
import { PendingReplies } from './pending-replies.js';
import { ReplyCursor } from './reply-cursor.js';

export abstract class MemcacheSessionBase<Tag extends number, Q extends Quiet> extends OffsetSession {
  protected readonly cTail = new Tail();
  protected readonly cFrames = new Frames();
  protected nextOrdinal = 0;
  protected readonly sTail = new Tail();
  protected readonly sFrames = new Frames();
  protected readonly reply = new ReplyCursor();
  /** The reply being framed is a request's (not one nobody asked for). */
  protected owned = false;
  protected readonly pending = new PendingReplies<Tag>();
  /** The quiet requests waiting (their tag in `pending` is the protocol's quiet one). */
  protected readonly quiet = new QuietRequests<Q>();
  /** The first request framed from the bytes being framed: those of a chunk that throws are not returned. */
  protected chunkFrom = 0;
  /** The client's side stopped (stopRequests): once the requests before have their replies, the server's bytes pass through. */
  protected stopped = false;
  /** The server's bytes pass through. */
  protected sRaw = false;

  /**
   * @param answeredTag what a request sent as a stand-in (a NOOP, an `mn`) gets: one reply.
   * @param quietTag a quiet request's tag in `pending`.
   */
  constructor(
    private readonly answeredTag: Tag,
    private readonly quietTag: Tag,
  ) {
    super();
  }

  /** A reply starts: the shape the oldest waiting request expects, or `unasked` when none waits (nobody's reply). */
  protected beginReply(unasked: Tag): Tag {
    this.owned = this.pending.waiting;
    this.reply.begin(!this.owned);
    return this.owned ? this.pending.headTag : unasked;
  }

  skipped(ordinal: number): void {
    // A request the proxy answered itself never reached the server: no reply of its will come.
    this.quiet.forget(ordinal);
    const i = this.pending.indexOf(ordinal);
    if (i >= 0) this.pending.remove(i);
  }

  errored(ordinal: number, standIn?: Buffer): void {
    if (standIn === undefined) return;
    // The stand-in sent in its place is answered, with one reply.
    this.quiet.forget(ordinal);
    const i = this.pending.indexOf(ordinal);
    if (i >= 0) this.pending.setTag(i, this.answeredTag);
  }

  /** The oldest quiet request got no reply: its exchange ends at `pos`, with an empty reply frame. */
  protected unansweredQuiet(out: Frames, pos: number): void {
    this.reply.begin(false);
    out.push(pos, pos, this.reply.flags(true));
    this.quiet.shift();
    this.pending.shift();
  }

  /**
   * The client's side stops (FramerSession.stopRequests): the bytes it could not frame or holds
   * pass through, and the requests framed from a chunk that threw (not `returned`) with them.
   * The replies to those before are still told apart as memcached sends them, in order, up to
   * the last one that gets a reply whatever it does (not quiet): its reply ends the quiet ones'
   * ahead of it, and after it come the replies of requests passed through, whose bounds nothing
   * tells. The quiet ones behind it (their reply or silence told only by what follows) get the
   * server's bytes then, unframed. Undefined when no such request waits.
   */
  stopRequests(returned: boolean): Buffer | undefined {
    const last = this.pending.lastNot(this.quietTag, returned ? this.nextOrdinal : this.chunkFrom);
    if (last < 0) return undefined;
    this.pending.dropFrom(last + 1);
    for (const q of [...this.quiet.waiting()]) if (q.ordinal > last) this.quiet.forget(q.ordinal);
    this.stoppedAt(last);
    this.stopped = true;
    return this.cTail.take();
  }

  /** What else a protocol lets go when its client's side stops behind request `last`. */
  protected stoppedAt(_last: number): void {}

  /**
   * A reply ended at `pos` of `buf` (up to `n`), the client's side stopped: when it was the last
   * owed, the rest of the server's bytes pass through, and `out` is complete.
   */
  protected passesOn(out: Frames, pos: number, n: number): boolean {
    if (this.pending.waiting) return false;
    this.passRest(out, pos, n);
    return true;
  }

  /** The server's bytes from `pos` of the chunk (up to `n`) on pass through. */
  protected passRest(out: Frames, pos: number, n: number): void {
    this.sRaw = true;
    if (pos < n) out.push(pos, n, WHOLE | PASS);
  }

  buffered(): number {
    return this.cTail.length + this.sTail.length;
  }

  /**
   * The client's bytes held only. The server's are the head of one reply, which memcached keeps
   * short (a VALUE line of a 250-byte key is 271 bytes, lru_crawler metadump's longest line 874,
   * a binary header with its key some 300: checked on 1.6.18), and bounded whatever the server
   * (a text line past MAX_HEAD_BYTES is a FramingError; a binary header and key are under 64 KiB
   * by their length fields): held past a max_buffer set under them, as TCP cut one, it stopped
   * the framing where it could go on, and ended the connection when an error waited behind
   * that reply, the reply lost.
   */
  capped(): number {
    return this.cTail.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: this.cTail.take(), server: this.sTail.take() };
  }
}
