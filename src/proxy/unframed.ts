/**
 * What becomes of the exchanges still owed a reply when a connection's framing stops (a
 * FramingError, or a message over the buffer cap: it passes bytes through from then on). The
 * server's bytes are one stream without bounds after that: the replies it owes to requests
 * forwarded before, then to those passed through.
 *
 * - A forwarded exchange waiting for its reply gets the stream, and ends as its first bytes come
 *   (as an unframed reply does, tcp.ts): the client has the server's bytes, in order.
 * - An injected reply (an error drawn, a stand-in's reply to swallow) behind a reply still to
 *   come has no known place in the stream: its place is where that reply ends, which nothing
 *   tells any more. The connection is then closed, said in the log, after the replies whose
 *   bytes are known. A guess would hand the client another request's reply as its own and shift
 *   every reply after it, silently; leaving it to wait would hang it for good (the error never
 *   goes, what came is read as the wrong replies). A close is what a client meets when a server
 *   goes away, and handles.
 * - Injected replies ahead of every reply still to come go in their turn, as before.
 */
import type { Exchange } from './exchange.js';
import type { Fifo } from './fifo.js';

/**
 * The first exchange in `replies` whose injected reply has no place in an unframed stream, or
 * undefined: one behind an exchange whose reply is still to come, or behind `streamFrom` (the
 * ordinal of the first exchange the stream answered, Infinity until one was), or one whose own
 * stand-in's reply is still to come.
 */
export function placeLost(replies: Fifo<Exchange>, streamFrom: number): Exchange | undefined {
  let from = streamFrom;
  for (let i = 0; i < replies.length; i++) {
    const ex = replies.at(i)!;
    const open = !ex.skip && !ex.replyEnded;
    if (ex.injected !== undefined && (open || ex.ordinal > from)) return ex;
    if (open && ex.ordinal < from) from = ex.ordinal;
  }
  return undefined;
}

/**
 * Takes from `replies` those ahead of `lost` (placeLost) whose bytes are known, up to the first
 * whose reply is still to come: their bytes in order, then what was framed of that one's reply.
 */
export function takeKnown(replies: Fifo<Exchange>, lost: Exchange): { bytes: Buffer[]; taken: Exchange[] } {
  const bytes: Buffer[] = [];
  const taken: Exchange[] = [];
  for (let ex = replies.first(); ex !== undefined && ex !== lost; ex = replies.first()) {
    bytes.push(...ex.chunks);
    if (!ex.skip && !ex.replyEnded) break;
    replies.shift();
    taken.push(ex);
    if (ex.injected !== undefined) bytes.push(ex.injected.bytes);
  }
  return { bytes, taken };
}
