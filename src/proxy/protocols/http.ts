/**
 * HTTP/1.x framing: requests and responses with Content-Length or chunked bodies, keep-alive
 * and pipelining, HEAD/204/304 without body, 1xx interim responses, read-until-close bodies,
 * and Upgrade/CONNECT tunnels (pass-through after the switch). Errors are real responses
 * (http-errors.ts).
 */
import { FramingError, MAX_HEAD_BYTES, type Protocol } from '../protocol.js';
import { END, Frames, OffsetSession, PASS, passAll, START, WHOLE } from '../frames.js';
import { changedFirstLine, emptyHead, parseHead, type Head } from './http-head.js';
import { encodeError, errorKinds, moreErrorKinds } from './http-errors.js';
import { PendingReplies } from './pending-replies.js';

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Where a reader is: between messages (`head`), in a body of known length or a chunk's data
 * (with `remaining` bytes to go), on a chunk size or trailer line, in a body read until the close,
 * or in a tunnel. A name and a number on the reader, not an object made per message.
 */
type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'trailers' | 'until-close' | 'tunnel';

/** A message's label, set by a reader's onHead (one per reader, read at once). */
interface Labelled {
  label: string | undefined;
}

/** Heads longer than this are not kept for comparison with the next (a keep-alive peer's are short). */
const MAX_CACHED_HEAD = 1024;

/** One direction of an HTTP connection, framed into offsets (frames.ts). */
class Reader {
  state: State = 'head';
  /** Body bytes to go, in the `length` and `chunk-data` states. */
  private remaining = 0;
  pending: Buffer = EMPTY;
  /** The current message already gave a start frame. */
  started = false;
  private readonly head = emptyHead();
  private readonly out = new Frames();
  private readonly named: Labelled = { label: undefined };
  /** Where the next frame of the chunk being split starts, and the label it starts with, if any. */
  private from = 0;
  private label: string | undefined = undefined;
  /**
   * The last head's bytes (through its blank line) and what parseHead read from them: a
   * keep-alive peer mostly repeats one head (a server's changes with its Date, once a second),
   * and one comparison of the bytes then stands for the search of the blank line and the parse.
   */
  private lastHead: Buffer = EMPTY;
  private lastLineLength = 0;
  private lastContentLength: number | undefined = undefined;
  private lastChunked = false;
  private lastClose = false;
  private lastUpgrade = false;

  constructor(
    /** Decide the body and the state after a head (`length`: the head's content-length), and label the message. */
    private readonly onHead: (head: Head, named: Labelled) => State | 'interim',
    /** Whether a first line (all of it, or its beginning when `complete` is false) can start a message. */
    private readonly startsLike: (line: string, complete: boolean) => boolean,
  ) {}

  /** The chunk's frames, in a Frames reused at the next push. */
  push(chunk: Buffer): Frames {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    this.out.reset(buf);
    try {
      this.split(buf, this.out);
      return this.out;
    } catch (err) {
      // Nothing of this call was returned: hold all of it for drain().
      this.pending = buf;
      throw err;
    }
  }

  /** Bytes from `from` to `at` as a frame of the current message (its last when `end`). */
  private flush(out: Frames, end: boolean, at: number): void {
    if (at > this.from || end) {
      out.push(this.from, at, (this.started ? 0 : START) | (end ? END : 0), this.label);
      this.started = !end;
    }
    this.from = at;
    this.label = undefined;
  }

  private split(buf: Buffer, out: Frames): void {
    let pos = 0;
    this.from = 0;
    this.label = undefined;
    while (pos < buf.length) {
      const st = this.state;
      // After an Upgrade/CONNECT request, hold the client's bytes until the server says 101 or no.
      if (st === 'tunnel') break;
      if (st === 'until-close') {
        pos = buf.length;
        break;
      }
      if (st === 'length' || st === 'chunk-data') {
        const take = Math.min(this.remaining, buf.length - pos);
        pos += take;
        this.remaining -= take;
        if (this.remaining > 0) continue;
        if (st === 'length') this.finish(out, pos);
        else this.state = 'chunk-size';
        continue;
      }
      if (st === 'chunk-size' || st === 'trailers') {
        const eol = buf.indexOf(CRLF, pos);
        if (eol < 0) {
          if (buf.length - pos > 4096) throw new FramingError('chunk size or trailer line over 4 KiB');
          break;
        }
        const line = buf.toString('latin1', pos, eol);
        // A chunk's data ends with CRLF before the next size line: an empty line here is that CRLF.
        pos = eol + 2;
        if (st === 'trailers') {
          if (line === '') this.finish(out, pos);
          continue;
        }
        if (line === '') continue;
        const size = parseInt(line, 16);
        if (!/^[0-9a-fA-F]+/.test(line) || !Number.isFinite(size)) throw new FramingError(`bad chunk size line "${line.slice(0, 40)}"`);
        if (size === 0) {
          this.state = 'trailers';
        } else {
          this.state = 'chunk-data';
          this.remaining = size;
        }
        continue;
      }
      // Head.
      const head = this.readHead(buf, pos);
      if (head === undefined) {
        if (buf.length - pos > MAX_HEAD_BYTES) throw new FramingError(`message head over ${MAX_HEAD_BYTES} bytes`);
        this.checkStart(buf, pos);
        break;
      }
      this.flush(out, false, pos);
      pos = head;
      this.named.label = undefined;
      const next = this.onHead(this.head, this.named);
      // An idle keep-alive connection must not keep its last chunk alive through the head.
      this.head.buf = EMPTY;
      this.label = this.named.label;
      if (next === 'interim') {
        // A 1xx response: part of the reply, which goes on with the final response.
        this.flush(out, false, pos);
        this.started = true;
        this.state = 'head';
        continue;
      }
      this.state = next;
      if (next === 'length') this.remaining = this.head.contentLength!;
      if (next === 'head' || next === 'tunnel' || (next === 'length' && this.remaining === 0)) this.finish(out, pos);
    }
    // Bytes before `pos` belong to the current message; bytes after are held (partial head/line).
    if (pos > this.from) this.flush(out, false, pos);
    if (pos < buf.length) this.pending = Buffer.from(buf.subarray(pos));
  }

