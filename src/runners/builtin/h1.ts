/**
 * A minimal keep-alive HTTP/1.1 connection on node:net for the builtin runner's plain case (one
 * request at a time over http://, a fixed request sent as precomputed bytes). The profile of the
 * runner against a loopback app put a third of the client's own CPU in undici's generic machinery
 * around each exchange (a setImmediate before every reuse, stream plumbing, a Buffer per read);
 * here a request is one write of bytes built once per step, and responses are parsed in place from
 * a read buffer shared by every connection. What it does not cover goes through undici (http.ts).
 *
 * Outcomes match the undici path's: the same error kinds (`timeout`, `connection closed`, socket
 * error codes, `aborted`) from the same situations, keep-alive reuse ended by `Connection: close`,
 * an HTTP/1.0 reply, the server's `Keep-Alive: timeout` hint or a read-until-close body.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BodyParser, FRAMING_ERROR } from './h1-body.js';
import { ReplyHead } from './h1-head.js';
import { moderation } from './h1-moderation.js';

/** What one request came to; it never rejects: failures come back as data. */
export interface HttpResult {
  /** HTTP status, -1 when no complete response came. */
  code: number;
  bytes: number;
  /** Short error kind for grouping, when the exchange failed below HTTP. */
  error?: string;
  detail?: string;
}

/** A request this connection can send: where to, and its bytes on the wire. */
export interface PlainTarget {
  host: string;
  port: number;
  wire: Buffer;
}

/** Headers larger than this fail the request, as undici's default maxHeaderSize does. */
const MAX_HEAD = 16 * 1024;
/** Idle keep-alive limit without a server hint, and how early to give up before the server's own. */
const KEEP_ALIVE_MS = 30_000;
const KEEP_ALIVE_MARGIN_MS = 2_000;
const KEEP_ALIVE_MAX_MS = 600_000;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * One read buffer for every connection: a read is handled to the end before the next one starts
 * (single thread), and whatever outlives a read (a partial head) is copied out of it.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

const enum Phase {
  Idle,
  Connecting,
  Head,
  Body,
}

type Done = (r: HttpResult) => void;

export class PlainConnection {
  private socket: Socket | undefined;
  private phase = Phase.Idle;
  private done: Done | undefined;
  /** performance.now() past which the request in flight times out (checked by sweep()). */
  private deadline = 0;
  /** Head bytes of a reply split over reads. */
  private partial: Buffer | undefined;
  private code = -1;
  private keepAlive = true;
  /** performance.now() past which an idle connection is not reused, and the span it gets. */
  private idleUntil = 0;
  private idleMs = KEEP_ALIVE_MS;
  private readonly body = new BodyParser();
  private readonly reply = new ReplyHead();
  private readonly onRead = (n: number, buf: Buffer): boolean => {
    this.received(buf, 0, n);
    moderation.read();
    return true;
  };

  constructor(private readonly timeoutMs: number) {}

  send(target: PlainTarget, done: Done): void {
    let socket = this.socket;
    if (socket && (socket.destroyed || performance.now() >= this.idleUntil)) {
      // Past the keep-alive limit the server may close it under our request: start afresh.
      this.drop(socket);
      socket = undefined;
    }
    if (this.phase === Phase.Idle) moderation.sent();
    this.done = done;
    this.code = -1;
    this.body.reset();
    this.deadline = performance.now() + this.timeoutMs;
    if (!socket) {
      socket = this.open(target);
      this.phase = Phase.Connecting;
    } else {
      this.phase = Phase.Head;
    }
    socket.write(target.wire);
  }

  /** Fail a request whose time is up; called by the agent's coarse timer. */
  sweep(t: number): void {
    if (this.phase === Phase.Idle || t < this.deadline) return;
    const [kind, what] =
      this.phase === Phase.Connecting ? ['UND_ERR_CONNECT_TIMEOUT', 'ConnectTimeoutError: Connect Timeout Error'] : this.phase === Phase.Head ? ['UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError: Headers Timeout Error'] : ['UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError: Body Timeout Error'];
    this.fail('timeout', `${what} (${kind})`);
  }

  /** Close now; a request in flight ends as `aborted`. */
  destroy(): void {
    if (this.phase !== Phase.Idle) this.fail('aborted', 'ClientDestroyedError: The client is destroyed (UND_ERR_DESTROYED)');
    if (this.socket) this.drop(this.socket);
  }

  private open(target: PlainTarget): Socket {
    const socket = connect({ host: target.host, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, onread: { buffer: readBuffer, callback: this.onRead } });
    this.socket = socket;
    this.idleUntil = Infinity;
    this.keepAlive = true;
    socket.once('connect', () => {
      if (this.socket !== socket) return;
      if (this.phase === Phase.Connecting) {
        this.phase = Phase.Head;
        this.deadline = performance.now() + this.timeoutMs;
      }
    });
    socket.on('error', (err: Error & { code?: string }) => {
      if (this.socket !== socket) return;
      // A reply read to the end of the connection may end in a reset: it is complete.
      if (err.code === 'ECONNRESET' && this.phase === Phase.Body && this.body.untilClose) return this.complete();
      const code = err.code ?? '';
      this.fail(code || err.name || 'error', `${err.name}: ${err.message}${code ? ` (${code})` : ''}`);
    });
    socket.on('end', () => this.closed(socket));
    socket.on('close', () => this.closed(socket));
    return socket;
  }

