/**
 * What memcache's text and binary sessions share: each side's unfinished tail held until its end,
 * the frames each side's chunk is cut into, and the requests waiting for their replies, oldest
 * first (memcached answers in order), each tagged with the shape of the reply it expects; among
 * them the quiet ones, which a reply may never come for (memcache-quiet.ts).
 */
import { Frames, OffsetSession } from '../frames.js';
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

  /** @param answeredTag what a request sent as a stand-in (a NOOP, an `mn`) gets: one reply. */
  constructor(private readonly answeredTag: Tag) {
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

  buffered(): number {
    return this.cTail.length + this.sTail.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: this.cTail.take(), server: this.sTail.take() };
  }
}
