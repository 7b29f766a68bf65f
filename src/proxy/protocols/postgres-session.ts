/**
 * PostgreSQL's framing session (postgres.ts says what it frames): the client's messages into
 * requests, the server's into their replies. What an injected error must follow, and what
 * becomes of the rest of a request that drew one before its Sync, is its error side
 * (postgres-error-state.ts), the layer below.
 */
import { emit, endMessage, int32BE, LengthPrefixedFeeder, PASS_META, type StartMeta } from './length-prefixed.js';
import type { Frames } from '../frames.js';
import { Fifo } from '../fifo.js';
import { FramingError, MAX_HEAD_BYTES } from '../protocol.js';
import type { FramerSession, Segment } from '../protocol.js';
import { PgErrorState } from './postgres-error-state.js';
import {
  ASYNC_TYPES, CANCEL_REQUEST, COPY_TYPES, type Dir, EXTENDED_META, EXTENDED_TYPES, FUNCTION_CALL_META, GSSENC_REQUEST, isExtended,
  MAX_STARTUP_LENGTH, newDir, ordinalOf, PASSED_SYNC, pending, QUERY_META, REPLY_META, SERVER_TYPES, SSL_REQUEST, STARTUP_META, SYNC_META, TERMINATE_META,
} from './postgres-messages.js';

const T = (c: string): number => c.charCodeAt(0);
const Q = T('Q'), F = T('F'), S = T('S'), X = T('X'), Z = T('Z'), G = T('G'), H = T('H'), E = T('E');
const C_DONE = T('c'), C_FAIL = T('f'), DATA_ROW = T('D');

const enum Phase { Startup, Auth, Command }
/** What the end of the next message that ends an exchange brings (msgDone). */
const enum After { Nothing, Raw, Fatal }

/** An ErrorResponse's bytes read for its severity: S (localized) and V (not, PostgreSQL 9.6 on) come first. */
const SEVERITY_PEEK = 32;
const SEVERITY = T('S'), SEVERITY_V = T('V');

/**
 * Whether the ErrorResponse at `pos` of `buf` (its first SEVERITY_PEEK body bytes there at
 * least, or all of it) is FATAL or PANIC, which the server sends before it closes the connection.
 */
function fatal(buf: Buffer, pos: number): boolean {
  const end = Math.min(buf.length, pos + 1 + int32BE(buf, pos + 1));
  let at = pos + 5;
  for (let field = 0; field < 2 && at < end; field++) {
    const code = buf[at];
    const stop = buf.indexOf(0, at + 1);
    if (stop < 0 || stop >= end) return false;
    if (code === SEVERITY || code === SEVERITY_V) {
      const value = buf.toString('latin1', at + 1, stop);
      if (value === 'FATAL' || value === 'PANIC') return true;
    }
    at = stop + 1;
  }
  return false;
}

export class PgSession extends PgErrorState implements FramerSession {
  private phase = Phase.Startup;
  private raw = false;
  private afterMessage = After.Nothing;
  /** Where the FATAL amid a reply starts in the bytes being framed (fatalAmid). */
  private fatalAt = 0;
  /** The server owes one byte: the answer to an SSLRequest or GSSENCRequest. */
  private expectByte = false;
  private readonly c: Dir = newDir();
  private readonly s: Dir = newDir();
  private readonly feeder = new LengthPrefixedFeeder<Dir>('postgres', {
    need: (d, held, client) => this.need(d, held, 0, client),
    scan: (d, b, client, out) => this.scan(d, b, client, out),
    isRaw: () => this.raw,
  }, this.c, this.s);

  protected ordinal = 0;
  protected readonly fifo = new Fifo<number>();
  protected batchOpen = false;
  /** The server is in COPY IN mode (it sent CopyInResponse). */
  private copyIn = false;
  private copyExtended = false;
  /** libpq sends one more Sync after a COPY run by an extended query; it is part of that exchange. */
  private absorbSync = false;

  fromClient(chunk: Buffer): Segment[] {
    return this.feeder.feed(this.c, chunk, true);
  }

  fromServer(chunk: Buffer): Segment[] {
    return this.feeder.feed(this.s, chunk, false);
  }

  framesFromClient(chunk: Buffer): Frames {
    return this.feeder.frames(this.c, chunk, true);
  }

  framesFromServer(chunk: Buffer): Frames {
    return this.feeder.frames(this.s, chunk, false);
  }

