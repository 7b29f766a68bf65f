/**
 * The SMTP text the framer recognises: a command's verb, the start of a reply line, a BDAT
 * chunk size, and the CRLF.CRLF that ends DATA content.
 */
import { FramingError } from '../protocol.js';

const CR = 0x0d;
export const LF = 0x0a;
const DOT = 0x2e;
const SP = 0x20;
const TAB = 0x09;
export const DASH = 0x2d;
const END_OF_DATA = Buffer.from('\r\n.\r\n');
const DOT_CRLF = Buffer.from('.\r\n');
/** The longest verb we accept (the longest real ones, e.g. XFORWARD, are far shorter). */
export const MAX_VERB = 32;
/** The BDAT chunk size is at most this many digits (way past any real message). */
const MAX_BDAT_DIGITS = 15;

/** One step of the automaton that finds CRLF.CRLF (state = length of the matched prefix). */
export function step(s: number, c: number): number {
  switch (s) {
    case 0:
      return c === CR ? 1 : 0;
    case 1:
      return c === LF ? 2 : c === CR ? 1 : 0;
    case 2:
      return c === DOT ? 3 : c === CR ? 1 : 0;
    case 3:
      return c === CR ? 4 : 0;
    default: // 4
      return c === LF ? 5 : c === CR ? 1 : 0;
  }
}

/**
 * The end of the first CRLF.CRLF that starts at `from` or later, or -1. Searching for `.CRLF`
 * (then checking the CRLF before it) is about twice as fast on ordinary bodies, where a dot is
 * rarer than a CR; after a few lines that merely end with a dot, the full pattern takes over,
 * so that dot-heavy bodies cost no more than a plain search.
 */
export function findEndOfData(b: Buffer, from: number): number {
  let at = from + 2; // where the dot of a terminator starting at `from` or later can be
  for (let misses = 0; misses < 8; misses++) {
    const k = b.indexOf(DOT_CRLF, at);
    if (k < 0) return -1;
    if (b[k - 1] === LF && b[k - 2] === CR) return k + 3;
    at = k + 1;
  }
  const k = b.indexOf(END_OF_DATA, at - 2);
  return k < 0 ? -1 : k + 5;
}

/**
 * Checks the start of a command line. Returns the end of the verb, or -1 if `end` came first.
 * Throws a FramingError when the bytes cannot begin an SMTP command.
 */
export function scanVerb(b: Buffer, start: number, end: number): number {
  const lim = Math.min(end, start + MAX_VERB + 1);
  for (let i = start; i < lim; i++) {
    const c = b[i];
    if (c === SP || c === TAB || c === CR || c === LF) return i;
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === DASH || c === 0x5f;
    if (!ok) throw new FramingError(`not an SMTP command: byte 0x${c.toString(16).padStart(2, '0')} in the verb`);
  }
  if (lim - start > MAX_VERB) throw new FramingError(`not an SMTP command: verb longer than ${MAX_VERB} bytes`);
  return -1;
}

/** Checks the start of a reply line (`ddd`, then space, dash or end of line). */
export function checkReplyStart(b: Buffer, start: number, end: number): void {
  const lim = Math.min(end, start + 4);
  for (let i = start; i < lim; i++) {
    const c = b[i];
    const ok = i - start < 3 ? c >= 0x30 && c <= 0x39 : c === SP || c === DASH || c === CR || c === LF;
    if (!ok) throw new FramingError(`not an SMTP reply: byte 0x${c.toString(16).padStart(2, '0')} at position ${i - start}`);
  }
  // A line ending before its three digits ("25\r\n") is no reply either.
  if (end - start < 4 && end > start && b[end - 1] === LF) throw new FramingError('not an SMTP reply: line too short');
}

/** The size of a `BDAT n [LAST]` chunk, in a line that ends at `end`. */
export function bdatSize(line: Buffer, verbEnd: number, end: number): number {
  let i = verbEnd;
  while (i < end && (line[i] === SP || line[i] === TAB)) i++;
  const start = i;
  let size = 0;
  while (i < end && line[i] >= 0x30 && line[i] <= 0x39) {
    size = size * 10 + (line[i] - 0x30);
    i++;
  }
  const c = i < end ? line[i] : -1;
  if (i === start || i - start > MAX_BDAT_DIGITS || !(c === SP || c === TAB || c === CR || c === LF)) {
    throw new FramingError('BDAT without a valid chunk size');
  }
  return size;
}
