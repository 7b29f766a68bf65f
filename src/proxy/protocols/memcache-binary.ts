/**
 * memcached's binary protocol (memjs, spymemcached, libmemcached's binary mode): framing and its
 * error replies. memcached picks the protocol of a connection from its first byte (0x80:
 * binary) and keeps it; so does the memcache session (memcache.ts), which hands such a
 * connection to this one.
 *
 * A request is a 24-byte header (magic 0x80, opcode, key length, extras length, total body
 * length, opaque, cas) and its body (extras, key, value); a reply the same with magic 0x81 and a
 * status. The start segment holds the header, extras and key; a value streams. Each request
 * gets one reply packet, except STAT: a packet per statistic, then one without a key. A reply
 * nobody asked for is passthrough.
 *
 * The quiet commands (GETQ, GETKQ, SETQ, DELETEQ, ...) are answered only when they fail (GETQ
 * and GETKQ: only on a hit), as memcached 1.6 does: clients send a batch of them closed by a
 * NOOP or a plain GETK (libmemcached's multi-get), whose reply says that those still unanswered
 * got none. A reply is matched to the oldest quiet request waiting by the opcode and opaque
 * memcached echoes (and the key, which GETKQ's and GATKQ's replies carry: libmemcached sends a
 * batch's with one opaque); a request it does not match got no reply, and its exchange ends
 * with an empty reply frame right there. Quiet requests of one opcode and opaque that a client
 * cannot tell apart either are matched first come. An error injected behind quiet requests still
 * waiting is sent to the server as a NOOP of its opaque (standIn), whose reply it replaces: that
 * reply closes the batch, so the error goes in its turn and the requests ahead of it end (the
 * error would otherwise wait for a later reply, and a client waiting for the error sends none).
 * QUITQ, answered by the close alone, is noReply.
 *
 * Not framed, honestly (a FramingError: the engine passes the connection through raw, and says
 * so): a packet whose magic is wrong or whose extras and key are longer than its body
 * (memcached closes such a connection). The client's side stopped so, or by a header over
 * max_buffer, the replies owed to the requests before are still framed, as the text protocol's
 * (stopRequests, memcache-session.ts).
 */
import { copyOf, END, type Frames, NO_REPLY, passAll, START } from '../frames.js';
import { FramingError, MAX_HEAD_BYTES, type ErrorReply } from '../protocol.js';
import { MemcacheSessionBase } from './memcache-session.js';
import type { Quiet } from './memcache-quiet.js';

export const REQUEST_MAGIC = 0x80;
const REPLY_MAGIC = 0x81;
const HEADER = 24;
const OP_QUIT = 0x07;
const OP_NOOP = 0x0a;
const OP_GETKQ = 0x0d;
const OP_STAT = 0x10;
const OP_GATKQ = 0x24;
const OP_QUITQ = 0x17;

/** GETQ GETKQ SETQ ADDQ REPLACEQ DELETEQ INCRQ DECRQ FLUSHQ APPENDQ PREPENDQ GATQ GATKQ. */
const QUIET = new Set([0x09, 0x0d, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x18, 0x19, 0x1a, 0x1e, 0x24]);

const NAMES = new Map<number, string>([
  [0x00, 'get'], [0x01, 'set'], [0x02, 'add'], [0x03, 'replace'], [0x04, 'delete'], [0x05, 'incr'], [0x06, 'decr'],
  [OP_QUIT, 'quit'], [0x08, 'flush'], [0x0a, 'noop'], [0x0b, 'version'], [0x0c, 'getk'], [0x0e, 'append'],
  [0x0f, 'prepend'], [OP_STAT, 'stat'], [OP_QUITQ, 'quitq'], [0x1c, 'touch'], [0x1d, 'gat'], [0x20, 'sasl_list_mechs'],
  [0x21, 'sasl_auth'], [0x22, 'sasl_step'], [0x23, 'gatk'],
]);

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;
const labelOf = (op: number) => NAMES.get(op) ?? `opcode ${hex(op)}`;

