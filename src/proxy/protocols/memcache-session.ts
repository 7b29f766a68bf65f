/**
 * What memcache's text and binary sessions share: each side's unfinished tail held until its end,
 * the frames each side's chunk is cut into, and the requests waiting for their replies, oldest
 * first (memcached answers in order), each tagged with the shape of the reply it expects.
 */
import { Frames, OffsetSession } from '../frames.js';
import { Tail } from './held-bytes.js';
import { PendingReplies } from './pending-replies.js';
import { ReplyCursor } from './reply-cursor.js';

export abstract class MemcacheSessionBase<Tag extends number> extends OffsetSession {
  protected readonly cTail = new Tail();
  protected readonly cFrames = new Frames();
  protected nextOrdinal = 0;
  protected readonly sTail = new Tail();
  protected readonly sFrames = new Frames();
  protected readonly reply = new ReplyCursor();
  /** The reply being framed is a request's (not one nobody asked for). */
  protected owned = false;
  protected readonly pending = new PendingReplies<Tag>();

  /** A reply starts: the shape the oldest waiting request expects, or `unasked` when none waits (nobody's reply). */
  protected beginReply(unasked: Tag): Tag {
    this.owned = this.pending.waiting;
    this.reply.begin(!this.owned);
    return this.owned ? this.pending.headTag : unasked;
  }

  skipped(ordinal: number): void {
    // A request the proxy answered itself never reached the server: no reply of its will come.
    const i = this.pending.indexOf(ordinal);
    if (i >= 0) this.pending.remove(i);
  }

  buffered(): number {
    return this.cTail.length + this.sTail.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: this.cTail.take(), server: this.sTail.take() };
  }
}
