/**
 * Redis (RESP2 and RESP3) framing and errors: the protocol, and a session's request side. The
 * reply side is redis-replies.ts, RESP's bytes redis-resp.ts, the injected errors redis-errors.ts.
 *
 * Requests: multi-bulk arrays (`*N\r\n$len\r\n...`) and inline commands (a line that does not
 * start with `*`), framed the way redis-server itself reads them (it does not check the CRLF
 * after a bulk, it skips two bytes, and so do we). The start segment of a request holds the
 * command name and up to two more small arguments (the key, a subcommand), so that behaviors can
 * look at them; big values stream in later segments. Empty multi-bulks (`*0`, `*-1`) and blank
 * inline lines get no reply from redis: they are passthrough.
 *
 * Replies: one complete RESP value per request, nested aggregates included, with RESP3 types
 * (`_ , # ( = % ~ |`, `|` attributes being a prefix of the value they describe). RESP3 push
 * messages (`>`) are out of band: passthrough. A reply that arrives while no request is waiting
 * (e.g. "-ERR max number of clients reached" on connect) is passthrough too.
 *
 * Where replies stop matching requests one to one, the session stops framing, on purpose and
 * without a FramingError (nothing is wrong with the stream):
 * - SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and MONITOR are ordinary requests whose reply is the first
 *   value the server sends for them (the first subscription confirmation, or MONITOR's +OK).
 *   Everything after that request, both ways, is passthrough for the rest of the connection:
 *   later confirmations, messages, MONITOR's feed, and any command sent in subscribed mode.
 *   An injected error on SUBSCRIBE reaches the client as the reply; the session still passes
 *   through afterwards (harmless: nothing is faulted any more on that connection).
 * - SYNC and PSYNC (a replica's stream) are noReply and the connection passes through at once.
 * - CLIENT REPLY OFF|SKIP silences replies for later commands: that throws a FramingError, so
 *   the engine passes the connection through raw.
 * Garbage (a multi-bulk element that is not a bulk string, a bad length, an unknown reply type,
 * an inline line over 64 KiB, a command name over 1 KiB) throws a FramingError.
 */
import { FramingError, MAX_HEAD_BYTES, type FramerSession, type Protocol, type Segment } from '../protocol.js';
import { encodeError, errorKinds } from './redis-errors.js';
import { RedisReplies } from './redis-replies.js';
import {
  After,
  DOLLAR,
  EMPTY,
  HEAD_ARG_MAX,
  HEAD_ARGS,
  inlineWords,
  labelOf,
  LF,
  lengthLine,
  MAX_LENGTH_LINE,
  MAX_MULTIBULK,
  pass,
  STAR,
  SWITCH_AFTER_REPLY,
  SWITCH_NOW,
  type Head,
} from './redis-resp.js';

/** A session's request side, on top of its reply side (redis-replies.ts). */
class RedisSession extends RedisReplies implements FramerSession {
  // ---- client side
  private cHeld: Buffer | null = null;
  /** After SUBSCRIBE/MONITOR/SYNC: requests are no longer framed. */
  private cRaw = false;
  private argsLeft = 0;
  private bulkLeft = 0;
  private reqStarted = false;
  private curLabel = '';
  private curNoReply = false;
  private curAfter: After = After.Normal;
  private nextOrdinal = 0;
  /** parseHead's answer, reused: nothing keeps it past the request it describes. */
  private readonly head: Head = { end: 0, count: 0, args: [], argsLeft: 0, bulkLeft: 0 };

  // ================================================================ client -> server

  fromClient(chunk: Buffer): Segment[] {
    if (chunk.length === 0) return [];
    if (this.cRaw) return [pass(chunk)];
    const buf = this.cHeld ? Buffer.concat([this.cHeld, chunk]) : chunk;
    this.cHeld = null;
    try {
      return this.frameRequests(buf);
    } catch (err) {
      // Nothing of this call was returned: keep it all for drain().
      this.cHeld = buf;
      throw err;
    }
  }

