/**
 * memcached text protocol framing and errors (classic and meta commands).
 *
 * Requests are a command line (up to LF; memcached strips a CR before it) and, for storage
 * commands (set add replace append prepend cas) and meta set (ms), a data block of <bytes> + 2
 * bytes. The framer reads command lines the way memcached 1.6 does, so that it agrees with the
 * server on where the next command starts:
 * - words are separated by spaces only; a storage line whose word count is wrong, whose key is
 *   over 250 bytes or whose numbers do not parse has no data block (memcached answers with an
 *   error and reads the next line as a command; so do we);
 * - the bytes after a data block are not checked (memcached skips <bytes> + 2 and answers
 *   "CLIENT_ERROR bad data chunk" itself);
 * - `noreply` as the last word of a storage, delete, incr, decr, touch, flush_all, verbosity or
 *   cache_memlimit line with the right word count means no reply at all (noReply), as does quit
 *   (the server closes). An empty line or an unknown command gets "ERROR".
 * The start segment holds the whole command line; data blocks stream.
 *
 * Replies: one line, except for get/gets/gat/gats and stats (and lru_crawler metadump|mgdump):
 * lines, with `VALUE <key> <flags> <bytes> [<cas>]` followed by a data block, until END (or EN,
 * OK, RESET, or an ERROR / CLIENT_ERROR / SERVER_ERROR / BUSY line). A meta reply line
 * `VA <size> ...` is followed by a data block. A reply nobody asked for (e.g. "ERROR Too many
 * open connections" on connect) is passthrough.
 *
 * Not framed, honestly:
 * - the binary protocol (a command starting with byte 0x80) throws a FramingError, so the engine
 *   passes the connection through raw;
 * - meta commands with the `q` (quiet) flag throw a FramingError too: memcached then answers only
 *   some outcomes (mg hides EN, ms hides HD, md hides HD...), so which reply belongs to which
 *   request depends on results the proxy cannot know before it sees them;
 * - `watch` is a request whose reply is its OK line; after it the connection passes through (a
 *   log stream follows).
 */
import { ReplyCursor } from './reply-cursor.js';
import {
  FramingError,
  MAX_HEAD_BYTES,
  oneLine,
  type ErrorKind,
  type ErrorReply,
  type ErrorReplyContext,
  type FramerSession,
  type Protocol,
  type Segment,
} from '../protocol.js';

const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const BINARY_MAGIC = 0x80;
const KEY_MAX = 250;

const enum Reply {
  /** One line; a `VA <size>` line is followed by a data block. */
  Line,
  /** Lines until a terminator; `VALUE ... <bytes>` lines are followed by a data block. */
  Multi,
  /** One line, then the connection passes through (watch). */
  LineThenRaw,
}

interface Pending {
  ordinal: number;
  reply: Reply;
}

interface Command {
  label: string;
  noReply: boolean;
  reply: Reply;
  /** Size of the data block after the line (without its CRLF), or -1. */
  data: number;
  quiet: boolean;
  quit: boolean;
  kind: 'store' | 'get' | 'other';
}

const STORE = new Set(['set', 'add', 'replace', 'append', 'prepend']);
const GET = new Set(['get', 'gets', 'gat', 'gats']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);

function pass(data: Buffer): Segment {
  return { data, start: true, end: true, passthrough: true };
}

