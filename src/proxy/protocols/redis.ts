/**
 * Redis (RESP2 and RESP3) framing and errors.
 *
 * Requests: multi-bulk arrays (`*N\r\n$len\r\n...`) and inline commands (a line that does not
 * start with `*`), framed the way redis-server itself reads them (it does not check the CRLF
 * after a bulk, it skips two bytes, and so do we). The start segment of a request holds the
 * command name and up to two more small arguments (the key, a subcommand), so that behaviors can
 * look at them; big values stream in later segments. Empty multi-bulks (`*0`, `*-1`) and blank
 * inline lines get no reply from redis: they are passthrough.
 *
 * Replies: one complete RESP value per request, nested aggregates included, with RESP3 types
 * (`_ , # ( = % ~ |`, `|` attributes being a prefix of the value they describe). RESP3 push
 * messages (`>`) are out of band: passthrough. A reply that arrives while no request is waiting
 * (e.g. "-ERR max number of clients reached" on connect) is passthrough too.
 *
 * Where replies stop matching requests one to one, the session stops framing, on purpose and
 * without a FramingError (nothing is wrong with the stream):
 * - SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and MONITOR are ordinary requests whose reply is the first
 *   value the server sends for them (the first subscription confirmation, or MONITOR's +OK).
 *   Everything after that request, both ways, is passthrough for the rest of the connection:
 *   later confirmations, messages, MONITOR's feed, and any command sent in subscribed mode.
 *   An injected error on SUBSCRIBE reaches the client as the reply; the session still passes
 *   through afterwards (harmless: nothing is faulted any more on that connection).
 * - SYNC and PSYNC (a replica's stream) are noReply and the connection passes through at once.
 * - CLIENT REPLY OFF|SKIP silences replies for later commands: that throws a FramingError, so
 *   the engine passes the connection through raw.
 * Garbage (a multi-bulk element that is not a bulk string, a bad length, an unknown reply type,
 * an inline line over 64 KiB, a command name over 1 KiB) throws a FramingError.
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
const STAR = 0x2a;
const DOLLAR = 0x24;
const PUSH = 0x3e; // '>'

/** A `*N` or `$N` line longer than this is garbage (20 digits, sign, type byte and CRLF fit). */
const MAX_LENGTH_LINE = 32;
/** Arguments after the command name are part of the head only when this small. */
const HEAD_ARG_MAX = 1024;
/** How many arguments (command name included) the start segment holds when they are small. */
const HEAD_ARGS = 3;
/** redis-server refuses more elements in one multi-bulk request. */
const MAX_MULTIBULK = 1024 * 1024;
/** Lengths above this are garbage, not data (redis' proto-max-bulk-len is 512 MiB by default). */
const MAX_LENGTH = 2 ** 40;

/** What happens to the session after a request's reply. */
const enum After {
  /** One reply, then the next request's. */
  Normal,
  /** The first value the server sends is the reply; then everything passes through. */
  ReplyThenRaw,
  /** No framed reply: everything from the server passes through from here on. */
  RawNow,
}

interface Pending {
  ordinal: number;
  after: After;
}

const SWITCH_AFTER_REPLY = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'MONITOR']);
const SWITCH_NOW = new Set(['SYNC', 'PSYNC']);

function pass(data: Buffer): Segment {
  return { data, start: true, end: true, passthrough: true };
}

/**
 * Parse a decimal integer in buf[start, end) where end is the index of the LF; the byte before
 * it must be CR (redis-server looks for CR in length lines). Undefined when it is not a number.
 */
function lengthLine(buf: Buffer, start: number, lf: number): number | undefined {
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

/** The last label made, by its bytes: a pipeline mostly repeats one command. */
let lastLabelBytes = Buffer.alloc(0);
let lastLabel = '';

/** A label safe to show anywhere: printable ASCII, upper case, at most 32 characters. */
function labelOf(buf: Buffer, start: number, end: number): string {
  const stop = Math.min(end, start + 32);
  if (stop - start === lastLabelBytes.length && buf.compare(lastLabelBytes, 0, lastLabelBytes.length, start, stop) === 0) return lastLabel;
  let s = buf.toString('latin1', start, stop).toUpperCase();
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(s)) s = s.replace(/[^\x21-\x7e]/g, '?');
  lastLabelBytes = Buffer.from(buf.subarray(start, stop));
  lastLabel = s;
  return s;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === CR || c === LF;
}