  private frameRequests(buf: Buffer): Segment[] {
    const out: Segment[] = [];
    const n = buf.length;
    let pos = 0;
    let seg = 0; // first byte of the current request not yet emitted
    while (pos < n) {
      if (this.argsLeft === 0) {
        seg = pos;
        if (buf[pos] === STAR) {
          const head = this.parseHead(buf, pos);
          if (!head) break;
          if (head.count <= 0) {
            out.push(pass(buf.subarray(pos, head.end)));
            pos = head.end;
            continue;
          }
          this.beginRequest(buf, head.args);
          pos = head.end;
          this.argsLeft = head.argsLeft;
          this.bulkLeft = head.bulkLeft;
          if (this.argsLeft === 0) {
            this.emitRequest(out, buf.subarray(seg, pos), true);
            seg = pos;
            if (this.cRaw) break;
          }
        } else {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`redis inline command longer than ${MAX_HEAD_BYTES} bytes`);
            break;
          }
          const words = inlineWords(buf, pos, lf, HEAD_ARGS, this.head.args);
          const end = lf + 1;
          if (words.length === 0) {
            out.push(pass(buf.subarray(pos, end)));
          } else {
            this.beginRequest(buf, words);
            this.emitRequest(out, buf.subarray(pos, end), true);
          }
          pos = end;
          seg = pos;
          if (this.cRaw) break;
        }
      } else if (this.bulkLeft > 0) {
        const take = Math.min(this.bulkLeft, n - pos);
        pos += take;
        this.bulkLeft -= take;
        if (this.bulkLeft === 0 && --this.argsLeft === 0) {
          this.emitRequest(out, buf.subarray(seg, pos), true);
          seg = pos;
          if (this.cRaw) break;
        }
      } else {
        if (buf[pos] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[pos]}`);
        const lf = buf.indexOf(LF, pos);
        if (lf < 0 || lf - pos > MAX_LENGTH_LINE) {
          if (lf >= 0 || n - pos > MAX_LENGTH_LINE) throw new FramingError('redis: bulk length line too long');
          break;
        }
        const len = lengthLine(buf, pos + 1, lf);
        if (len === undefined || len < 0) throw new FramingError('redis: invalid bulk length in request');
        this.bulkLeft = len + 2;
        pos = lf + 1;
      }
    }
    if (this.cRaw) {
      if (pos < n) out.push(pass(buf.subarray(pos)));
      return out;
    }
    if (this.argsLeft > 0 && pos > seg) this.emitRequest(out, buf.subarray(seg, pos), false);
    if (pos < n) this.cHeld = buf.subarray(pos);
    return out;
  }

  /**
   * Read `*N` and the first arguments. Null when more bytes are needed (nothing consumed).
   */
  private parseHead(buf: Buffer, start: number): Head | null {
    const n = buf.length;
    const lf = buf.indexOf(LF, start);
    if (lf < 0 || lf - start > MAX_LENGTH_LINE) {
      if (lf >= 0 || n - start > MAX_LENGTH_LINE) throw new FramingError('redis: multi-bulk length line too long');
      return null;
    }
    const count = lengthLine(buf, start + 1, lf);
    if (count === undefined || count > MAX_MULTIBULK) throw new FramingError('redis: invalid multi-bulk length');
    let p = lf + 1;
    const head = this.head;
    const args = head.args;
    args.length = 0;
    head.count = count;
    if (count <= 0) return this.headEnds(p, 0, 0);
    const want = Math.min(count, HEAD_ARGS) * 2;
    while (args.length < want) {
      if (p >= n) return null;
      if (buf[p] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[p]}`);
      const lf2 = buf.indexOf(LF, p);
      if (lf2 < 0 || lf2 - p > MAX_LENGTH_LINE) {
        if (lf2 >= 0 || n - p > MAX_LENGTH_LINE) throw new FramingError('redis: bulk length line too long');
        return null;
      }
      const len = lengthLine(buf, p + 1, lf2);
      if (len === undefined || len < 0) throw new FramingError('redis: invalid bulk length in request');
      const data = lf2 + 1;
      if (len > HEAD_ARG_MAX) {
        if (args.length === 0) throw new FramingError(`redis: command name longer than ${HEAD_ARG_MAX} bytes`);
        // A big value: the head ends before it and the value streams.
        return this.headEnds(data, count - args.length / 2, len + 2);
      }
      if (data + len + 2 > n) return null;
      args.push(data, data + len);
      p = data + len + 2;
    }
    return this.headEnds(p, count - args.length / 2, 0);
  }

  private headEnds(end: number, argsLeft: number, bulkLeft: number): Head {
    const head = this.head;
    head.end = end;
    head.argsLeft = argsLeft;
    head.bulkLeft = bulkLeft;
    return head;
  }

  /** Name the request from its first words, decide what its reply looks like, queue it. */
  private beginRequest(buf: Buffer, words: readonly number[]): void {
    const label = labelOf(buf, words[0], words[1]);
    let after = After.Normal;
    if (SWITCH_AFTER_REPLY.has(label)) after = After.ReplyThenRaw;
    else if (SWITCH_NOW.has(label)) after = After.RawNow;
    else if (label === 'CLIENT' && words.length >= 6) {
      const sub = labelOf(buf, words[2], words[3]);
      const mode = labelOf(buf, words[4], words[5]);
      if (sub === 'REPLY' && (mode === 'OFF' || mode === 'SKIP')) {
        throw new FramingError(`redis: CLIENT REPLY ${mode} makes replies stop matching requests`);
      }
    }
    const ordinal = this.nextOrdinal++;
    this.curLabel = label;
    this.curAfter = after;
    this.curNoReply = after === After.RawNow;
    this.reqStarted = false;
    this.push({ ordinal, after });
  }

  private emitRequest(out: Segment[], data: Buffer, end: boolean): void {
    const seg: Segment = { data, start: !this.reqStarted, end };
    if (seg.start) {
      seg.label = this.curLabel;
      if (this.curNoReply) seg.noReply = true;
      this.reqStarted = true;
    }
    out.push(seg);
    if (end && this.curAfter !== After.Normal) this.cRaw = true;
  }

  buffered(): number {
    return (this.cHeld?.length ?? 0) + (this.sHeld?.length ?? 0);
  }

  drain(): { client: Buffer; server: Buffer } {
    const out = { client: this.cHeld ?? EMPTY, server: this.sHeld ?? EMPTY };
    this.cHeld = null;
    this.sHeld = null;
    return out;
  }
}

export const redis: Protocol = {
  name: 'redis',
  framesReplies: true,
  errorKinds,
  defaultError: 'LOADING',
  createSession: () => new RedisSession(),
  encodeError,
};
