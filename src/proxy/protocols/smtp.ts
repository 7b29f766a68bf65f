/**
 * SMTP (RFC 5321) framing, with PIPELINING (RFC 2920), AUTH (RFC 4954), CHUNKING/BDAT (RFC 3030)
 * and STARTTLS (RFC 3207).
 *
 * Client side: every command line is a request labelled with its verb. After DATA, the message
 * content up to and including the `CRLF.CRLF` terminator is one more request ("message", which
 * must be forwarded: the server is already in data mode). A line that answers a 334 AUTH
 * challenge is a request of its own ("auth-data", also must-forward). `BDAT n` is one request
 * made of its line and the n bytes that follow it (must-forward too: see `command`).
 *
 * Server side: a reply is one or more `ddd-text` lines closed by a `ddd text` line; replies are
 * matched to requests in order. The greeting, replies nobody asked for (e.g. an idle timeout's
 * 421) and everything after a successful STARTTLS are passthrough.
 *
 * Bytes are never changed: messages are framed into offsets of the chunks (frames.ts), except
 * for a line that was split across chunks (held until its end, at most MAX_HEAD_BYTES, and
 * framed in the buffer it is joined into).
 */
import { FramingError, MAX_HEAD_BYTES, oneLine, type ErrorReply, type Protocol } from '../protocol.js';
import { END, Frames, MUST_FORWARD, OffsetSession, PASS, passAll, START, WHOLE } from '../frames.js';
import { Held } from './held-bytes.js';
import { findLF } from './find-lf.js';
import { labelOf } from './label-of.js';
import { PendingReplies } from './pending-replies.js';
import { bdatSize, checkReplyStart, DASH, findEndOfData, LF, MAX_VERB, scanVerb, step } from './smtp-lines.js';

export const SMTP_ERRORS = {
  '421': { text: '421 4.3.0 Service not available, closing transmission channel', fatal: true },
  '451': { text: '451 4.3.0 Local error in processing', fatal: false },
  '452': { text: '452 4.3.1 Insufficient system storage', fatal: false },
  '554': { text: '554 5.3.0 Transaction failed', fatal: false },
} as const;

/** A waiting request's tag (PendingReplies): what its reply decides. Bits. */
const DATA = 1;
const STARTTLS = 2;
/** DATA only: message content was framed before its reply was seen (an eager client). */
const SPECULATIVE = 4;

/** Where the client stream is. */
const ClientState = {
  /** Between commands: waiting for a whole line. */
  Command: 0,
  /** After DATA: the message content until CRLF.CRLF. */
  Content: 1,
  /** After `BDAT n`: the n bytes of the chunk. */
  Chunk: 2,
} as const;
type ClientState = (typeof ClientState)[keyof typeof ClientState];

class SmtpSession extends OffsetSession {
  private readonly cFrames = new Frames();
  private readonly sFrames = new Frames();
  private readonly clientHeld = new Held();
  private readonly serverHeld = new Held();
  /** Requests forwarded (or about to be) whose reply has not been seen yet, oldest first. */
  private readonly fifo = new PendingReplies<number>();
  private nextOrdinal = 0;
  private state: ClientState = ClientState.Command;
  /** Content: state of the CRLF.CRLF automaton. Chunk: bytes left. */
  private matched = 0;
  private chunkLeft = 0;
  /** Whether the current message's first segment was emitted. */
  private contentStarted = false;
  /** The ordinal of the DATA command whose content is being (or about to be) framed, or -1. */
  private currentData = -1;
  /** The last reply was 334: the next client line answers an AUTH challenge. */
  private authNext = false;
  /** The last command's label, and what it says (command()). */
  private lastLabel = '';
  private lastTag = 0;
  private lastBdat = false;
  /** After STARTTLS and its 220: everything is passthrough. */
  private tls = false;
  private greeted = false;
  /** Reply being read: open, its first segment emitted, passthrough, code. */
  private replyOpen = false;
  private replyStartSent = false;
  private replyPassthrough = false;
  private replyCode = 0;
  /** Set when the session cannot go on (e.g. an eager client's content turned out not to be one). */
  private broken: string | undefined;