  private closed(socket: Socket): void {
    if (this.socket !== socket) return;
    if (this.phase === Phase.Body && this.body.untilClose) return this.complete();
    if (this.phase !== Phase.Idle) return this.fail('connection closed', 'SocketError: other side closed (UND_ERR_SOCKET)');
    this.drop(socket);
  }

  private drop(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }

  private received(buf: Buffer, at: number, end: number): void {
    while (at < end) {
      if (this.phase === Phase.Head) {
        at = this.head(buf, at, end);
        if (at < 0) return;
      } else if (this.phase === Phase.Body) {
        at = this.body.feed(buf, at, end);
        if (at === FRAMING_ERROR) return this.parserError(this.body.error);
        if (this.body.complete) this.complete();
        else this.deadline = performance.now() + this.timeoutMs;
      } else {
        // Bytes nobody asked for: this connection's framing can no longer be trusted.
        if (this.socket) this.drop(this.socket);
        return;
      }
    }
  }

  /** Parse a reply head from buf[at..end); returns where the body starts, or -1 (wait or failed). */
  private head(buf: Buffer, at: number, end: number): number {
    if (this.partial) {
      buf = Buffer.concat([this.partial, buf.subarray(at, end)]);
      this.partial = undefined;
      at = 0;
      end = buf.length;
    }
    const stop = buf.indexOf(HEAD_END, at);
    if (stop < 0 || stop + 4 > end) {
      if (end - at > MAX_HEAD) this.fail('UND_ERR_HEADERS_OVERFLOW', 'HeadersOverflowError: Headers Overflow Error (UND_ERR_HEADERS_OVERFLOW)');
      else this.partial = Buffer.from(buf.subarray(at, end));
      return -1;
    }
    if (stop - at > MAX_HEAD) {
      this.fail('UND_ERR_HEADERS_OVERFLOW', 'HeadersOverflowError: Headers Overflow Error (UND_ERR_HEADERS_OVERFLOW)');
      return -1;
    }
    const problem = this.parseHead(buf, at, stop);
    if (problem) {
      if (problem.startsWith('HPE_')) this.parserError(problem);
      else this.fail(problem, `ResponseContentLengthMismatchError: Response body length does not match content-length header (${problem})`);
      return -1;
    }
    const next = stop + 4;
    if (this.code < 200) {
      // An interim reply (103 Early Hints...): the real one follows.
      return this.partialRest(buf, next, end);
    }
    this.phase = Phase.Body;
    this.deadline = performance.now() + this.timeoutMs;
    if (this.body.complete) {
      this.complete();
      return this.partialRest(buf, next, end);
    }
    if (buf !== readBuffer && next < end) {
      // A concatenated head: feed the rest here, the caller's indexes are of the old buffer.
      this.received(buf, next, end);
      return -1;
    }
    return next;
  }

  private partialRest(buf: Buffer, next: number, end: number): number {
    if (buf === readBuffer || next >= end) return next;
    this.received(buf, next, end);
    return -1;
  }

  /** Read the status line and the headers that frame the body; returns an error code or ''. */
  private parseHead(buf: Buffer, at: number, end: number): string {
    const h = this.reply;
    const problem = h.parse(buf, at, end);
    if (problem) return problem;
    // 100 is only ever an answer to Expect, which we never send; 101 would switch protocols.
    if (h.code === 100 || h.code === 101) return 'HPE_UNEXPECTED_RESPONSE';
    this.code = h.code;
    if (h.code < 200) return '';
    if (h.encoded && h.length >= 0) return 'HPE_UNEXPECTED_CONTENT_LENGTH';
    let keepAlive = h.http10 ? h.keepAlive && !h.close : !h.close;
    if (h.code === 204 || h.code === 304) {
      // No body, whatever the header says; undici calls a non-zero length here a mismatch.
      if (h.length > 0) return 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
      this.body.expect(0);
    } else if (h.chunked) this.body.expectChunked();
    else if (h.encoded || h.length < 0) {
      this.body.expectUntilClose();
      keepAlive = false;
    } else this.body.expect(h.length);
    this.idleMs = h.hintMs < 0 ? KEEP_ALIVE_MS : Math.min(h.hintMs - KEEP_ALIVE_MARGIN_MS, KEEP_ALIVE_MAX_MS);
    this.keepAlive = keepAlive && this.idleMs > 0;
    return '';
  }

  private complete(): void {
    const done = this.done!;
    const result: HttpResult = { code: this.code, bytes: this.body.bytes };
    moderation.settled();
    this.phase = Phase.Idle;
    this.done = undefined;
    if (!this.keepAlive) {
      if (this.socket) this.drop(this.socket);
    } else {
      this.idleUntil = performance.now() + this.idleMs;
    }
    done(result);
  }

  /** A reply that is not HTTP/1.1: the kind undici's parser errors are grouped under. */
  private parserError(code: string): void {
    this.fail('HTTPParserError', `HTTPParserError: Response does not match the HTTP/1.1 protocol (${code})`);
  }

  private fail(error: string, detail: string): void {
    const done = this.done;
    if (this.phase !== Phase.Idle) moderation.settled();
    this.phase = Phase.Idle;
    this.done = undefined;
    this.partial = undefined;
    if (this.socket) this.drop(this.socket);
    done?.({ code: -1, bytes: this.body.bytes, error, detail });
  }
}