/** Space-separated words of buf[start, end), as memcached's tokenizer splits them. */
function words(buf: Buffer, start: number, end: number): string[] {
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

const UINT = /^\d+$/;
const INT = /^-?\d+$/;

function sizeOf(word: string | undefined): number {
  if (word === undefined || !UINT.test(word) || word.length > 15) return -1;
  return Number(word);
}

function safeLabel(word: string | undefined): string {
  if (!word) return '(empty)';
  const s = word.length > 32 ? word.slice(0, 32) : word;
  // eslint-disable-next-line no-control-regex
  return /[^\x21-\x7e]/.test(s) ? s.replace(/[^\x21-\x7e]/g, '?') : s;
}

/** How memcached 1.6 reads this command line (label, reply shape, data block, noreply). */
export function parseCommand(buf: Buffer, start: number, end: number): Command {
  const [fs, fe] = token(buf, start, end, 0);
  const cmd = buf.toString('latin1', fs, fe);
  const c: Command = { label: safeLabel(cmd), noReply: false, reply: Reply.Line, data: -1, quiet: false, quit: false, kind: 'other' };
  if (GET.has(cmd)) {
    // The hot path: no need to split a line of many keys.
    c.kind = 'get';
    c.reply = Reply.Multi;
    return c;
  }
  const w = words(buf, fe, end);
  w.unshift(cmd);
  const n = w.length;
  const lastNoreply = w[n - 1] === 'noreply';
  if (STORE.has(cmd) || cmd === 'cas') {
    c.kind = 'store';
    const base = cmd === 'cas' ? 6 : 5;
    if (n === base || n === base + 1) {
      c.noReply = lastNoreply;
      const size = sizeOf(w[4]);
      const ok =
        w[1].length <= KEY_MAX &&
        UINT.test(w[2]) &&
        INT.test(w[3]) &&
        size >= 0 &&
        (cmd !== 'cas' || UINT.test(w[5]));
      if (ok) c.data = size;
    }
  } else if (cmd === 'stats') {
    c.reply = Reply.Multi;
  } else if (cmd === 'lru_crawler' && (w[1] === 'metadump' || w[1] === 'mgdump')) {
    c.reply = Reply.Multi;
  } else if (cmd === 'delete') {
    c.noReply = n >= 3 && n <= 4 && lastNoreply;
  } else if (cmd === 'incr' || cmd === 'decr' || cmd === 'touch') {
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
    // Flags come after the key (and after the data length for ms); `q` takes no token.
    const flagsFrom = cmd === 'ms' ? 3 : 2;
    for (let i = flagsFrom; i < n; i++) if (w[i] === 'q') c.quiet = true;
    if (cmd === 'ms') {
      c.kind = 'store';
      const size = sizeOf(w[2]);
      if (n >= 3 && w[1].length <= KEY_MAX && size >= 0) c.data = size;
    } else if (cmd === 'mg') {
      c.kind = 'get';
    }
  }
  return c;
}

/** Whether buf[start, end) begins with the ASCII text `lit`. */
function startsWith(buf: Buffer, start: number, end: number, lit: string): boolean {
  if (end - start < lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (buf[start + i] !== lit.charCodeAt(i)) return false;
  return true;
}

function isExactly(buf: Buffer, start: number, end: number, lit: string): boolean {
  return end - start === lit.length && startsWith(buf, start, end, lit);
}

/** The line that ends a multi-line reply. */
function isTerminator(buf: Buffer, s: number, e: number): boolean {
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
function sizeWord(buf: Buffer, s: number, e: number, index: number): number {
  const [ts, te] = token(buf, s, e, index);
  let n = te > ts && te - ts <= 15 ? 0 : -1;
  for (let i = ts; i < te && n >= 0; i++) {
    const d = buf[i] - 48;
    n = d >= 0 && d <= 9 ? n * 10 + d : -1;
  }
  if (n < 0) throw new FramingError(`memcache: bad data size in reply line "${safeLabel(buf.toString('latin1', s, Math.min(e, s + 40)))}"`);
  return n;
}

class MemcacheSession implements FramerSession {
  // ---- client side
  private cHeld: Buffer | null = null;
  private cRaw = false;
  /** Bytes left of the current request's data block, CRLF included. */
  private dataLeft = 0;
  private reqStarted = false;
  private cur: Command | null = null;
  private nextOrdinal = 0;

  // ---- server side
  private sHeld: Buffer | null = null;
  private sRaw = false;
  private readonly reply = new ReplyCursor();
  private replyKind: Reply = Reply.Line;
  private replyEntry: Pending | null = null;
  private sDataLeft = 0;

  private queue: Pending[] = [];
  private qHead = 0;

  // ================================================================ client -> server

  fromClient(chunk: Buffer): Segment[] {
    if (chunk.length === 0) return [];
    if (this.cRaw) return [pass(chunk)];
    const buf = this.cHeld ? Buffer.concat([this.cHeld, chunk]) : chunk;
    this.cHeld = null;
    try {
      return this.frameRequests(buf);
    } catch (err) {
      this.cHeld = buf;
      throw err;
    }
  }

  private frameRequests(buf: Buffer): Segment[] {
    const out: Segment[] = [];
    const n = buf.length;
    let pos = 0;
    let seg = 0;
    while (pos < n) {
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, n - pos);
        pos += take;
        this.dataLeft -= take;
        if (this.dataLeft === 0) {
          this.emit(out, buf.subarray(seg, pos), true);
          seg = pos;
        }
        continue;
      }
      seg = pos;
      if (buf[pos] === BINARY_MAGIC) throw new FramingError('memcache binary protocol is not framed');
      const lf = buf.indexOf(LF, pos);
      if (lf < 0) {
        if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`memcache command line longer than ${MAX_HEAD_BYTES} bytes`);
        break;
      }
      const lineEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
      const cmd = parseCommand(buf, pos, lineEnd);
      if (cmd.quiet) throw new FramingError(`memcache: quiet mode (${cmd.label} ... q) hides some replies; not framed`);
      const ordinal = this.nextOrdinal++;
      if (!cmd.noReply) this.queue.push({ ordinal, reply: cmd.reply });
      this.cur = cmd;
      this.reqStarted = false;
      pos = lf + 1;
      if (cmd.data >= 0) {
        this.dataLeft = cmd.data + 2;
        continue;
      }
      this.emit(out, buf.subarray(seg, pos), true);
      seg = pos;
      if (cmd.reply === Reply.LineThenRaw) {
        this.cRaw = true;
        if (pos < n) out.push(pass(buf.subarray(pos)));
        return out;
      }
    }
    if (this.dataLeft > 0 && pos > seg) this.emit(out, buf.subarray(seg, pos), false);
    if (pos < n) this.cHeld = buf.subarray(pos);
    return out;
  }

  private emit(out: Segment[], data: Buffer, end: boolean): void {
    const seg: Segment = { data, start: !this.reqStarted, end };
    if (seg.start && this.cur) {
      seg.label = this.cur.label;
      if (this.cur.noReply) seg.noReply = true;
      this.reqStarted = true;
    }
    out.push(seg);
  }

  // ================================================================ server -> client

  fromServer(chunk: Buffer): Segment[] {
    if (chunk.length === 0) return [];
    if (this.sRaw) return [pass(chunk)];
    const buf = this.sHeld ? Buffer.concat([this.sHeld, chunk]) : chunk;
    this.sHeld = null;
    try {
      return this.frameReplies(buf);
    } catch (err) {
      this.sHeld = buf;
      throw err;
    }
  }

  private frameReplies(buf: Buffer): Segment[] {
    const out: Segment[] = [];
    const n = buf.length;
    let pos = 0;
    let seg = 0;
    while (pos < n) {
      if (!this.reply.active) {
        const head = this.queue[this.qHead];
        this.replyEntry = head ?? null;
        this.replyKind = head ? head.reply : Reply.Line;
        this.reply.begin(!head);
        seg = pos;
      }
      let done = false;
      if (this.sDataLeft > 0) {
        const take = Math.min(this.sDataLeft, n - pos);
        pos += take;
        this.sDataLeft -= take;
        if (this.sDataLeft === 0 && this.replyKind !== Reply.Multi) done = true;
      } else {
        const lf = buf.indexOf(LF, pos);
        if (lf < 0) {
          if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`memcache reply line longer than ${MAX_HEAD_BYTES} bytes`);
          break;
        }
        const s = pos;
        const e = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
        pos = lf + 1;
        if (this.replyKind === Reply.Multi) {
          if (startsWith(buf, s, e, 'VALUE ')) this.sDataLeft = sizeWord(buf, s, e, 3) + 2;
          else done = isTerminator(buf, s, e);
        } else if (startsWith(buf, s, e, 'VA ')) {
          this.sDataLeft = sizeWord(buf, s, e, 1) + 2;
        } else {
          done = true;
        }
      }
      if (done) {
        out.push(this.reply.piece(buf.subarray(seg, pos), true));
        seg = pos;
        const entry = this.replyEntry;
        this.replyEntry = null;
        if (entry) {
          this.shift();
          if (entry.reply === Reply.LineThenRaw) {
            this.sRaw = true;
            if (pos < n) out.push(pass(buf.subarray(pos)));
            return out;
          }
        }
      }
    }
    if (this.reply.active && pos > seg) out.push(this.reply.piece(buf.subarray(seg, pos), false));
    if (pos < n) this.sHeld = buf.subarray(pos);
    return out;
  }

  // ================================================================ bookkeeping

  private shift(): void {
    this.qHead++;
    if (this.qHead === this.queue.length) {
      this.queue = [];
      this.qHead = 0;
    } else if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }

  skipped(ordinal: number): void {
    for (let i = this.queue.length - 1; i >= this.qHead; i--) {
      if (this.queue[i].ordinal !== ordinal) continue;
      // A skipped `watch` never reached the server: no OK and no log stream will come. The
      // client side passes through already, so replies to later commands find no request
      // waiting and pass through too.
      this.queue.splice(i, 1);
      if (this.qHead === this.queue.length) {
        this.queue = [];
        this.qHead = 0;
      }
      return;
    }
  }

  buffered(): number {
    return (this.cHeld?.length ?? 0) + (this.sHeld?.length ?? 0);
  }

  drain(): { client: Buffer; server: Buffer } {
    const out = { client: this.cHeld ?? EMPTY, server: this.sHeld ?? EMPTY };
    this.cHeld = null;
    this.sHeld = null;
    return out;
  }
}

