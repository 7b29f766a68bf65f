/**
 * The reply side of a redis session: one complete RESP value per request waiting in the queue,
 * nested aggregates and RESP3 types included, push messages and unasked replies passed through.
 * What an error drawn for a request must follow (redis-injected.ts) and the request side (redis.ts)
 * build on it, the request side filling the queue.
 */
import { Tail } from './held-bytes.js';
import { ReplyCursor } from './reply-cursor.js';
import { FramingError } from '../protocol.js';
import { Frames, OffsetSession, PASS, passAll, WHOLE } from '../frames.js';
import { After, DOLLAR, lengthLine, lengthLineEnd, PUSH, STAR } from './redis-resp.js';
import { findLF } from './find-lf.js';
import { PendingReplies } from './pending-replies.js';

export abstract class RedisReplies extends OffsetSession {
  // ---- server side
  protected readonly sTail = new Tail();
  private sRaw = false;
  private readonly reply = new ReplyCursor();
  /** The reply being framed answers the request at the head of the queue (else it passes through). */
  private owned = false;
  /** The reply being framed is an error (`-` or `!`). */
  private failed = false;
  /** Elements left in each open aggregate, innermost last. */
  private depth: number[] = [];
  /** Whether each open aggregate is an attribute (`|`), which does not count as an element. */
  private attr: boolean[] = [];
  /** Bytes left of a bulk payload, CRLF included. */
  private bulk = 0;
  /** Inside a simple line (`+ - : _ , # (`), waiting for its LF. */
  private inLine = false;

  /** Requests waiting for a reply (and switch markers), oldest first. */
  protected readonly pending = new PendingReplies<After>();

  private readonly sFrames = new Frames();

  framesFromServer(chunk: Buffer): Frames {
    return this.sRaw || chunk.length === 0 ? passAll(this.sFrames, chunk) : this.sTail.feed(this, this.frameReplies, chunk);
  }