const enum Replies {
  One,
  /** Packets until one without a key (STAT). */
  Stats,
  /** One packet or none (a quiet command): which, the replies after it say. */
  Quiet,
}

/** A quiet request waiting: what the reply it may get echoes. */
interface QuietRequest extends Quiet {
  opcode: number;
  opaque: number;
  /** GETKQ's and GATKQ's: their replies carry it. */
  key: Buffer | undefined;
}

export class BinarySession extends MemcacheSessionBase<Replies, QuietRequest> {
  // ---- client side
  /** Bytes left of the current request's value. */
  private valueLeft = 0;

  // ---- server side
  private replyKind = Replies.One;
  /** Body bytes left of the packet being read, and whether that packet ends the reply. */
  private bodyLeft = 0;
  private lastPacket = false;

  constructor() {
    // A stand-in (a NOOP) gets one packet.
    super(Replies.One, Replies.Quiet);
  }

  framesFromClient(chunk: Buffer): Frames {
    return chunk.length === 0 ? passAll(this.cFrames, chunk) : this.cTail.feed(this, this.frameRequests, chunk);
  }

  private frameRequests(buf: Buffer): Frames {
    const out = this.cFrames;
    out.reset(buf);
    // A value's end framed here is returned with the chunk, or not at all: its request with it.
    this.chunkFrom = this.valueLeft > 0 ? this.nextOrdinal - 1 : this.nextOrdinal;
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      if (this.valueLeft > 0) {
        const take = Math.min(this.valueLeft, n - pos);
        this.valueLeft -= take;
        out.push(pos, pos + take, this.valueLeft === 0 ? END : 0);
        pos += take;
        continue;
      }
      if (n - pos < HEADER) break;
      if (buf[pos] !== REQUEST_MAGIC) throw new FramingError(`memcache binary: request magic ${hex(buf[pos])}, not 0x80`);
      const op = buf[pos + 1];
      const head = HEADER + buf.readUInt16BE(pos + 2) + buf[pos + 4];
      const body = buf.readUInt32BE(pos + 8);
      if (head - HEADER > body) throw new FramingError(`memcache binary: extras and key longer than the body (opcode ${hex(op)})`);
      if (n - pos < head) {
        if (head > MAX_HEAD_BYTES) throw new FramingError(`memcache binary: key and extras over ${MAX_HEAD_BYTES} bytes`);
        break;
      }
      const noReply = op === OP_QUITQ;
      const ordinal = this.nextOrdinal++;
      if (QUIET.has(op)) {
        const keyed = op === OP_GETKQ || op === OP_GATKQ;
        const keyAt = pos + HEADER + buf[pos + 4];
        const key = keyed ? copyOf(buf, keyAt, keyAt + buf.readUInt16BE(pos + 2)) : undefined;
        this.quiet.push({ ordinal, opcode: op, opaque: buf.readUInt32BE(pos + 12), key });
        this.pending.push(ordinal, Replies.Quiet);
      } else if (!noReply) {
        this.pending.push(ordinal, op === OP_STAT ? Replies.Stats : Replies.One);
      }
      this.valueLeft = HEADER + body - head;
      out.push(pos, pos + head, START | (this.valueLeft === 0 ? END : 0) | (noReply ? NO_REPLY : 0), labelOf(op));
      pos += head;
    }
    this.cTail.hold(buf, pos);
    return out;
  }

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
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, n - pos);
        pos += take;
        this.bodyLeft -= take;
      } else {
        if (n - pos < HEADER) break;
        if (buf[pos] !== REPLY_MAGIC) throw new FramingError(`memcache binary: reply magic ${hex(buf[pos])}, not 0x81`);
        if (!this.reply.active) {
          if (!this.unanswered(out, buf, pos, n)) break;
          this.replyKind = this.beginReply(Replies.One);
          seg = pos;
        }
        this.lastPacket = this.replyKind !== Replies.Stats || buf.readUInt16BE(pos + 2) === 0;
        this.bodyLeft = buf.readUInt32BE(pos + 8);
        pos += HEADER;
      }
      if (this.bodyLeft === 0 && this.lastPacket) {
        out.push(seg, pos, this.reply.flags(true));
        seg = pos;
        if (this.owned) {
          this.owned = false;
          if (this.replyKind === Replies.Quiet) this.quiet.shift();
          this.pending.shift();
          if (this.stopped && this.passesOn(out, pos, n)) return out;
        }
      }
    }
    if (this.reply.active && pos > seg) out.push(seg, pos, this.reply.flags(false));
    this.sTail.hold(buf, pos);
    return out;
  }

  /**
   * A reply starts at `pos`: the quiet requests ahead of the one it answers got none. Each ends
   * with an empty reply, there. False when the reply's key, not all in `buf` (up to `n`), is
   * needed to tell.
   */
  private unanswered(out: Frames, buf: Buffer, pos: number, n: number): boolean {
    while (this.pending.waiting && this.pending.headTag === Replies.Quiet) {
      const mine = answers(buf, pos, n, this.quiet.oldest!);
      if (mine !== false) return mine !== undefined;
      this.unansweredQuiet(out, pos);
    }
    return true;
  }

  /**
   * A NOOP of `request`'s opaque, to go in its place, when quiet requests ahead of it
   * (`ordinal`) wait: the error drawn for it then waits for the NOOP's reply, which says what
   * became of them.
   */
  standIn(request: Buffer, ordinal: number): Buffer | undefined {
    // QUITQ is answered by the close alone: a NOOP's reply would be nobody's.
    const oldest = this.quiet.oldest;
    if (oldest === undefined || oldest.ordinal >= ordinal || request[1] === OP_QUITQ) return undefined;
    const noop = Buffer.alloc(HEADER);
    noop[0] = REQUEST_MAGIC;
    noop[1] = OP_NOOP;
    request.copy(noop, 12, 12, 16);
    return noop;
  }

}