/**
 * The first `max` words of an inline command line, quotes stripped (as sdssplitargs reads it),
 * as start, end offsets in pairs.
 */
function inlineWords(buf: Buffer, start: number, end: number, max: number, words: number[]): number[] {
  words.length = 0;
  let i = start;
  while (words.length < max * 2) {
    while (i < end && isSpace(buf[i])) i++;
    if (i >= end) break;
    const q = buf[i];
    if (q === 0x22 || q === 0x27) {
      const close = buf.indexOf(q, i + 1);
      const stop = close < 0 || close > end ? end : close;
      words.push(i + 1, stop);
      i = stop + 1;
    } else {
      const s = i;
      while (i < end && !isSpace(buf[i])) i++;
      words.push(s, i);
    }
  }
  return words;
}

interface Head {
  /** Offset after the head. */
  end: number;
  /** Element count; 0 or less for an empty multi-bulk. */
  count: number;
  /** Start and end offsets of the arguments read in full, in pairs. */
  args: number[];
  /** Bulk strings not read yet (the one in progress included). */
  argsLeft: number;
  /** Bytes left of the bulk in progress (its CRLF included), 0 when a `$` line comes next. */
  bulkLeft: number;
}

class RedisSession implements FramerSession {
  // ---- client side
  private cHeld: Buffer | null = null;
  /** After SUBSCRIBE/MONITOR/SYNC: requests are no longer framed. */
  private cRaw = false;
  private argsLeft = 0;
  private bulkLeft = 0;
  private reqStarted = false;
  private curLabel = '';
  private curNoReply = false;
  private curAfter: After = After.Normal;
  private nextOrdinal = 0;
  /** parseHead's answer, reused: nothing keeps it past the request it describes. */
  private readonly head: Head = { end: 0, count: 0, args: [], argsLeft: 0, bulkLeft: 0 };

  // ---- server side
  private sHeld: Buffer | null = null;
  private sRaw = false;
  private readonly reply = new ReplyCursor();
  private replyEntry: Pending | null = null;
  /** Elements left in each open aggregate, innermost last. */
  private depth: number[] = [];
  /** Whether each open aggregate is an attribute (`|`), which does not count as an element. */
  private attr: boolean[] = [];
  /** Bytes left of a bulk payload, CRLF included. */
  private bulk = 0;
  /** Inside a simple line (`+ - : _ , # (`), waiting for its LF. */
  private inLine = false;

