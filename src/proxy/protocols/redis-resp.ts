/**
 * RESP, byte by byte, for the redis framer (redis.ts, redis-replies.ts): the limits redis-server
 * reads with, length lines, inline command words, the labels behaviors see, and what a request
 * does to the rest of the connection (SUBSCRIBE, MONITOR, SYNC).
 */
import { FramingError } from '../protocol.js';

export const EMPTY = Buffer.alloc(0);
export const LF = 0x0a;
export const CR = 0x0d;
export const STAR = 0x2a;
export const DOLLAR = 0x24;
export const PUSH = 0x3e; // '>'

/** A `*N` or `$N` line longer than this is garbage (20 digits, sign, type byte and CRLF fit). */
export const MAX_LENGTH_LINE = 32;
/** Arguments after the command name are part of the head only when this small. */
export const HEAD_ARG_MAX = 1024;
/** How many arguments (command name included) the start segment holds when they are small. */
export const HEAD_ARGS = 3;
/** redis-server refuses more elements in one multi-bulk request. */
export const MAX_MULTIBULK = 1024 * 1024;
/** Lengths above this are garbage, not data (redis' proto-max-bulk-len is 512 MiB by default). */
const MAX_LENGTH = 2 ** 40;

/** What happens to the session after a request's reply. */
export const enum After {
  /** One reply, then the next request's. */
  Normal,
  /** The first value the server sends is the reply; then everything passes through. */
  ReplyThenRaw,
  /** No framed reply: everything from the server passes through from here on. */
  RawNow,
  /** One reply, which says whether the server took a FUNCTION LOAD, DELETE or FLUSH (redis-functions.ts), a SCRIPT LOAD or FLUSH (redis-scripts-seen.ts). */
  Functions,
}

export const SWITCH_AFTER_REPLY = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'MONITOR']);
export const SWITCH_NOW = new Set(['SYNC', 'PSYNC']);

/**
 * Parse a decimal integer in buf[start, end) where end is the index of the LF; the byte before
 * it must be CR (redis-server looks for CR in length lines). Undefined when it is not a number.
 */
export function lengthLine(buf: Buffer, start: number, lf: number): number | undefined {
  const end = lf - 1;
  if (end < start || buf[end] !== CR) return undefined;
  let i = start;
  let neg = false;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  if (i >= end) return undefined;
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
    if (n > MAX_LENGTH) return undefined;
  }
  return neg ? -n : n;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === CR || c === LF;
}

/**
 * The first `max` words of an inline command line, quotes stripped (as sdssplitargs reads it),
 * as start, end offsets in pairs written into `words`; returns how many offsets it wrote.
 */
export function inlineWords(buf: Buffer, start: number, end: number, max: number, words: number[]): number {
  let w = 0;
  let i = start;
  while (w < max * 2) {
    while (i < end && isSpace(buf[i])) i++;
    if (i >= end) break;
    const q = buf[i];
    if (q === 0x22 || q === 0x27) {
      const close = buf.indexOf(q, i + 1);
      const stop = close < 0 || close > end ? end : close;
      words[w++] = i + 1;
      words[w++] = stop;
      i = stop + 1;
    } else {
      const s = i;
      while (i < end && !isSpace(buf[i])) i++;
      words[w++] = s;
      words[w++] = i;
    }
  }
  return w;
}

/**
 * The LF ending the length line (`*N`, `$N`, ...) that starts at `start`; -1 while it is not
 * complete. A line longer than MAX_LENGTH_LINE is garbage: FramingError naming `what`.
 */
export function lengthLineEnd(buf: Buffer, start: number, what: string): number {
  const n = buf.length;
  const stop = Math.min(n, start + MAX_LENGTH_LINE + 1);
  for (let i = start; i < stop; i++) if (buf[i] === LF) return i;
  if (n - start > MAX_LENGTH_LINE) throw new FramingError(`redis: ${what} length line too long`);
  return -1;
}

export interface Head {
  /** Offset after the head. */
  end: number;
  /** Element count; 0 or less for an empty multi-bulk. */
  count: number;
  /** Start and end offsets of the arguments read in full, in pairs: the first `argc` entries. */
  args: number[];
  argc: number;
  /** Bulk strings not read yet (the one in progress included). */
  argsLeft: number;
  /** Bytes left of the bulk in progress (its CRLF included), 0 when a `$` line comes next. */
  bulkLeft: number;
}

/**
 * Where word `n` of a request (0: its command, 1: its subcommand or key) lies in `req`, its first
 * segment, as [start, end); undefined when it has none or the segment does not hold it all.
 */
export function wordAt(req: Buffer, n: number): [number, number] | undefined {
  return wordSpans(req, n + 1, SPANS) === 2 * n + 2 ? [SPANS[2 * n], SPANS[2 * n + 1]] : undefined;
}
const SPANS: number[] = [];

/**
 * Where the first `count` words of a request lie in `req`, its first segment, or in a chunk
 * where it starts at `from`: start and end offsets in pairs written into `words`; returns how
 * many offsets it wrote (fewer than 2 * count when the request has fewer words, or the bytes do
 * not hold them all).
 */
export function wordSpans(req: Buffer, count: number, words: number[], from = 0): number {
  if (req.length <= from) return 0;
  if (req[from] !== STAR) {
    const lf = req.indexOf(LF, from);
    return inlineWords(req, from, lf < 0 ? req.length : lf, count, words);
  }
  // *N, then $len and each word.
  let p = req.indexOf(LF, from) + 1;
  let w = 0;
  for (let i = 0; i < count; i++) {
    if (p <= 0 || req[p] !== DOLLAR) break;
    const lf = req.indexOf(LF, p);
    const len = lf < 0 ? undefined : lengthLine(req, p + 1, lf);
    if (len === undefined || len < 0 || lf + 1 + len > req.length) break;
    words[w++] = lf + 1;
    words[w++] = lf + 1 + len;
    p = lf + 1 + len + 2;
  }
  return w;
}