/**
 * Whether the reply packet at `pos` is `q`'s: its opcode and opaque, and its key when `q` has
 * one (undefined: the key is not all in `buf` up to `n` yet). A failure's reply carries no key
 * (memcached's error replies have none): it is the oldest one's.
 */
function answers(buf: Buffer, pos: number, n: number, q: QuietRequest): boolean | undefined {
  if (buf[pos + 1] !== q.opcode || buf.readUInt32BE(pos + 12) !== q.opaque) return false;
  const keyLength = buf.readUInt16BE(pos + 2);
  if (q.key === undefined || keyLength === 0) return true;
  const at = pos + HEADER + buf[pos + 4];
  if (n < at + keyLength) return undefined;
  return q.key.equals(buf.subarray(at, at + keyLength));
}

const EMPTY = Buffer.alloc(0);

/**
 * The error reply to binary `request` (its header at least): a packet of its opcode and opaque
 * with `status`, `text` its body as memcached puts its error text there. QUITQ gets the close
 * it asked for and nothing else.
 */
export function binaryError(request: Buffer, status: number, text: string): ErrorReply {
  if (request[1] === OP_QUITQ) return { bytes: EMPTY, close: true };
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(HEADER + body.length);
  out[0] = REPLY_MAGIC;
  out[1] = request[1];
  out.writeUInt16BE(status, 6);
  out.writeUInt32BE(body.length, 8);
  request.copy(out, 12, 12, 16);
  body.copy(out, HEADER);
  return { bytes: out, close: false };
}

/** Whether a request's first segment is a binary one. */
export function isBinaryRequest(request: Buffer): boolean {
  return request.length >= HEADER && request[0] === REQUEST_MAGIC;
}