  /** The head starting at `pos` read into `this.head`: where the message after it starts, or undefined while it is incomplete. */
  private readHead(buf: Buffer, pos: number): number | undefined {
    const last = this.lastHead;
    const head = this.head;
    // last.compare(buf, pos, end), not buf.compare(last, 0, len, pos, end): Buffer's compare checks
    // each offset it is given (validateOffset, ~65 instructions each), the same bytes compared.
    if (last.length && buf.length - pos >= last.length && last.compare(buf, pos, pos + last.length) === 0) {
      head.buf = buf;
      head.start = pos;
      head.lineEnd = pos + this.lastLineLength;
      head.contentLength = this.lastContentLength;
      head.chunked = this.lastChunked;
      head.close = this.lastClose;
      head.upgrade = this.lastUpgrade;
      head.repeated = true;
      return pos + last.length;
    }
    const end = buf.indexOf(HEAD_END, pos);
    if (end < 0) return undefined;
    parseHead(buf, pos, end, head);
    const next = end + 4;
    if (next - pos <= MAX_CACHED_HEAD) {
      this.lastHead = Buffer.from(buf.subarray(pos, next));
      this.lastLineLength = head.lineEnd - pos;
      this.lastContentLength = head.contentLength;
      this.lastChunked = head.chunked;
      this.lastClose = head.close;
      this.lastUpgrade = head.upgrade;
    } else {
      this.lastHead = EMPTY;
    }
    return next;
  }

  /**
   * Decide from the first line, not the blank line: bytes that cannot start an HTTP message (a
   * TLS ClientHello, random bytes) would otherwise be held, up to 64 KiB, for a head that never
   * ends, and the client would hang where the server would answer 400.
   */
  private checkStart(buf: Buffer, pos: number): void {
    const eol = buf.indexOf(CRLF, pos);
    const complete = eol >= 0;
    let line = buf.toString('latin1', pos, complete ? eol : Math.min(buf.length, pos + 256));
    if (!complete && line.endsWith('\r')) line = line.slice(0, -1);
    if (!this.startsLike(line, complete)) throw new FramingError(`not the start of an HTTP message: ${JSON.stringify(line.slice(0, 40))}`);
  }

  private finish(out: Frames, at: number): void {
    this.flush(out, true, at);
    if (this.state !== 'tunnel') this.state = 'head';
  }
}

const REQUEST_LINE = /^[A-Z][A-Z0-9_-]{0,31} [\x21-\x7e]+ HTTP\/\d\.\d$/;
/** The beginning of a request line: a method, a target, a version, each possibly cut short. */
const REQUEST_LINE_START = /^[A-Z][A-Z0-9_-]{0,31}(?: [\x21-\x7e]*(?: [\x21-\x7e]*)?)?$/;

function requestLineLike(line: string, complete: boolean): boolean {
  return complete ? REQUEST_LINE.test(line) : line === '' || REQUEST_LINE_START.test(line);
}

const STATUS_LINE = /^HTTP\/\d\.\d \d{3}(?: |$)/;
const STATUS_LINE_START = /^(?:H|HT|HTT|HTTP|HTTP\/|HTTP\/\d|HTTP\/\d\.|HTTP\/\d\.\d|HTTP\/\d\.\d |HTTP\/\d\.\d \d{1,2})$/;

function statusLineLike(line: string, complete: boolean): boolean {
  return STATUS_LINE.test(line) || (!complete && (line === '' || STATUS_LINE_START.test(line)));
}

/** What a waiting request changes in its response's shape (bits of its tag in the queue). */
const IS_HEAD = 1;
const IS_CONNECT = 2;
const UPGRADES = 4;

class HttpSession extends OffsetSession {
  private ordinal = 0;
  /** Requests sent on, waiting for their response (HEAD and CONNECT change a response's shape). */
  private readonly pending = new PendingReplies<number>();
  private tunnel = false;
  private client = new Reader((head, named) => this.onRequest(head, named), requestLineLike);
  private server = new Reader((head) => this.onResponse(head), statusLineLike);
  /** Frames of tunnel bytes, one per side. */
  private readonly clientPass = new Frames();
  private readonly serverPass = new Frames();

