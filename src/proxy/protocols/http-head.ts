/**
 * An HTTP/1.x message head read in place, on the chunk's bytes: the framer needs only the body's
 * shape (Content-Length, chunked, Connection) and, when it changed, the first line. Decoding the
 * head to a string cost more than the rest of the framing for a keep-alive load, whose heads
 * repeat; so strings are made only for what is new or wrong.
 */
import { FramingError } from '../protocol.js';

const CR = 13;
const LF = 10;
const COLON = 58;

/** Filled by parseHead; one per reader, read before the next head is parsed. */
export interface Head {
  buf: Buffer;
  /** The first line: [start, lineEnd) of buf. */
  start: number;
  lineEnd: number;
  contentLength: number | undefined;
  chunked: boolean;
  close: boolean;
  upgrade: boolean;
  /**
   * Its bytes are the reader's last head's (http.ts, readHead): its first line is the one the
   * reader's onHead read last, so changedFirstLine need not compare it again.
   */
  repeated: boolean;
}

export function emptyHead(): Head {
  return { buf: Buffer.alloc(0), start: 0, lineEnd: 0, contentLength: undefined, chunked: false, close: false, upgrade: false, repeated: false };
}

/** Blanks as String.prototype.trim sees them in latin1 (controls, space, no-break space). */
const blank = (c: number) => c <= 0x20 || c === 0xa0;

/**
 * Read the head in buf[start, end), `end` being where its closing blank line begins, into `head`.
 * Lines end at CRLF; each header line needs a colon after its first byte.
 */
export function parseHead(buf: Buffer, start: number, end: number, head: Head): Head {
  head.buf = buf;
  head.start = start;
  head.lineEnd = lineEnd(buf, start, end);
  head.contentLength = undefined;
  head.chunked = false;
  head.close = false;
  head.upgrade = false;
  head.repeated = false;
  let eol = head.lineEnd;
  while (eol < end) {
    const from = eol + 2;
    // The line's end and its first colon, in one pass over its bytes.
    eol = end;
    let colon = -1;
    for (let i = from; i < end; i++) {
      const b = buf[i];
      if (b === CR && i + 1 < end && buf[i + 1] === LF) {
        eol = i;
        break;
      }
      if (b === COLON && colon < 0) colon = i;
    }
    if (colon <= from) throw new FramingError(`bad header line "${buf.toString('latin1', from, Math.min(eol, from + 40))}"`);
    // Only content-length, connection and transfer-encoding matter here (or a name with odd spacing).
    const c = buf[from] | 0x20;
    if (c !== 0x63 /* c */ && c !== 0x74 /* t */ && !blank(buf[from])) continue;
    let a = from;
    let b = colon;
    while (a < b && blank(buf[a])) a++;
    while (b > a && blank(buf[b - 1])) b--;
    let va = colon + 1;
    let vb = eol;
    while (va < vb && blank(buf[va])) va++;
    while (vb > va && blank(buf[vb - 1])) vb--;
    if (nameIs(buf, a, b, 'content-length')) {
      const n = digits(buf, va, vb);
      if (n === undefined || (head.contentLength !== undefined && head.contentLength !== n)) {
        throw new FramingError(`bad content-length "${buf.toString('latin1', va, Math.min(vb, va + 20))}"`);
      }
      head.contentLength = n;
    } else if (nameIs(buf, a, b, 'transfer-encoding')) {
      head.chunked = /(^|,)\s*chunked\s*$/i.test(buf.toString('latin1', va, vb));
    } else if (nameIs(buf, a, b, 'connection')) {
      if (contains(buf, va, vb, 'close')) head.close = true;
      if (contains(buf, va, vb, 'upgrade')) head.upgrade = true;
    }
  }
  return head;
}

/** The head's first line, or undefined when its bytes are `last`'s (a keep-alive peer mostly repeats one). */
export function changedFirstLine(head: Head, last: Buffer): string | undefined {
  if (head.repeated) return undefined;
  const { buf, start, lineEnd } = head;
  if (lineEnd - start === last.length) {
    let i = 0;
    while (i < last.length && buf[start + i] === last[i]) i++;
    if (i === last.length) return undefined;
  }
  return buf.toString('latin1', start, lineEnd);
}

/** Where the line starting at `from` ends: its CRLF, or `end`. */
function lineEnd(buf: Buffer, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (buf[i] === CR && buf[i + 1] === LF) return i;
  return end;
}

/** buf[a, b) is `lower`, ignoring the case of ASCII letters. */
function nameIs(buf: Buffer, a: number, b: number, lower: string): boolean {
  if (b - a !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = buf[a + i];
    const l = lower.charCodeAt(i);
    if (c !== l && !(c >= 0x41 && c <= 0x5a && c + 0x20 === l)) return false;
  }
  return true;
}

/** Whether `lower` occurs in buf[a, b), ignoring the case of ASCII letters. */
function contains(buf: Buffer, a: number, b: number, lower: string): boolean {
  for (let i = a; i + lower.length <= b; i++) if (nameIs(buf, i, i + lower.length, lower)) return true;
  return false;
}

/** The decimal number buf[a, b) spells, or undefined when it is empty or not all digits. */
function digits(buf: Buffer, a: number, b: number): number | undefined {
  if (a === b) return undefined;
  // Past 15 digits a double loses units: let Number read the text, as before.
  if (b - a > 15) return /^\d+$/.test(buf.toString('latin1', a, b)) ? Number(buf.toString('latin1', a, b)) : undefined;
  let n = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}