  skipped(ordinal: number): void {
    if (!this.fifo.delete(pending(ordinal, false))) this.fifo.delete(pending(ordinal, true));
    this.blocks.skipped(ordinal);
  }

  buffered(): number {
    return this.feeder.buffered();
  }

  drain(): { client: Buffer; server: Buffer } {
    return this.feeder.drain();
  }

  /** Bytes needed from `pos` (a message boundary) before the message can be classified. */
  private need(d: Dir, b: Buffer, pos: number, client: boolean): number {
    const avail = b.length - pos;
    if (!client && this.expectByte && (avail < 1 || b[pos] !== E)) return 1;
    if (client && this.phase === Phase.Startup) {
      if (avail >= 1 && b[pos] === 0x16) return 1; // a TLS ClientHello (direct SSL)
      return 8;
    }
    if (avail < 5) return 5;
    const type = b[pos];
    const body = int32BE(b, pos + 1) - 4;
    if (body < 0) return 5;
    let peek = 0;
    if (client) {
      if (this.phase === Phase.Command && !d.inMsg && (type === Q || type === F || EXTENDED_TYPES[type] === 1)) peek = MAX_HEAD_BYTES;
    } else if (type === Z) {
      peek = 1;
    } else if (type === E) {
      // Whole where it may be a FATAL amid a reply, which passes from its first byte (fatalAmid).
      peek = this.watch === E ? body : SEVERITY_PEEK;
    }
    return 5 + Math.min(body, peek);
  }

