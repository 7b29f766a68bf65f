/**
 * How memcached 1.6 reads text lines: a command line (its label, reply shape, data block and
 * noreply) and the reply lines that end a multi-line reply or announce a data block.
 */
import { FramingError } from '../protocol.js';
import { arithRefused, msSize, refusal, storeSize } from './memcache-meta-errors.js';

const SPACE = 0x20;
const KEY_MAX = 250;

export const enum Reply {
  /** One line; a `VA <size>` line is followed by a data block. */
  Line,
  /** Lines until a terminator; `VALUE ... <bytes>` lines are followed by a data block. */
  Multi,
  /** One line, then the connection passes through (watch). */
  LineThenRaw,
  /** One line (`VA` with its data block) or none: a meta command with `q`. */
  Quiet,
}

/** What a meta command's reply echoes of it: its key with `k`, its opaque token with `O`. */
export interface MetaFlags {
  key: string;
  opaque: string | undefined;
  returnsKey: boolean;
  /** The flags a reply may answer with a word each (s t c f l h O k), in the request's order. */
  echoes: string;
  /** `v`: a hit is VA with the value, not HD. */
  value: boolean;
  /** The error line memcached refuses a quiet one's line with (memcache-meta-errors.ts): its certain reply. */
  refused?: string;
}

export interface Command {
  label: string;
  noReply: boolean;
  reply: Reply;
  /** Size of the data block after the line (without its CRLF), or -1. */
  data: number;
  quiet: boolean;
  quit: boolean;
  kind: 'store' | 'get' | 'other';
  /** mg, ms, md and ma only. */
  meta?: MetaFlags;
  /**
   * A classic storage, incr or decr line memcached refuses before it looks at the cache: its
   * error line ("ERROR", a CLIENT_ERROR) is one no quiet meta command waiting may get.
   */
  refused?: boolean;
}

