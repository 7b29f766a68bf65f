/**
 * HTTP/1.x framing: requests and responses with Content-Length or chunked bodies, keep-alive
 * and pipelining, HEAD/204/304 without body, 1xx interim responses, read-until-close bodies,
 * and Upgrade/CONNECT tunnels (pass-through after the switch). Errors are real responses
 * (http-errors.ts).
 */
import { FramingError, MAX_HEAD_BYTES, type Protocol } from '../protocol.js';
import { END, Frames, OffsetSession, PASS, passAll, START, WHOLE } from '../frames.js';
import { changedFirstLine, emptyHead, parseHead, type Head } from './http-head.js';
import { encodeError, errorKinds } from './http-errors.js';

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

type State =
  | { kind: 'head' }
  | { kind: 'length'; remaining: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'trailers' }
  | { kind: 'until-close' }
  | { kind: 'tunnel' };

/** A message's label, set by a reader's onHead (one per reader, read at once). */
interface Labelled {
  label: string | undefined;
}

/** One direction of an HTTP connection, framed into offsets (frames.ts). */
class Reader {
  state: State = { kind: 'head' };
  pending: Buffer = EMPTY;
  /** The current message already gave a start frame. */
  started = false;
  private readonly head = emptyHead();
  private readonly out = new Frames();
  private readonly named: Labelled = { label: undefined };

  constructor(
    /** Decide the body and the state after a head, and label the message. */
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

  private split(buf: Buffer, out: Frames): void {
    let pos = 0;
    let from = 0;
    /** The label of the head that starts the next frame, if one does. */
    let label: string | undefined;
    const flush = (end: boolean, at: number) => {
      if (at > from || end) {
        out.push(from, at, (this.started ? 0 : START) | (end ? END : 0), label);
        this.started = !end;
      }
      from = at;
      label = undefined;
    };
    while (pos < buf.length) {
      const st = this.state;
      // After an Upgrade/CONNECT request, hold the client's bytes until the server says 101 or no.
      if (st.kind === 'tunnel') break;
      if (st.kind === 'until-close') {
        pos = buf.length;
        break;
      }
      if (st.kind === 'length') {
        const take = Math.min(st.remaining, buf.length - pos);
        pos += take;
        st.remaining -= take;
        if (st.remaining === 0) this.finish(flush, pos);
        continue;
      }
      if (st.kind === 'chunk-data') {
        const take = Math.min(st.remaining, buf.length - pos);
        pos += take;
        st.remaining -= take;
        if (st.remaining === 0) this.state = { kind: 'chunk-size' };
        continue;
      }
      if (st.kind === 'chunk-size' || st.kind === 'trailers') {
        const eol = buf.indexOf(CRLF, pos);
        if (eol < 0) {
          if (buf.length - pos > 4096) throw new FramingError('chunk size or trailer line over 4 KiB');
          break;
        }
        const line = buf.toString('latin1', pos, eol);
        // A chunk's data ends with CRLF before the next size line: an empty line here is that CRLF.
        pos = eol + 2;
        if (st.kind === 'trailers') {
          if (line === '') this.finish(flush, pos);
          continue;
        }
        if (line === '') continue;
        const size = parseInt(line, 16);
        if (!/^[0-9a-fA-F]+/.test(line) || !Number.isFinite(size)) throw new FramingError(`bad chunk size line "${line.slice(0, 40)}"`);
        this.state = size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: size };
        continue;
      }
      // Head.
      const end = buf.indexOf(HEAD_END, pos);
      if (end < 0) {
        if (buf.length - pos > MAX_HEAD_BYTES) throw new FramingError(`message head over ${MAX_HEAD_BYTES} bytes`);
        this.checkStart(buf, pos);
        break;
      }
      flush(false, pos);
      const head = parseHead(buf, pos, end, this.head);
      pos = end + 4;
      this.named.label = undefined;
      const next = this.onHead(head, this.named);
      // An idle keep-alive connection must not keep its last chunk alive through the head.
      head.buf = EMPTY;
      label = this.named.label;
      if (next === 'interim') {
        // A 1xx response: part of the reply, which goes on with the final response.
        flush(false, pos);
        this.started = true;
        this.state = { kind: 'head' };
        continue;
      }
      this.state = next;
      if (next.kind === 'head' || next.kind === 'tunnel') this.finish(flush, pos);
      else if (next.kind === 'length' && next.remaining === 0) this.finish(flush, pos);
    }
    // Bytes before `pos` belong to the current message; bytes after are held (partial head/line).
    if (pos > from) flush(false, pos);
    if (pos < buf.length) this.pending = Buffer.from(buf.subarray(pos));
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

  private finish(flush: (end: boolean, at: number) => void, at: number): void {
    flush(true, at);
    if (this.state.kind !== 'tunnel') this.state = { kind: 'head' };
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

interface PendingRequest {
  ordinal: number;
  method: string;
  upgrade: boolean;
}

class HttpSession extends OffsetSession {
  private ordinal = 0;
  /** Requests sent on, waiting for their response (HEAD and CONNECT change a response's shape). */
  private pending: PendingRequest[] = [];
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
    const i = this.pending.findIndex((p) => p.ordinal === ordinal);
    if (i >= 0) this.pending.splice(i, 1);
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
    this.pending.push({ ordinal: this.ordinal++, method, upgrade });
    if (upgrade) return { kind: 'tunnel' };
    if (head.chunked) return { kind: 'chunk-size' };
    if (head.contentLength) return { kind: 'length', remaining: head.contentLength };
    return { kind: 'head' };
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
    const req = this.pending[0];
    if (status >= 100 && status < 200 && status !== 101) return 'interim';
    this.pending.shift();
    if (req?.upgrade) {
      if (status === 101 || (req.method === 'CONNECT' && status < 300)) {
        this.tunnel = true;
        return { kind: 'tunnel' };
      }
      // Upgrade refused: the client's held bytes are HTTP again.
      this.client.state = { kind: 'head' };
    }
    if (req?.method === 'HEAD' || status === 204 || status === 304) return { kind: 'head' };
    if (head.chunked) return { kind: 'chunk-size' };
    if (head.contentLength !== undefined) return { kind: 'length', remaining: head.contentLength };
    return { kind: 'until-close' };
  }
}

export const http: Protocol = {
  name: 'http',
  framesReplies: true,
  errorKinds,
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