// ================================================================== errors

interface MemcacheError extends ErrorKind {
  reply: (cmd: Command) => string;
}

const ERRORS: Record<string, MemcacheError> = {
  SERVER_ERROR: {
    description: 'SERVER_ERROR out of memory (storing object / writing get response), as memcached under memory pressure',
    fatal: false,
    reply: (c) =>
      c.kind === 'store'
        ? 'SERVER_ERROR out of memory storing object'
        : c.kind === 'get'
          ? 'SERVER_ERROR out of memory writing get response'
          : 'SERVER_ERROR out of memory',
  },
  too_large: {
    description: 'SERVER_ERROR object too large for cache (item over the -I limit)',
    fatal: false,
    reply: () => 'SERVER_ERROR object too large for cache',
  },
  busy: {
    description: 'SERVER_ERROR temporary failure (how memcached-compatible servers report a transient failure)',
    fatal: false,
    reply: () => 'SERVER_ERROR temporary failure',
  },
  backend: {
    description: "SERVER_ERROR backend failure (memcached's built-in proxy when its backend is down)",
    fatal: false,
    reply: () => 'SERVER_ERROR backend failure',
  },
  CLIENT_ERROR: {
    description: 'CLIENT_ERROR bad data chunk / bad command line format',
    fatal: false,
    reply: (c) => (c.kind === 'store' ? 'CLIENT_ERROR bad data chunk' : 'CLIENT_ERROR bad command line format'),
  },
  ERROR: {
    description: 'ERROR: the server does not know the command',
    fatal: false,
    reply: () => 'ERROR',
  },
};