  private frameReplies(buf: Buffer): Frames {
    const out = this.sFrames;
    out.reset(buf);
    const n = buf.length;
    let pos = 0;
    let seg = 0;
    while (pos < n) {
      // The common reply: a whole simple line (`+OK`, `:1`, `-ERR …`) owed to the oldest request,
      // which switches nothing: one look for its LF, no step through the reply's states.
      if (!this.reply.active && this.pending.waiting && this.pending.headTag === After.Normal) {
        const t = buf[pos];
        if (t === 0x2b || t === 0x3a || t === 0x2d) {
          const lf = findLF(buf, pos + 1);
          if (lf >= 0) {
            out.push(pos, lf + 1, WHOLE);
            pos = lf + 1;
            this.pending.shift();
            continue;
          }
        }
      }
      if (!this.reply.active) {
        const waiting = this.pending.waiting;
        const after = waiting ? this.pending.headTag : After.Normal;
        if (waiting && after === After.RawNow) {
          this.pending.shift();
          this.sRaw = true;
          out.push(pos, n, WHOLE | PASS);
          return out;
        }
        // A push message, or a reply nobody asked for, passes through.
        const owned = waiting && (buf[pos] !== PUSH || after === After.ReplyThenRaw);
        this.owned = owned;
        this.failed = buf[pos] === 0x2d || buf[pos] === 0x21;
        this.reply.begin(!owned);
        seg = pos;
      }
      let done = false;
      if (this.bulk > 0) {
        const take = Math.min(this.bulk, n - pos);
        pos += take;
        this.bulk -= take;
        if (this.bulk === 0) done = this.completeElement();
      } else if (this.inLine) {
        const lf = findLF(buf, pos);
        if (lf < 0) {
          pos = n;
        } else {
          pos = lf + 1;
          this.inLine = false;
          done = this.completeElement();
        }
      } else {
        const t = buf[pos];
        let hold = false;
        switch (t) {
          case 0x2b: // + simple string
          case 0x2d: // - error
          case 0x3a: // : integer
          case 0x5f: // _ null
          case 0x2c: // , double
          case 0x23: // # boolean
          case 0x28: // ( big number
            this.inLine = true;
            pos++;
            continue;
          case DOLLAR: // $ bulk string
          case 0x21: // ! bulk error
          case 0x3d: // = verbatim string
          case STAR: // * array
          case 0x7e: // ~ set
          case PUSH: // > push
          case 0x25: // % map
          case 0x7c: { // | attribute
            const lf = lengthLineEnd(buf, pos, 'reply');
            if (lf < 0) {
              hold = true;
              break;
            }
            const len = lengthLine(buf, pos + 1, lf);
            if (len === undefined || len < -1) throw new FramingError(`redis: invalid length in a '${String.fromCharCode(t)}' reply`);
            pos = lf + 1;
            if (t === DOLLAR || t === 0x21 || t === 0x3d) {
              if (len === -1) done = this.completeElement();
              else this.bulk = len + 2;
            } else if (len === -1) {
              done = this.completeElement();
            } else {
              const count = t === 0x25 || t === 0x7c ? len * 2 : len;
              if (count > 0) {
                this.depth.push(count);
                this.attr.push(t === 0x7c);
              } else if (t !== 0x7c) {
                done = this.completeElement();
              }
            }
            break;
          }
          default:
            throw new FramingError(`redis: unknown reply type byte ${t}`);
        }
        // An incomplete length line: hold it until more bytes come.
        if (hold) break;
      }
      if (done) {
        out.push(seg, pos, this.reply.flags(true));
        seg = pos;
        if (this.owned) {
          this.owned = false;
          const after = this.pending.headTag;
          const ordinal = this.pending.headOrdinal;
          this.pending.shift();
          // RawNow never gets here (no reply): the others are ReplyThenRaw and Functions.
          if (after !== After.Normal) {
            if (after === After.Functions) this.functionsReplied(ordinal, !this.failed);
            else if (!(this.failed && this.refusedSwitch(ordinal))) {
              this.sRaw = true;
              if (pos < n) out.push(pos, n, WHOLE | PASS);
              return out;
            }
          }
        }
      }
    }
    if (this.reply.active && pos > seg) out.push(seg, pos, this.reply.flags(false));
    this.sTail.hold(buf, pos);
    return out;
  }

  /** One element is complete: close the aggregates it completes. True when the whole value is. */
  private completeElement(): boolean {
    const depth = this.depth;
    while (depth.length) {
      const i = depth.length - 1;
      if (--depth[i] > 0) return false;
      depth.pop();
      // An attribute is a prefix: the value it describes is still to come at the same level.
      if (this.attr.pop()) return false;
    }
    return true;
  }

  // ================================================================ bookkeeping

  /**
   * Request `ordinal`, a SUBSCRIBE, is answered by the server's error (an ACL's NOPERM): whether
   * the connection stays in normal mode, as on the server, the client side still framing.
   */
  protected abstract refusedSwitch(ordinal: number): boolean;

  /** Request `ordinal`, a FUNCTION LOAD, DELETE or FLUSH, a SCRIPT LOAD or FLUSH, was answered by the server (`taken`: not with an error), or withheld. */
  protected abstract functionsReplied(ordinal: number, taken: boolean): void;

  /** Request `ordinal`, a SUBSCRIBE, is answered by an injected error: it switches nothing (skipped drops it then). */
  protected replyNormally(ordinal: number): void {
    const i = this.pending.indexOf(ordinal);
    if (i >= 0) this.pending.setTag(i, After.Normal);
  }

  skipped(ordinal: number): void {
    const i = this.pending.indexOf(ordinal);
    if (i < 0) return;
    const tag = this.pending.tagAt(i);
    if (tag === After.Functions) this.functionsReplied(ordinal, false);
    if (tag === After.Normal || tag === After.Functions) this.pending.remove(i);
    // The server never saw the SUBSCRIBE: no reply will come, but the client side already
    // passes through, so the server side must too once earlier replies are done.
    else this.pending.setTag(i, After.RawNow);
  }
}