  framesFromClient(chunk: Buffer): Frames {
    const saved = this.clientHeld.mark();
    try {
      if (this.broken !== undefined) throw new FramingError(this.broken);
      return this.clientBytes(chunk, this.cFrames);
    } catch (e) {
      this.fail(e);
      this.clientHeld.restore(saved, chunk);
      throw e;
    }
  }

  framesFromServer(chunk: Buffer): Frames {
    const saved = this.serverHeld.mark();
    try {
      if (this.broken !== undefined) throw new FramingError(this.broken);
      return this.serverBytes(chunk, this.sFrames);
    } catch (e) {
      this.fail(e);
      this.serverHeld.restore(saved, chunk);
      throw e;
    }
  }

  skipped(ordinal: number): void {
    const i = this.fifo.indexOf(ordinal);
    if (i < 0) return;
    const tag = this.fifo.tagAt(i);
    this.fifo.remove(i);
    if (ordinal === this.currentData) {
      if (tag & SPECULATIVE) {
        this.broken = 'DATA was answered by the proxy but its content was already sent';
      } else if (this.state === ClientState.Content && !this.contentStarted) {
        // The client got an error for DATA: it sends no content, its next line is a command.
        this.state = ClientState.Command;
        this.currentData = -1;
      }
    }
  }

