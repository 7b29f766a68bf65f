/**
 * The head of an HTTP/1.x reply, read from the bytes where they arrived: the status and what
 * frames the body and the connection (Content-Length, Transfer-Encoding, Connection, Keep-Alive).
 * Other headers are skipped unread. Nothing is allocated per reply: one instance per connection.
 */

const lower = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CONTENT_LENGTH = lower('content-length');
const TRANSFER_ENCODING = lower('transfer-encoding');
const CONNECTION = lower('connection');
const KEEP_ALIVE = lower('keep-alive');
const CHUNKED = lower('chunked');
const CLOSE = lower('close');
const TIMEOUT = lower('timeout=');
const HTTP_1 = lower('HTTP/1.');

const CR = 13;
const LF = 10;
const SP = 32;
const TAB = 9;
const COMMA = 44;

export class ReplyHead {
  code = -1;
  http10 = false;
  /** Content-Length, -1 when absent. */
  length = -1;
  /** Some Transfer-Encoding, and whether its last coding is chunked. */
  encoded = false;
  chunked = false;
  /** `Connection: close` / `Connection: keep-alive` were said. */
  close = false;
  keepAlive = false;
  /** The server's Keep-Alive timeout hint in ms, -1 when none. */
  hintMs = -1;

  /**
   * Read buf[at..end), the head without its final blank line. Returns '' or an llhttp-style error
   * code for a reply that is not HTTP/1.x.
   */
  parse(buf: Buffer, at: number, end: number): string {
    this.length = -1;
    this.encoded = this.chunked = this.close = this.keepAlive = false;
    this.hintMs = -1;
    if (end - at < 12 || !matches(buf, at, HTTP_1, false) || buf[at + 8] !== SP) return 'HPE_INVALID_CONSTANT';
    this.http10 = buf[at + 7] === 48;
    const code = digit(buf[at + 9]) * 100 + digit(buf[at + 10]) * 10 + digit(buf[at + 11]);
    if (!(code >= 100) || (at + 12 < end && buf[at + 12] !== SP && buf[at + 12] !== CR)) return 'HPE_INVALID_STATUS';
    this.code = code;
    let line = nextLine(buf, at, end);
    while (line < end) {
      const eol = lineEnd(buf, line, end);
      let colon = line;
      while (colon < eol && buf[colon] !== 58) colon++;
      if (colon < eol) {
        const problem = this.header(buf, line, colon - line, skipSpace(buf, colon + 1, eol), trimEnd(buf, colon + 1, eol));
        if (problem) return problem;
      }
      line = eol + 2;
    }
    return '';
  }

  private header(buf: Buffer, name: number, n: number, from: number, to: number): string {
    if (n === CONTENT_LENGTH.length && matches(buf, name, CONTENT_LENGTH, true)) {
      if (to - from < 1 || to - from > 15) return 'HPE_INVALID_CONTENT_LENGTH';
      let v = 0;
      for (let i = from; i < to; i++) {
        const d = digit(buf[i]);
        if (Number.isNaN(d)) return 'HPE_INVALID_CONTENT_LENGTH';
        v = v * 10 + d;
      }
      if (this.length >= 0 && this.length !== v) return 'HPE_INVALID_CONTENT_LENGTH';
      this.length = v;
    } else if (n === TRANSFER_ENCODING.length && matches(buf, name, TRANSFER_ENCODING, true)) {
      this.encoded = true;
      // Chunked only when it is the last coding (`gzip, chunked`).
      const start = to - CHUNKED.length;
      this.chunked = start >= from && matches(buf, start, CHUNKED, true) && (start === from || buf[trimEnd(buf, from, start) - 1] === COMMA);
    } else if (n === CONNECTION.length && matches(buf, name, CONNECTION, true)) {
      for (let t = from; t < to; ) {
        let e = t;
        while (e < to && buf[e] !== COMMA) e++;
        const te = trimEnd(buf, t, e);
        if (te - t === CLOSE.length && matches(buf, t, CLOSE, true)) this.close = true;
        else if (te - t === KEEP_ALIVE.length && matches(buf, t, KEEP_ALIVE, true)) this.keepAlive = true;
        t = skipSpace(buf, e + 1, to);
      }
    } else if (n === KEEP_ALIVE.length && matches(buf, name, KEEP_ALIVE, true)) {
      // `timeout=N` anywhere in the value, as undici reads it (spaces around `=` are not its form).
      for (let t = from; t + TIMEOUT.length < to; t++) {
        if (!matches(buf, t, TIMEOUT, false)) continue;
        let v = 0;
        let i = t + TIMEOUT.length;
        for (; i < to && i - t - TIMEOUT.length < 10 && !Number.isNaN(digit(buf[i])); i++) v = v * 10 + digit(buf[i]);
        if (i > t + TIMEOUT.length) {
          this.hintMs = v * 1000;
          break;
        }
      }
    }
    return '';
  }
}

/** buf[at..] starts with `word`, letters compared without case when `fold`. */
function matches(buf: Buffer, at: number, word: Uint8Array, fold: boolean): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = buf[at + i];
    if ((fold ? c | 0x20 : c) !== word[i]) return false;
  }
  return true;
}

function digit(c: number): number {
  const d = c - 48;
  return d >= 0 && d <= 9 ? d : NaN;
}

function lineEnd(buf: Buffer, at: number, end: number): number {
  while (at < end && !(buf[at] === CR && buf[at + 1] === LF)) at++;
  return at;
}

function nextLine(buf: Buffer, at: number, end: number): number {
  return lineEnd(buf, at, end) + 2;
}

function skipSpace(buf: Buffer, at: number, end: number): number {
  while (at < end && (buf[at] === SP || buf[at] === TAB)) at++;
  return at;
}

function trimEnd(buf: Buffer, from: number, to: number): number {
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === TAB)) to--;
  return to;
}