const STORE = new Set(['set', 'add', 'replace', 'append', 'prepend']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
const ECHOED = 'stcflhOk';

/** Space-separated words of buf[start, end), as memcached's tokenizer splits them. */
export function words(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  let i = start;
  while (i < end) {
    while (i < end && buf[i] === SPACE) i++;
    if (i >= end) break;
    const s = i;
    while (i < end && buf[i] !== SPACE) i++;
    out.push(buf.toString('latin1', s, i));
  }
  return out;
}

function safeLabel(word: string | undefined): string {
  if (!word) return '(empty)';
  const s = word.length > 32 ? word.slice(0, 32) : word;
  // eslint-disable-next-line no-control-regex
  return /[^\x21-\x7e]/.test(s) ? s.replace(/[^\x21-\x7e]/g, '?') : s;
}

/** A GET-family command (the hot path), made once and frozen: no string, no object per request. */
function getCommand(label: string): Command {
  return Object.freeze<Command>({ label, noReply: false, reply: Reply.Multi, data: -1, quiet: false, quit: false, kind: 'get' });
}
const CMD_GET = getCommand('get');
const CMD_GETS = getCommand('gets');
const CMD_GAT = getCommand('gat');
const CMD_GATS = getCommand('gats');
const G = 0x67;
const E = 0x65;
const A = 0x61;
const T = 0x74;
const S = 0x73;

/** get, gets, gat or gats, read from the bytes of buf[s, e); else undefined. */
function getFamily(buf: Buffer, s: number, e: number): Command | undefined {
  const n = e - s;
  if ((n !== 3 && n !== 4) || buf[s] !== G || buf[s + 2] !== T) return undefined;
  const second = buf[s + 1];
  if ((second !== E && second !== A) || (n === 4 && buf[s + 3] !== S)) return undefined;
  if (second === E) return n === 3 ? CMD_GET : CMD_GETS;
  return n === 3 ? CMD_GAT : CMD_GATS;
}

/**
 * How memcached 1.6 reads this command line (label, reply shape, data block, noreply). A GET's
 * Command is shared and frozen; the others are made per call.
 */
export function parseCommand(buf: Buffer, start: number, end: number): Command {
  let fs = start;
  while (fs < end && buf[fs] === SPACE) fs++;
  let fe = fs;
  while (fe < end && buf[fe] !== SPACE) fe++;
  // No need to split a line of many keys.
  const get = getFamily(buf, fs, fe);
  if (get !== undefined) return get;
  const cmd = buf.toString('latin1', fs, fe);
  const c: Command = { label: safeLabel(cmd), noReply: false, reply: Reply.Line, data: -1, quiet: false, quit: false, kind: 'other' };
  const w = words(buf, fe, end);
  w.unshift(cmd);
  const n = w.length;
  const lastNoreply = w[n - 1] === 'noreply';
  if (STORE.has(cmd) || cmd === 'cas') {
    c.kind = 'store';
    const base = cmd === 'cas' ? 6 : 5;
    if (n === base || n === base + 1) {
      c.noReply = lastNoreply;
      c.data = storeSize(w);
    }
    c.refused = c.data < 0;
  } else if (cmd === 'stats') {
    c.reply = Reply.Multi;
  } else if (cmd === 'lru_crawler' && (w[1] === 'metadump' || w[1] === 'mgdump')) {
    c.reply = Reply.Multi;
  } else if (cmd === 'delete') {
    c.noReply = n >= 3 && n <= 4 && lastNoreply;
  } else if (cmd === 'incr' || cmd === 'decr') {
    c.noReply = n === 4 && lastNoreply;
    c.refused = arithRefused(w);
  } else if (cmd === 'touch') {
    c.noReply = n === 4 && lastNoreply;
  } else if (cmd === 'flush_all') {
    c.noReply = n >= 2 && n <= 3 && lastNoreply;
  } else if (cmd === 'verbosity' || cmd === 'cache_memlimit') {
    c.noReply = n >= 2 && lastNoreply;
  } else if (cmd === 'quit') {
    c.noReply = true;
    c.quit = true;
  } else if (cmd === 'watch') {
    c.reply = Reply.LineThenRaw;
  } else if (META.has(cmd)) {
    // Flags come after the key (and after the data length for ms), read by their first letter
    // as memcached reads them; mn and me have none that matter (`q` is not quiet there).
    if (cmd !== 'mn' && cmd !== 'me') {
      const meta: MetaFlags = { key: w[1] ?? '', opaque: undefined, returnsKey: false, echoes: '', value: false };
      for (let i = cmd === 'ms' ? 3 : 2; i < n; i++) {
        const f = w[i];
        if (f[0] === 'q') c.quiet = true;
        else if (f[0] === 'O') meta.opaque = f.slice(1);
        else if (f[0] === 'k') meta.returnsKey = true;
        else if (f[0] === 'v') meta.value = true;
        if (ECHOED.includes(f[0])) meta.echoes += f[0];
      }
      // Only a quiet one's reply is in doubt: work it out for those alone.
      if (c.quiet) meta.refused = refusal(w);
      c.meta = meta;
    }
    if (cmd === 'ms') {
      c.kind = 'store';
      // memcached skips the data block of an ms it refuses, unless it refused the line before
      // reading its size (a key too long, more than 19 words, a size it does not read).
      const size = msSize(w[2]);
      if (n >= 3 && n < 20 && w[1].length <= KEY_MAX && size >= 0) c.data = size;
    } else if (cmd === 'mg') {
      c.kind = 'get';
    }
  }
  return c;
}

/** Whether buf[start, end) begins with the ASCII text `lit`. */
export function startsWith(buf: Buffer, start: number, end: number, lit: string): boolean {
  if (end - start < lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (buf[start + i] !== lit.charCodeAt(i)) return false;
  return true;
}

function isExactly(buf: Buffer, start: number, end: number, lit: string): boolean {
  return end - start === lit.length && startsWith(buf, start, end, lit);
}

/** The line that ends a multi-line reply. */
export function isTerminator(buf: Buffer, s: number, e: number): boolean {
  switch (buf[s]) {
    case 0x45: // E
      return isExactly(buf, s, e, 'END') || isExactly(buf, s, e, 'EN') || startsWith(buf, s, e, 'ERROR');
    case 0x4f: // O
      return isExactly(buf, s, e, 'OK');
    case 0x52: // R
      return isExactly(buf, s, e, 'RESET');
    case 0x43: // C
      return startsWith(buf, s, e, 'CLIENT_ERROR');
    case 0x53: // S
      return startsWith(buf, s, e, 'SERVER_ERROR');
    case 0x42: // B
      return startsWith(buf, s, e, 'BUSY');
    default:
      return false;
  }
}

/** Offsets of the index-th space-separated word of buf[start, end) (empty at `end` if none). */
function token(buf: Buffer, start: number, end: number, index: number): [number, number] {
  let i = start;
  for (let k = 0; ; k++) {
    while (i < end && buf[i] === SPACE) i++;
    const s = i;
    while (i < end && buf[i] !== SPACE) i++;
    if (k === index || s === end) return [s, i];
  }
}

/** Parse the index-th word of a reply line as a size; throws when it is not one. */
export function sizeWord(buf: Buffer, s: number, e: number, index: number): number {
  const [ts, te] = token(buf, s, e, index);
  let n = te > ts && te - ts <= 15 ? 0 : -1;
  for (let i = ts; i < te && n >= 0; i++) {
    const d = buf[i] - 48;
    n = d >= 0 && d <= 9 ? n * 10 + d : -1;
  }
  if (n < 0) throw new FramingError(`memcache: bad data size in reply line "${safeLabel(buf.toString('latin1', s, Math.min(e, s + 40)))}"`);
  return n;
}