  // ---- requests waiting for a reply (and switch markers), oldest first
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
      // Nothing of this call was returned: keep it all for drain().
      this.cHeld = buf;
      throw err;
    }
  }

  private frameRequests(buf: Buffer): Segment[] {
    const out: Segment[] = [];
    const n = buf.length;
    let pos = 0;
    let seg = 0; // first byte of the current request not yet emitted
    while (pos < n) {
      if (this.argsLeft === 0) {
        seg = pos;
        if (buf[pos] === STAR) {
          const head = this.parseHead(buf, pos);
          if (!head) break;
          if (head.count <= 0) {
            out.push(pass(buf.subarray(pos, head.end)));
            pos = head.end;
            continue;
          }
          this.beginRequest(buf, head.args);
          pos = head.end;
          this.argsLeft = head.argsLeft;
          this.bulkLeft = head.bulkLeft;
          if (this.argsLeft === 0) {
            this.emitRequest(out, buf.subarray(seg, pos), true);
            seg = pos;
            if (this.cRaw) break;
          }
        } else {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`redis inline command longer than ${MAX_HEAD_BYTES} bytes`);
            break;
          }
          const words = inlineWords(buf, pos, lf, HEAD_ARGS, this.head.args);
          const end = lf + 1;
          if (words.length === 0) {
            out.push(pass(buf.subarray(pos, end)));
          } else {
            this.beginRequest(buf, words);
            this.emitRequest(out, buf.subarray(pos, end), true);
          }
          pos = end;
          seg = pos;
          if (this.cRaw) break;
        }
      } else if (this.bulkLeft > 0) {
        const take = Math.min(this.bulkLeft, n - pos);
        pos += take;
        this.bulkLeft -= take;
        if (this.bulkLeft === 0 && --this.argsLeft === 0) {
          this.emitRequest(out, buf.subarray(seg, pos), true);
          seg = pos;
          if (this.cRaw) break;
        }
      } else {
        if (buf[pos] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[pos]}`);
        const lf = buf.indexOf(LF, pos);
        if (lf < 0 || lf - pos > MAX_LENGTH_LINE) {
          if (lf >= 0 || n - pos > MAX_LENGTH_LINE) throw new FramingError('redis: bulk length line too long');
          break;
        }
        const len = lengthLine(buf, pos + 1, lf);
        if (len === undefined || len < 0) throw new FramingError('redis: invalid bulk length in request');
        this.bulkLeft = len + 2;
        pos = lf + 1;
      }
    }
    if (this.cRaw) {
      if (pos < n) out.push(pass(buf.subarray(pos)));
      return out;
    }
    if (this.argsLeft > 0 && pos > seg) this.emitRequest(out, buf.subarray(seg, pos), false);
    if (pos < n) this.cHeld = buf.subarray(pos);
    return out;
  }

  /**
   * Read `*N` and the first arguments. Null when more bytes are needed (nothing consumed).
   */
  private parseHead(buf: Buffer, start: number): Head | null {
    const n = buf.length;
    const lf = buf.indexOf(LF, start);
    if (lf < 0 || lf - start > MAX_LENGTH_LINE) {
      if (lf >= 0 || n - start > MAX_LENGTH_LINE) throw new FramingError('redis: multi-bulk length line too long');
      return null;
    }
    const count = lengthLine(buf, start + 1, lf);
    if (count === undefined || count > MAX_MULTIBULK) throw new FramingError('redis: invalid multi-bulk length');
    let p = lf + 1;
    const head = this.head;
    const args = head.args;
    args.length = 0;
    head.count = count;
    if (count <= 0) return this.headEnds(p, 0, 0);
    const want = Math.min(count, HEAD_ARGS) * 2;
    while (args.length < want) {
      if (p >= n) return null;
      if (buf[p] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[p]}`);
      const lf2 = buf.indexOf(LF, p);
      if (lf2 < 0 || lf2 - p > MAX_LENGTH_LINE) {
        if (lf2 >= 0 || n - p > MAX_LENGTH_LINE) throw new FramingError('redis: bulk length line too long');
        return null;
      }
      const len = lengthLine(buf, p + 1, lf2);
      if (len === undefined || len < 0) throw new FramingError('redis: invalid bulk length in request');
      const data = lf2 + 1;
      if (len > HEAD_ARG_MAX) {
        if (args.length === 0) throw new FramingError(`redis: command name longer than ${HEAD_ARG_MAX} bytes`);
        // A big value: the head ends before it and the value streams.
        return this.headEnds(data, count - args.length / 2, len + 2);
      }
      if (data + len + 2 > n) return null;
      args.push(data, data + len);
      p = data + len + 2;
    }
    return this.headEnds(p, count - args.length / 2, 0);
  }

  private headEnds(end: number, argsLeft: number, bulkLeft: number): Head {
    const head = this.head;
    head.end = end;
    head.argsLeft = argsLeft;
    head.bulkLeft = bulkLeft;
    return head;
  }

  /** Name the request from its first words, decide what its reply looks like, queue it. */
  private beginRequest(buf: Buffer, words: readonly number[]): void {
    const label = labelOf(buf, words[0], words[1]);
    let after = After.Normal;
    if (SWITCH_AFTER_REPLY.has(label)) after = After.ReplyThenRaw;
    else if (SWITCH_NOW.has(label)) after = After.RawNow;
    else if (label === 'CLIENT' && words.length >= 6) {
      const sub = labelOf(buf, words[2], words[3]);
      const mode = labelOf(buf, words[4], words[5]);
      if (sub === 'REPLY' && (mode === 'OFF' || mode === 'SKIP')) {
        throw new FramingError(`redis: CLIENT REPLY ${mode} makes replies stop matching requests`);
      }
    }
    const ordinal = this.nextOrdinal++;
    this.curLabel = label;
    this.curAfter = after;
    this.curNoReply = after === After.RawNow;
    this.reqStarted = false;
    this.push({ ordinal, after });
  }

  private emitRequest(out: Segment[], data: Buffer, end: boolean): void {
    const seg: Segment = { data, start: !this.reqStarted, end };
    if (seg.start) {
      seg.label = this.curLabel;
      if (this.curNoReply) seg.noReply = true;
      this.reqStarted = true;
    }
    out.push(seg);
    if (end && this.curAfter !== After.Normal) this.cRaw = true;
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
        const head = this.peek();
        if (head && head.after === After.RawNow) {
          this.shift();
          this.sRaw = true;
          out.push(pass(buf.subarray(pos)));
          return out;
        }
        // A push message, or a reply nobody asked for, passes through.
        const owned = !!head && (buf[pos] !== PUSH || head.after === After.ReplyThenRaw);
        this.replyEntry = owned ? head : null;
        this.reply.begin(!owned);
        seg = pos;
      }
      let done = false;
      if (this.bulk > 0) {
        const take = Math.min(this.bulk, n - pos);
        pos += take;
        this.bulk -= take;
        if (this.bulk === 0) done = this.completeElement();
      } else if (this.inLine) {
        const lf = buf.indexOf(LF, pos);
        if (lf < 0) {
          pos = n;
        } else {
          pos = lf + 1;
          this.inLine = false;
          done = this.completeElement();
        }
      } else {
        const t = buf[pos];
        let hold = false;
        switch (t) {
          case 0x2b: // + simple string
          case 0x2d: // - error
          case 0x3a: // : integer
          case 0x5f: // _ null
          case 0x2c: // , double
          case 0x23: // # boolean
          case 0x28: // ( big number
            this.inLine = true;
            pos++;
            continue;
          case DOLLAR: // $ bulk string
          case 0x21: // ! bulk error
          case 0x3d: // = verbatim string
          case STAR: // * array
          case 0x7e: // ~ set
          case PUSH: // > push
          case 0x25: // % map
          case 0x7c: { // | attribute
            const lf = buf.indexOf(LF, pos);
            if (lf < 0 || lf - pos > MAX_LENGTH_LINE) {
              if (lf >= 0 || n - pos > MAX_LENGTH_LINE) throw new FramingError('redis: reply length line too long');
              hold = true;
              break;
            }
            const len = lengthLine(buf, pos + 1, lf);
            if (len === undefined || len < -1) throw new FramingError(`redis: invalid length in a '${String.fromCharCode(t)}' reply`);
            pos = lf + 1;
            if (t === DOLLAR || t === 0x21 || t === 0x3d) {
              if (len === -1) done = this.completeElement();
              else this.bulk = len + 2;
            } else if (len === -1) {
              done = this.completeElement();
            } else {
              const count = t === 0x25 || t === 0x7c ? len * 2 : len;
              if (count > 0) {
                this.depth.push(count);
                this.attr.push(t === 0x7c);
              } else if (t !== 0x7c) {
                done = this.completeElement();
              }
            }
            break;
          }
          default:
            throw new FramingError(`redis: unknown reply type byte ${t}`);
        }
        // An incomplete length line: hold it until more bytes come.
        if (hold) break;
      }
      if (done) {
        out.push(this.reply.piece(buf.subarray(seg, pos), true));
        seg = pos;
        const entry = this.replyEntry;
        this.replyEntry = null;
        if (entry) {
          this.shift();
          if (entry.after === After.ReplyThenRaw) {
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

  /** One element is complete: close the aggregates it completes. True when the whole value is. */
  private completeElement(): boolean {
    const depth = this.depth;
    while (depth.length) {
      const i = depth.length - 1;
      if (--depth[i] > 0) return false;
      depth.pop();
      // An attribute is a prefix: the value it describes is still to come at the same level.
      if (this.attr.pop()) return false;
    }
    return true;
  }

  // ================================================================ bookkeeping

  private push(p: Pending): void {
    this.queue.push(p);
  }

  private peek(): Pending | undefined {
    return this.queue[this.qHead];
  }

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
    // The skipped request is almost always one of the latest: search from the end.
    for (let i = this.queue.length - 1; i >= this.qHead; i--) {
      const p = this.queue[i];
      if (p.ordinal !== ordinal) continue;
      if (p.after === After.Normal) this.queue.splice(i, 1);
      // The server never saw the SUBSCRIBE: no reply will come, but the client side already
      // passes through, so the server side must too once earlier replies are done.
      else p.after = After.RawNow;
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

const ERRORS: Record<string, ErrorKind & { line: string }> = {
  LOADING: {
    description: 'LOADING: the server is loading its dataset (after a restart); clients retry',
    fatal: false,
    line: 'LOADING Redis is loading the dataset in memory',
  },
  ERR: {
    description: 'ERR: a generic command error, naming the command',
    fatal: false,
    line: '',
  },
  READONLY: {
    description: 'READONLY: a write reached a read-only replica (after a failover)',
    fatal: false,
    line: "READONLY You can't write against a read only replica.",
  },
  OOM: {
    description: 'OOM: used memory is over maxmemory and the command would add more',
    fatal: false,
    line: "OOM command not allowed when used memory > 'maxmemory'.",
  },
  BUSY: {
    description: 'BUSY: a long-running Lua script blocks the server',
    fatal: false,
    line: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  },
  MASTERDOWN: {
    description: 'MASTERDOWN: a replica lost its master and serves no stale data',
    fatal: false,
    line: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
  },
  MISCONF: {
    description: 'MISCONF: RDB snapshots fail, so writes are refused',
    fatal: false,
    line:
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. " +
      'Commands that may modify the data set are disabled, because this instance is configured to report ' +
      'errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). ' +
      'Please check the Redis logs for details about the RDB error.',
  },
  NOAUTH: {
    description: 'NOAUTH: the server asks for AUTH (e.g. after a password change)',
    fatal: false,
    line: 'NOAUTH Authentication required.',
  },
  NOSCRIPT: {
    description: 'NOSCRIPT: EVALSHA of a script the server does not know (after a restart); clients fall back to EVAL',
    fatal: false,
    line: 'NOSCRIPT No matching script. Please use EVAL.',
  },
  TRYAGAIN: {
    description: 'TRYAGAIN: cluster slot being resharded, multi-key command must be retried',
    fatal: false,
    line: 'TRYAGAIN Multiple keys request during rehashing of slot',
  },
  CLUSTERDOWN: {
    description: 'CLUSTERDOWN: the cluster is down',
    fatal: false,
    line: 'CLUSTERDOWN The cluster is down',
  },
};

const errorKinds: Record<string, ErrorKind> = Object.fromEntries(
  Object.entries(ERRORS).map(([k, v]) => [k, { description: v.description, fatal: v.fatal }]),
);

/** Each kind's reply when no message is given, made once: a 10 % error mix draws one per ten exchanges. */
const DEFAULT_REPLIES = new Map(Object.entries(ERRORS).filter(([k]) => k !== 'ERR').map(([k, e]) => [k, Buffer.from(`-${e.line}\r\n`, 'utf8')]));

export const redis: Protocol = {
  name: 'redis',
  framesReplies: true,
  errorKinds,
  defaultError: 'LOADING',
  createSession: () => new RedisSession(),
  encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
    const label = ctx.label ?? '';
    // SYNC/PSYNC get no framed reply (noReply): the client expects nothing from us.
    if (SWITCH_NOW.has(label)) return { bytes: EMPTY, close: false };
    const e = ERRORS[kind] ?? ERRORS.LOADING;
    if (ctx.message === undefined && kind !== 'ERR') return { bytes: DEFAULT_REPLIES.get(kind) ?? DEFAULT_REPLIES.get('LOADING')!, close: false };
    const word = kind === 'ERR' ? 'ERR' : e.line.split(' ')[0];
    const line = ctx.message !== undefined ? `${word} ${oneLine(ctx.message)}` : kind === 'ERR' ? `ERR injected error on '${label || '?'}' (marteau-tui)` : e.line;
    return { bytes: Buffer.from(`-${line}\r\n`, 'utf8'), close: false };
  },
};