  private scan(d: Dir, buf: Buffer, client: boolean, out: Frames): void {
    // pos and segStart stay plain locals (no closure over them): the loop runs once per message.
    let pos = 0;
    let segStart = 0;
    for (;;) {
      if (d.remain > 0) {
        if (pos >= buf.length) break;
        const n = Math.min(d.remain, buf.length - pos);
        pos += n;
        d.remain -= n;
        if (d.remain > 0) break;
        segStart = this.msgDone(d, out, segStart, pos);
        continue;
      }
      if (pos >= buf.length) break;
      if (this.raw && !d.inMsg) {
        d.startMeta = PASS_META;
        emit(out, d, pos, buf.length, true);
        return;
      }
      if (!client && d.inMsg && buf[pos] === DATA_ROW) {
        // Fast path through the DataRows of a reply.
        while (pos + 5 <= buf.length && buf[pos] === DATA_ROW) {
          const len = int32BE(buf, pos + 1);
          if (len < 4) break;
          const end = pos + 1 + len;
          if (end > buf.length) {
            d.remain = end - buf.length;
            pos = buf.length;
            break;
          }
          pos = end;
        }
        if (d.remain > 0 || pos >= buf.length) continue;
      }
      // A message all there needs no more asking (need: its head, or its type byte for a one-byte answer).
      const whole = pos + 5 <= buf.length && this.phase === Phase.Command && pos + 1 + int32BE(buf, pos + 1) <= buf.length;
      if (!whole && buf.length - pos < this.need(d, buf, pos, client)) break;

      if (!client && this.expectByte && buf[pos] !== E) {
        // The one-byte answer to SSLRequest / GSSENCRequest.
        const answer = String.fromCharCode(buf[pos]);
        this.expectByte = false;
        if (answer === 'S' || answer === 'G') this.afterMessage = After.Raw;
        else if (answer !== 'N') throw new FramingError(`postgres: unexpected answer ${JSON.stringify(answer)} to an encryption request`);
        this.startMessage(d, PASS_META, true);
        pos += 1;
        segStart = this.msgDone(d, out, segStart, pos);
        continue;
      }
      if (client && this.phase === Phase.Startup) {
        if (buf[pos] === 0x16) {
          // TLS straight away (PostgreSQL 17's sslnegotiation=direct): opaque from here on.
          this.raw = true;
          continue;
        }
        const len = int32BE(buf, pos);
        const code = int32BE(buf, pos + 4);
        if (len < 8 || len > MAX_STARTUP_LENGTH) throw new FramingError(`postgres: bad startup packet length ${len}`);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) this.expectByte = true;
        else if (code === CANCEL_REQUEST) this.afterMessage = After.Raw;
        else if (code >>> 16 === 3) this.phase = Phase.Auth;
        else throw new FramingError(`postgres: unsupported protocol version ${code >>> 16}.${code & 0xffff}`);
        // The StartupMessage is a request: a server at max_connections refuses it (postgres-errors.ts, atStartup).
        if (this.phase === Phase.Auth) this.request(d, STARTUP_META, false, true);
        else this.startMessage(d, PASS_META, true);
        d.remain = len - 4;
        pos += 4;
        continue;
      }
      this.expectByte = false;
      const type = buf[pos];
      const body = int32BE(buf, pos + 1) - 4;
      if (body < 0) throw new FramingError(`postgres: bad message length ${body + 4}`);
      if (client) {
        if (this.erroredOpen) segStart = this.afterError(d, out, segStart, pos, type, buf, body);
        else {
          this.clientMessage(d, type);
          if (this.phase === Phase.Command) {
            this.commits.seen(type, buf, pos + 5, body);
            this.blocks.seen(type, buf, pos + 5, body, this.ordinal - 1);
          }
        }
      } else this.serverMessage(d, type, body > 0 ? buf[pos + 5] : -1, buf, pos);
      // The body at once, as far as the chunk holds it (most messages are whole in it).
      pos += 5;
      const n = Math.min(body, buf.length - pos);
      pos += n;
      d.remain = body - n;
      if (d.remain === 0) segStart = this.msgDone(d, out, segStart, pos);
    }
    if (d.inMsg) emit(out, d, segStart, pos, false);
    if (pos < buf.length) d.held = Buffer.from(buf.subarray(pos));
  }

  /** A message ended at `pos`: its last frame, when it ends the exchange. The next frame's start. */
  private msgDone(d: Dir, out: Frames, segStart: number, pos: number): number {
    if (!d.endAfter) return segStart;
    if (this.afterMessage !== After.Nothing) {
      if (this.afterMessage === After.Fatal) return this.fatalDone(d, out, segStart, pos);
      this.raw = true;
    }
    return endMessage(out, d, segStart, pos);
  }

  /**
   * An ErrorResponse at `pos`, amid a reply, is FATAL: the server closes after it, the reply never
   * ending. A client of the server itself gets it, then the close, where the reply is one an
   * injected error replaces (the reply to a stand-in) and goes nowhere: the FATAL passes, the
   * injected error, whose place never comes, is not sent (connection-replies.ts, pumpReplies).
   * need() held it whole (watch), so its end is in the same bytes (fatalDone).
   */
  private fatalAmid(d: Dir, pos: number): void {
    this.afterMessage = After.Fatal;
    this.fatalAt = pos;
    d.endAfter = true;
  }

  /** The FATAL amid a reply ended at `pos`: the reply's bytes before it, then it, passed through. The next frame's start. */
  private fatalDone(d: Dir, out: Frames, segStart: number, pos: number): number {
    this.afterMessage = After.Nothing;
    emit(out, d, segStart, this.fatalAt, false);
    this.startMessage(d, PASS_META, true);
    return endMessage(out, d, this.fatalAt, pos);
  }

  protected startMessage(d: Dir, meta: StartMeta, endAfter: boolean): void {
    d.inMsg = true;
    d.startMeta = meta;
    d.pass = meta.passthrough === true;
    d.endAfter = endAfter;
  }

  private request(d: Dir, meta: StartMeta, extended: boolean, endAfter: boolean): void {
    const ordinal = this.ordinal++;
    if (!meta.noReply) this.fifo.push(pending(ordinal, extended));
    this.startMessage(d, meta, endAfter);
  }

  protected clientMessage(d: Dir, type: number): void {
    if (this.phase !== Phase.Command) {
      // Password / SASL / GSS responses during startup.
      this.startMessage(d, PASS_META, true);
      return;
    }
    if (this.batchOpen) {
      // Inside an extended-protocol request: everything up to Sync belongs to it.
      if (type === Q || type === F) {
        // After its error the server discards them up to the Sync, as it does every message.
        if (this.erroredOpen) return;
        throw new FramingError('postgres: simple query inside an unfinished extended query');
      }
      if (EXTENDED_TYPES[type] === 0 && COPY_TYPES[type] === 0 && type !== S && type !== X) {
        throw new FramingError(`postgres: unknown frontend message type 0x${type.toString(16)}`);
      }
      if (type === S || type === X) {
        d.endAfter = true;
        this.batchOpen = false;
      }
      return;
    }
    if (COPY_TYPES[type] === 1) {
      if (type === C_DONE || type === C_FAIL) {
        if (this.copyIn && this.copyExtended) this.absorbSync = true;
        this.copyIn = false;
      }
      this.startMessage(d, PASS_META, true);
      return;
    }
    if ((type === S || type === H) && (this.copyIn || (type === S && this.absorbSync))) {
      if (type === S) this.absorbSync = this.copyIn ? this.absorbSync : false;
      this.startMessage(d, PASS_META, true);
      return;
    }
    this.absorbSync = false;
    if (type === Q) this.request(d, QUERY_META, false, true);
    else if (type === F) this.request(d, FUNCTION_CALL_META, false, true);
    else if (type === X) this.request(d, TERMINATE_META, false, true);
    else if (type === S) this.request(d, SYNC_META, true, true);
    else if (EXTENDED_TYPES[type] === 1) {
      this.batchOpen = true;
      this.request(d, EXTENDED_META, true, false);
    } else {
      throw new FramingError(`postgres: unknown frontend message type 0x${type.toString(16)}`);
    }
  }

  private serverMessage(d: Dir, type: number, firstBodyByte: number, buf: Buffer, pos: number): void {
    if (type === Z && firstBodyByte >= 0) this.txStatus = firstBodyByte;
    if (this.phase !== Phase.Command) {
      if (type === Z) this.phase = Phase.Command;
      // The server's first message after the StartupMessage (an authentication request, or its refusal) answers it.
      const answers = !d.inMsg && this.fifo.shift() !== undefined;
      this.startMessage(d, answers ? REPLY_META : PASS_META, true);
      return;
    }
    if (SERVER_TYPES[type] === 0) throw new FramingError(`postgres: unknown backend message type 0x${type.toString(16)}`);
    if (!d.inMsg) {
      if (!this.fifo.length || ASYNC_TYPES[type] === 1 || (type === E && fatal(buf, pos))) {
        // Asynchronous (notice, parameter change, notification), unsolicited, or a FATAL error,
        // which ends the connection, not a reply: an injected one waiting for the reply it would
        // replace never goes (pumpReplies), the client gets the server's.
        this.startMessage(d, PASS_META, true);
        return;
      }
      const first = this.fifo.first()!;
      if (first === PASSED_SYNC) {
        // The answer to a Sync passed on (errored): passed back.
        if (type === Z) this.fifo.shift();
        this.startMessage(d, PASS_META, true);
        return;
      }
      if (this.passing.size > 0 && this.passing.has(ordinalOf(first))) {
        // The answers to what a stand-in ran before it fails are the client's; its error (or the
        // ReadyForQuery) begins the reply the injected one replaces.
        if (type !== E && type !== Z && this.passesAhead(ordinalOf(first), type)) {
          this.startMessage(d, PASS_META, true);
          return;
        }
        if (type === E && this.prefixFailed(ordinalOf(first))) {
          this.startMessage(d, PASS_META, true);
          return;
        }
        this.passing.delete(ordinalOf(first));
        if (this.prefixes.size > 0) this.prefixEnds(ordinalOf(first), type);
        if (type === E && this.later.answeredBy(ordinalOf(first))) {
          // Its error alone is the reply, the server's ReadyForQuery to the Sync passes (postgres-later.ts).
          this.fifo.shift();
          this.blocks.answered(ordinalOf(first), this.txStatus);
          this.startMessage(d, REPLY_META, true);
          return;
        }
        if (type === Z && this.later.servedWith(ordinalOf(first), this.txStatus)) {
          // Served, having run nothing: the ReadyForQuery to its Sync passed on is the reply (postgres-later.ts).
          this.fifo.shift();
          this.fifo.shift();
          this.blocks.answered(ordinalOf(first), this.txStatus);
          this.startMessage(d, REPLY_META, true);
          return;
        }
        // A COMMIT's ROLLBACK, a Describe before a failing Parse: the reply ends at their last answer (postgres-later.ts).
        if (type !== Z) this.endReplyAt(this.later.endOfReply(ordinalOf(first)));
      }
      this.startMessage(d, REPLY_META, false);
    }
    if (type === G) {
      this.copyIn = true;
      const first = this.fifo.first();
      this.copyExtended = first !== undefined && isExtended(first);
    } else if (type === Z) {
      this.copyIn = false;
      d.endAfter = true;
      const answered = this.fifo.shift();
      if (answered !== undefined) this.blocks.answered(ordinalOf(answered), this.txStatus);
    } else if (type === this.watch) {
      if (type === E && fatal(buf, pos)) this.fatalAmid(d, pos);
      else if (type === this.replyEnd) {
        this.endReplyAt(-1);
        d.endAfter = true;
        this.blocks.answered(ordinalOf(this.fifo.shift()!), this.txStatus);
      }
    }
  }
}
