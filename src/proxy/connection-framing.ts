/**
 * A connection's framing guard: a chunk framed into messages by the protocol's session, and the
 * fall back to pass-through when the session gives up (a FramingError, a message over
 * max_buffer), with what becomes then of the exchanges still waiting for their replies
 * (unframed.ts). When the client's side gives up (bytes it cannot read, or one message over
 * max_buffer) and the session still tells the replies owed to the requests before
 * (FramerSession.stopRequests: memcache's text and binary protocols), those are framed first, so
 * that an error injected among them still goes in its place. A layer of the connection's class
 * chain (connection-io.ts), over its reply side.
 */
import { FramingError, type Segment } from './protocol.js';
import { ConnectionReplies } from './connection-replies.js';
import { Frames } from './frames.js';
import { placeLost, takeKnown } from './unframed.js';

const EMPTY = Buffer.alloc(0);

/**
 * Why the framing stopped: bytes the session cannot read (a FramingError: none of the chunk's
 * frames returned), one message over max_buffer (the chunk's frames returned, the bytes held
 * not), or a framer bug (nothing the session says holds any more).
 */
type GaveUp = 'unreadable' | 'overCap' | 'bug';

export abstract class ConnectionFraming extends ConnectionReplies {
  /** Framing stopped: the ordinal of the first exchange the server's unframed bytes answered (unframed.ts). */
  private streamFrom = Infinity;

  /** The chunk's messages: as offsets when the session frames into them (frames.ts). */
  protected frame(chunk: Buffer, side: 'client' | 'server'): Segment[] | Frames {
    if (this.raw && !(this.serverFramed && side === 'server')) return [{ data: chunk, start: true, end: true, passthrough: true }];
    try {
      const s = this.session;
      const o = this.offsets;
      const client = side === 'client';
      let framed: Segment[] | Frames;
      if (o) framed = client ? o.framesFromClient(chunk) : o.framesFromServer(chunk);
      else framed = client ? s.fromClient(chunk) : s.fromServer(chunk);
      if (s.buffered() > this.core.maxBuffer && (s.capped === undefined || s.capped() > this.core.maxBuffer)) {
        const segs = framed instanceof Frames ? framed.segments() : framed;
        return this.fallback(side, `more than ${this.core.maxBuffer} bytes held for one message`, segs, 'overCap');
      }
      return framed;
    } catch (err) {
      if (!(err instanceof FramingError)) {
        this.core.log('error', `${this.protocol.name} framer bug on connection ${this.id}: ${String((err as Error)?.stack ?? err)}`);
      }
      return this.fallback(side, (err as Error).message, [], err instanceof FramingError ? 'unreadable' : 'bug');
    }
  }

  /**
   * Give up framing this connection: pass everything through untouched from now on, or, when it
   * is the client's side that gives up and the session can, the client's bytes while the replies
   * owed to the requests before are still framed.
   */
  private fallback(side: 'client' | 'server', reason: string, emitted: Segment[], why: GaveUp): Segment[] {
    if (!this.raw) this.core.counters.fallbacks++;
    this.raw = true;
    const client = side === 'client' && why !== 'bug' ? this.session.stopRequests?.(why === 'overCap') : undefined;
    this.serverFramed = client !== undefined;
    const after = this.serverFramed ? 'passing the client\'s bytes through untouched, the replies owed to the requests before still framed' : 'passing bytes through untouched';
    this.core.log('warn', `${this.protocol.name} connection ${this.id}: framing stopped (${reason}); ${after}`);
    const held = client !== undefined ? { client, server: EMPTY } : this.session.drain();
    const mine = side === 'client' ? held.client : held.server;
    const other = side === 'client' ? held.server : held.client;
    if (other.length) {
      if (side === 'client') this.handleReply({ data: other, start: true, end: true, passthrough: true });
      else this.requests.push({ data: other, start: true, end: true, passthrough: true });
    }
    const out = [...emitted];
    if (mine.length) out.push({ data: mine, start: true, end: true, passthrough: true });
    return out;
  }

  /**
   * Server bytes after framing stopped (unframed.ts): every exchange still waiting for its reply
   * has it in them, and ends as they come; they go after the replies queued, in turn.
   */
  protected unframedReply(data: Buffer): void {
    // The session passes the server's bytes through now: what it framed is delivered.
    this.serverFramed = false;
    if (this.orderLost()) return;
    for (let ex = this.awaiting.shift(); ex !== undefined; ex = this.awaiting.shift()) {
      if (ex.ordinal < this.streamFrom) this.streamFrom = ex.ordinal;
      ex.replyStarted = true;
      ex.replyEnded = true;
      ex.membersEnded = ex.members;
    }
    if (this.replies.length) this.holdLast(data);
    else this.writeClient(data);
  }

  /**
   * Framing stopped, and an injected reply has no known place in the server's bytes any more
   * (unframed.ts): the replies ahead of it whose bytes are known go, and what was framed of the
   * one still to come, then the connection ends. False when every reply still has its place.
   */
  protected orderLost(): boolean {
    if (!this.protocol.framesReplies || this.serverEnded || this.serverFramed) return false;
    const lost = placeLost(this.replies, this.streamFrom);
    if (lost === undefined) return false;
    this.core.log('warn', `${this.protocol.name} connection ${this.id}: closed: an error injected for a request waits behind a reply that can no longer be told apart (framing stopped), so where it goes among the server's bytes is unknown`);
    const { bytes, taken } = takeKnown(this.replies, lost);
    for (const b of bytes) this.writeClient(b);
    for (const ex of taken) this.delivered(ex);
    this.replies.clear();
    this.awaiting.clear();
    this.dropUpstream = true;
    this.dropDownstream = true;
    this.flush();
    this.client.end();
    this.later(50, () => this.destroy());
    return true;
  }
}