  framesFromClient(chunk: Buffer): Frames {
    if (this.tunnel) {
      const data = this.heldClientBytes.length ? Buffer.concat([this.heldClientBytes, chunk]) : chunk;
      this.heldClientBytes = EMPTY;
      return passAll(this.clientPass, data);
    }
    return this.client.push(chunk);
  }

  framesFromServer(chunk: Buffer): Frames {
    if (this.tunnel) return passAll(this.serverPass, chunk);
    const frames = this.server.push(chunk);
    if (this.tunnel) {
      // The switch happened inside this chunk: what follows the 101 head is tunnel data.
      const rest = this.server.pending;
      this.server.pending = EMPTY;
      if (rest.length) {
        frames.buf = rest;
        frames.push(0, rest.length, WHOLE | PASS);
      }
      this.heldClientBytes = this.client.pending;
      this.client.pending = EMPTY;
    }
    return frames;
  }

  /** Client bytes framed as a request before the tunnel opened; handed back by drain(). */
  private heldClientBytes: Buffer = EMPTY;

  skipped(ordinal: number): void {
    const i = this.pending.indexOf(ordinal);
    if (i >= 0) this.pending.remove(i);
  }

  buffered(): number {
    return this.client.pending.length + this.server.pending.length + this.heldClientBytes.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    const out = { client: Buffer.concat([this.heldClientBytes, this.client.pending]), server: this.server.pending };
    this.client.pending = EMPTY;
    this.server.pending = EMPTY;
    this.heldClientBytes = EMPTY;
    return out;
  }

  /** The last request line and what it gave: a keep-alive client mostly repeats one. */
  private lastRequestLine = EMPTY;
  private lastMethod = '';
  private lastLabel = '';

  private onRequest(head: Head, named: Labelled): State {
    const line = changedFirstLine(head, this.lastRequestLine);
    if (line !== undefined) {
      const [method = '', target = ''] = line.split(' ');
      if (!/^[A-Z][A-Z0-9_-]*$/.test(method)) throw new FramingError(`not an HTTP request line: "${line.slice(0, 40)}"`);
      const path = target.split('?')[0];
      this.lastRequestLine = Buffer.from(line, 'latin1');
      this.lastMethod = method;
      this.lastLabel = `${method} ${path.length > 60 ? `${path.slice(0, 57)}...` : path}`;
    }
    const method = this.lastMethod;
    named.label = this.lastLabel;
    const upgrade = head.upgrade || method === 'CONNECT';
    this.pending.push(this.ordinal++, (method === 'HEAD' ? IS_HEAD : 0) | (method === 'CONNECT' ? IS_CONNECT : 0) | (upgrade ? UPGRADES : 0));
    if (upgrade) return 'tunnel';
    if (head.chunked) return 'chunk-size';
    if (head.contentLength) return 'length';
    return 'head';
  }

  /** The last status line and its status, as for requests. */
  private lastStatusLine = EMPTY;
  private lastStatus = 0;

  private onResponse(head: Head): State | 'interim' {
    const line = changedFirstLine(head, this.lastStatusLine);
    if (line !== undefined) {
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(line);
      if (!m) throw new FramingError(`not an HTTP status line: "${line.slice(0, 40)}"`);
      this.lastStatusLine = Buffer.from(line, 'latin1');
      this.lastStatus = Number(m[1]);
    }
    const status = this.lastStatus;
    // A response nobody asked for is read as a GET's.
    const req = this.pending.waiting ? this.pending.headTag : 0;
    if (status >= 100 && status < 200 && status !== 101) return 'interim';
    this.pending.shift();
    if (req & UPGRADES) {
      if (status === 101 || ((req & IS_CONNECT) !== 0 && status < 300)) {
        this.tunnel = true;
        return 'tunnel';
      }
      // Upgrade refused: the client's held bytes are HTTP again.
      this.client.state = 'head';
    }
    if ((req & IS_HEAD) !== 0 || status === 204 || status === 304) return 'head';
    if (head.chunked) return 'chunk-size';
    if (head.contentLength !== undefined) return 'length';
    return 'until-close';
  }
}

export const http: Protocol = {
  name: 'http',
  framesReplies: true,
  errorKinds,
  moreErrorKinds,
  defaultError: '503',
  createSession: () => new HttpSession(),
  rewriteHost(head, host) {
    const end = head.indexOf(HEAD_END);
    const text = head.toString('latin1', 0, end < 0 ? head.length : end + 2);
    // Header names are case-insensitive; Vaurien matched `Host: ` only. A head without one is left as is.
    const m = /\r\nhost:[^\r\n]*\r\n/i.exec(text);
    if (!m) return head;
    const before = Buffer.from(text.slice(0, m.index), 'latin1');
    return Buffer.concat([before, Buffer.from(`\r\nHost: ${host}\r\n`, 'latin1'), head.subarray(m.index + m[0].length)]);
  },
  encodeError,
};