  buffered(): number {
    return this.clientHeld.length + this.serverHeld.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: this.clientHeld.take(), server: this.serverHeld.take() };
  }

  private fail(e: unknown): void {
    if (e instanceof FramingError && this.broken === undefined) this.broken = `framing stopped: ${e.message}`;
  }

  // ---- client -> server ----

  private clientBytes(chunk: Buffer, out: Frames): Frames {
    if (this.tls) return passAll(out, this.clientHeld.take(chunk));
    out.reset(chunk);
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.state === ClientState.Content) {
        pos = this.content(chunk, pos, out);
      } else if (this.state === ClientState.Chunk) {
        const end = Math.min(n, pos + this.chunkLeft);
        this.chunkLeft -= end - pos;
        out.push(pos, end, this.chunkLeft === 0 ? END : 0);
        if (this.chunkLeft === 0) this.state = ClientState.Command;
        pos = end;
      } else {
        const nl = findLF(chunk, pos);
        if (nl < 0) {
          this.holdCommand(chunk, pos);
          break;
        }
        if (this.clientHeld.length) {
          const line = this.clientHeld.take(chunk.subarray(pos, nl + 1));
          this.command(line, 0, line.length, out);
        } else {
          this.command(chunk, pos, nl + 1, out);
        }
        pos = nl + 1;
      }
    }
    return out;
  }

  /** Keeps the start of a command line, after checking it can be one. */
  private holdCommand(chunk: Buffer, pos: number): void {
    const rest = chunk.subarray(pos);
    if (this.clientHeld.length + rest.length > MAX_HEAD_BYTES) {
      throw new FramingError(`SMTP command line longer than ${MAX_HEAD_BYTES} bytes`);
    }
    if (!this.authNext) {
      if (this.clientHeld.length === 0) scanVerb(rest, 0, rest.length);
      else if (this.clientHeld.length <= MAX_VERB) {
        const head = Buffer.concat([this.clientHeld.head(MAX_VERB + 1), rest.subarray(0, MAX_VERB + 1)]);
        scanVerb(head, 0, head.length);
      }
    }
    this.clientHeld.push(rest);
  }

  /** One whole command line: bytes [from, end) of `b` (the chunk, or a line joined from held bytes). */
  private command(b: Buffer, from: number, end: number, out: Frames): void {
    const ordinal = this.nextOrdinal;
    if (this.authNext) {
      this.authNext = false;
      this.nextOrdinal++;
      this.fifo.push(ordinal, 0);
      out.pushIn(b, from, end, WHOLE | MUST_FORWARD, 'auth-data');
      return;
    }
    const verbEnd = scanVerb(b, from, end);
    // scanVerb stops at the LF at the latest, so verbEnd >= from here.
    // A verb is letters, digits, '-' and '_', 32 at most (scanVerb): labelOf reads it as it is, upper-cased.
    const label = verbEnd === from ? '(empty)' : labelOf(b, from, verbEnd);
    // labelOf hands the same string for a repeated verb: its tag is known (comparing a new label
    // with 'DATA' and 'BDAT', of the same length as most verbs, read their bytes each time).
    if (label !== this.lastLabel) {
      this.lastLabel = label;
      this.lastTag = label === 'DATA' ? DATA : label === 'STARTTLS' ? STARTTLS : 0;
      this.lastBdat = label === 'BDAT';
    }
    const tag = this.lastTag;
    const chunkSize = this.lastBdat ? bdatSize(b, verbEnd, end) : 0;
    this.nextOrdinal++;
    this.fifo.push(ordinal, tag);
    // A withheld BDAT chunk would not desynchronise the dialogue, but the chunks pipelined after
    // it would still reach the server and make a message with a hole: an error replaces the
    // reply instead, as for a DATA message.
    const flags = START | (chunkSize === 0 ? END : 0) | (this.lastBdat ? MUST_FORWARD : 0);
    out.pushIn(b, from, end, flags, label);
    if (tag === DATA) {
      this.state = ClientState.Content;
      this.matched = 2; // the DATA line's CRLF counts as the terminator's first CRLF
      this.contentStarted = false;
      this.currentData = ordinal;
    } else if (chunkSize > 0) {
      this.state = ClientState.Chunk;
      this.chunkLeft = chunkSize;
    }
  }

  /** Message content from `pos`; returns where it stopped. */
  private content(chunk: Buffer, pos: number, out: Frames): number {
    const n = chunk.length;
    let s = this.matched;
    let end = -1;
    const lim = Math.min(n, pos + 4);
    for (let i = pos; i < lim; i++) {
      s = step(s, chunk[i]);
      if (s === 5) {
        end = i + 1;
        break;
      }
    }
    if (end < 0 && lim < n) {
      // No terminator straddles the previous chunk: any other lies wholly in this one.
      end = findEndOfData(chunk, pos);
      if (end < 0) {
        s = 0;
        for (let i = n - 4; i < n; i++) s = step(s, chunk[i]);
      }
    }
    const last = end >= 0 ? END : 0;
    if (this.contentStarted) {
      out.push(pos, end < 0 ? n : end, last);
    } else {
      out.push(pos, end < 0 ? n : end, START | last | MUST_FORWARD, 'message');
      this.contentStarted = true;
      // The message is a request of its own: its reply is the one after DATA's 354.
      this.fifo.push(this.nextOrdinal++, 0);
      const i = this.currentData < 0 ? -1 : this.fifo.indexOf(this.currentData);
      if (i >= 0) this.fifo.setTag(i, this.fifo.tagAt(i) | SPECULATIVE);
    }
    if (end >= 0) {
      this.state = ClientState.Command;
      this.matched = 0;
      this.currentData = -1;
      return end;
    }
    this.matched = s;
    return n;
  }

  // ---- server -> client ----

  private serverBytes(chunk: Buffer, out: Frames): Frames {
    if (this.tls) return passAll(out, this.serverHeld.take(chunk));
    out.reset(chunk);
    let pos = 0;
    if (this.serverHeld.length) {
      const nl = chunk.indexOf(LF);
      if (nl < 0) {
        this.holdReply(chunk, 0);
        return out;
      }
      const line = this.serverHeld.take(chunk.subarray(0, nl + 1));
      this.replyLines(line, 0, out);
      pos = nl + 1;
    }
    if (pos < chunk.length) {
      if (this.tls) out.push(pos, chunk.length, WHOLE | PASS);
      else this.replyLines(chunk, pos, out);
    }
    return out;
  }

  private holdReply(chunk: Buffer, pos: number): void {
    const rest = chunk.subarray(pos);
    if (this.serverHeld.length + rest.length > MAX_HEAD_BYTES) {
      throw new FramingError(`SMTP reply line longer than ${MAX_HEAD_BYTES} bytes`);
    }
    if (this.serverHeld.length < 4) {
      const head = this.serverHeld.length ? Buffer.concat([this.serverHeld.head(4), rest.subarray(0, 4)]) : rest;
      checkReplyStart(head, 0, Math.min(head.length, 4));
    }
    this.serverHeld.push(rest);
  }

  /** Every whole reply line of `b` from `pos`; the unfinished last one is held. */
  private replyLines(b: Buffer, pos: number, out: Frames): void {
    const n = b.length;
    let segStart = -1;
    while (pos < n) {
      const nl = findLF(b, pos);
      if (nl < 0) {
        this.holdReply(b, pos);
        break;
      }
      checkReplyStart(b, pos, nl + 1);
      if (!this.replyOpen) {
        this.replyOpen = true;
        this.replyStartSent = false;
        this.replyCode = (b[pos] - 0x30) * 100 + (b[pos + 1] - 0x30) * 10 + (b[pos + 2] - 0x30);
        this.replyPassthrough = !this.greeted || !this.fifo.waiting;
      }
      if (segStart < 0) segStart = pos;
      // Final line: "ddd text", "ddd" alone; a dash after the code continues the reply.
      const final = b[pos + 3] !== DASH;
      pos = nl + 1;
      if (final) {
        out.pushIn(b, segStart, pos, this.replyFlags(END));
        segStart = -1;
        this.replyDone();
        if (this.tls && pos < n) {
          out.pushIn(b, pos, n, WHOLE | PASS);
          return;
        }
      }
    }
    if (segStart >= 0) out.pushIn(b, segStart, pos, this.replyFlags(0));
  }

  /** The flags of the reply's next frame (`end`: END or 0). */
  private replyFlags(end: number): number {
    const flags = (this.replyStartSent ? 0 : START) | end | (this.replyPassthrough ? PASS : 0);
    this.replyStartSent = true;
    return flags;
  }

  /** A whole reply was read: match it to its request. */
  private replyDone(): void {
    this.replyOpen = false;
    const code = this.replyCode;
    if (!this.greeted) {
      this.greeted = true;
      return;
    }
    if (this.replyPassthrough || !this.fifo.waiting) return;
    const tag = this.fifo.headTag;
    const ordinal = this.fifo.headOrdinal;
    this.fifo.shift();
    this.authNext = code === 334;
    if (tag === STARTTLS && code >= 200 && code < 300) {
      this.tls = true;
    } else if (tag & DATA && (code < 300 || code >= 400)) {
      if (tag & SPECULATIVE) throw new FramingError(`DATA was refused (${code}) but the client already sent content`);
      if (ordinal === this.currentData && this.state === ClientState.Content && !this.contentStarted) {
        this.state = ClientState.Command;
        this.currentData = -1;
      }
    }
  }
}