const errorKinds: Record<string, ErrorKind> = Object.fromEntries(
  Object.entries(ERRORS).map(([k, v]) => [k, { description: v.description, fatal: v.fatal }]),
);

export const memcache: Protocol = {
  name: 'memcache',
  framesReplies: true,
  errorKinds,
  defaultError: 'SERVER_ERROR',
  createSession: () => new MemcacheSession(),
  encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
    const req = ctx.request;
    const lf = req.indexOf(LF);
    const end = lf < 0 ? Math.min(req.length, MAX_HEAD_BYTES) : lf > 0 && req[lf - 1] === CR ? lf - 1 : lf;
    const cmd = parseCommand(req, 0, end);
    // A noreply request gets nothing back, not even an error; quit gets the close it asked for.
    if (cmd.noReply) return { bytes: EMPTY, close: cmd.quit };
    const e = ERRORS[kind] ?? ERRORS.SERVER_ERROR;
    let line = e.reply(cmd);
    if (ctx.message !== undefined) {
      // A bare ERROR carries no text in memcache's protocol; SERVER_ERROR does.
      const word = line.split(' ')[0];
      line = `${word === 'ERROR' ? 'SERVER_ERROR' : word} ${oneLine(ctx.message)}`;
    }
    return { bytes: Buffer.from(`${line}\r\n`, 'utf8'), close: false };
  },
};