export const smtp: Protocol = {
  name: 'smtp',
  framesReplies: true,
  errorKinds: Object.fromEntries(
    Object.entries(SMTP_ERRORS).map(([k, v]) => [
      k,
      { description: v.fatal ? `${v.text} (then the connection is closed)` : v.text, fatal: v.fatal },
    ]),
  ),
  defaultError: '451',
  createSession: () => new SmtpSession(),
  encodeError: (kind, ctx) => {
    const k = Object.hasOwn(SMTP_ERRORS, kind) ? (kind as keyof typeof SMTP_ERRORS) : '451';
    if (ctx.message === undefined) return CANNED[k];
    const e = SMTP_ERRORS[k];
    return { bytes: Buffer.from(`${e.text.slice(0, 3)} ${oneLine(ctx.message)}\r\n`, 'utf8'), close: e.fatal };
  },
};

/** Each kind's reply without a message, made once (the connection only reads it): a 10 % mix draws one per ten exchanges. */
const CANNED = Object.fromEntries(
  Object.entries(SMTP_ERRORS).map(([k, e]) => [k, Object.freeze({ bytes: Buffer.from(`${e.text}\r\n`, 'utf8'), close: e.fatal })]),
) as Record<keyof typeof SMTP_ERRORS, ErrorReply>;
