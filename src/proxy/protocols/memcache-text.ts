/**
 * memcached's text protocol framed (classic and meta commands): a text connection's session
 * (memcache.ts picks it by the connection's first byte).
 *
 * Requests are a command line (up to LF; memcached strips a CR before it) and, for storage
 * commands (set add replace append prepend cas) and meta set (ms), a data block of <bytes> + 2
 * bytes. The framer reads command lines the way memcached 1.6 does, so that it agrees with the
 * server on where the next command starts:
 * - words are separated by spaces only; a storage line whose word count is wrong, whose key is
 *   over 250 bytes or whose numbers memcached does not read has no data block (memcached answers
 *   with an error and reads the next line as a command; so do we). It reads them as glibc's
 *   strtoul and strtol do ("+5" and "-0" are numbers, a size is cut to 32 bits: storeSize);
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
 * Meta commands with the `q` flag (mg, ms, md, ma) are answered only when they hit or fail
 * (memcache-meta.ts): clients send a batch of them closed by `mn`, whose MN says that those still
 * unanswered got none. A reply is matched to the oldest quiet request waiting by its shape (its
 * code and the flags it answers) and the opaque (O) and key (k) it echoes, an error line by what
 * each may be refused for; one it does not match got no reply, and its exchange ends with an
 * empty reply frame there. A command without q whose reply could be a quiet one's (an mg v behind
 * an mg v q, neither with O or k: both hits "VA <size>") is told apart by the command sent right
 * behind it when that one's replies read otherwise (an mn, a get, an ms: tells()): its reply
 * comes next exactly when the reply in doubt was the twin's (twins, memcache-meta.ts). With
 * nothing sent behind it, a reply after the one in doubt, in the same bytes, tells too: the
 * twin's, so the one in doubt was the quiet one's (memcached sends a pair's replies at once). An error
 * injected behind quiet requests still waiting is sent to the server as an `mn` (standIn), whose
 * MN it replaces: the error goes in its turn.
 *
 * Not framed, honestly:
 * - a command starting with byte 0x80 (the binary protocol's) on a text connection throws a
 *   FramingError, so the engine passes the connection through raw;
 * - a command without `q` sent while quiet ones wait whose replies it cannot be told from (an
 *   error line both may get: a set it takes behind an ms q, both out of memory when memcached
 *   is, an incr it takes behind an ma q on a string; a shape both may answer with, when the
 *   command behind it does not tell) throws a FramingError: which of them a reply is for would
 *   be a guess, and a wrong one would shift every reply after. With nothing after them, the
 *   reply in doubt of an mg v q and an mg v throws when nothing follows it yet (the quiet one
 *   missed, or its hit came alone: a client waiting for the reply sends nothing more, and only
 *   time would say), as does mg's refcount overflow for an mg q and an mg without q, and an
 *   error line after a reply in doubt that the command telling may get too;
 * - `watch` is a request whose reply is its OK line; after it the connection passes through (a
 *   log stream follows).
 * When it is the client's side that stops (those FramingErrors, a line over max_buffer), the
 * replies owed to the requests before are still framed (stopRequests, memcache-session.ts).
 */
import { REQUEST_MAGIC } from './memcache-binary.js';
import { isTerminator, parseCommand, Reply, sizeWord, startsWith, type Command } from './memcache-lines.js';
import { answersQuiet, confusable, inDoubt, tellersLine, tells, twinOf, type QuietMeta } from './memcache-meta.js';
import { END, type Frames, NO_REPLY, PASS, passAll, START, WHOLE } from '../frames.js';
import { findLF } from './find-lf.js';
import { MemcacheSessionBase } from './memcache-session.js';
import { FramingError, MAX_HEAD_BYTES } from '../protocol.js';

const LF = 0x0a;
const CR = 0x0d;

export class TextSession extends MemcacheSessionBase<Reply, QuietMeta> {
  // ---- client side
  private cRaw = false;
  /** Bytes left of the current request's data block, CRLF included. */
  private dataLeft = 0;
  private reqStarted = false;
  private cur: Command | null = null;
  /** The last command framed that gets a reply without q: quiet ones ahead of it are told by it. */
  private lastLoud = -1;
  /** A command without q whose twins wait for the next command to be an mn (QuietMeta.twin), or -1. */
  private twinAt = -1;

  // ---- server side
  private replyKind: Reply = Reply.Line;
  private sDataLeft = 0;

  constructor() {
    // A stand-in (`mn`) gets one line.
    super(Reply.Line, Reply.Quiet);
  }

  // ================================================================ client -> server

  framesFromClient(chunk: Buffer): Frames {
    return this.cRaw || chunk.length === 0 ? passAll(this.cFrames, chunk) : this.cTail.feed(this, this.frameRequests, chunk);
  }

  private frameRequests(buf: Buffer): Frames {
    const out = this.cFrames;
    out.reset(buf);
    // A data block's end framed here is returned with the chunk, or not at all: its request with it.
    this.chunkFrom = this.dataLeft > 0 ? this.nextOrdinal - 1 : this.nextOrdinal;
    const n = buf.length;
    let pos = 0;
    let seg = 0;
    while (pos < n) {
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, n - pos);
        pos += take;
        this.dataLeft -= take;
        if (this.dataLeft === 0) {
          this.emit(out, seg, pos, true);
          seg = pos;
        }
        continue;
      }
      seg = pos;
      if (buf[pos] === REQUEST_MAGIC) throw new FramingError('memcache: binary bytes on a text connection');
      const lf = findLF(buf, pos);
      if (lf < 0) {
        if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`memcache command line longer than ${MAX_HEAD_BYTES} bytes`);
        break;
      }
      const lineEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
      const cmd = parseCommand(buf, pos, lineEnd);
      const ordinal = this.nextOrdinal++;
      if (this.twinAt >= 0) this.tell(cmd);
      if (cmd.quiet && cmd.meta !== undefined) {
        this.quiet.push({ ordinal, label: cmd.label, meta: cmd.meta });
        this.pending.push(ordinal, Reply.Quiet);
      } else if (!cmd.noReply) {
        this.mustTell(cmd, ordinal);
        this.lastLoud = ordinal;
        this.pending.push(ordinal, cmd.reply);
      }
      this.cur = cmd;
      this.reqStarted = false;
      pos = lf + 1;
      if (cmd.data >= 0) {
        this.dataLeft = cmd.data + 2;
        continue;
      }
      this.emit(out, seg, pos, true);
      seg = pos;
      if (cmd.reply === Reply.LineThenRaw) {
        this.cRaw = true;
        if (pos < n) out.push(pos, n, WHOLE | PASS);
        return out;
      }
    }
    if (this.dataLeft > 0 && pos > seg) this.emit(out, seg, pos, false);
    this.cTail.hold(buf, pos);
    return out;
  }

  /** `cmd` (`ordinal`) gets a reply without q: one the quiet ones sent since the last such command may get too. */
  private mustTell(cmd: Command, ordinal: number): void {
    if (this.quiet.oldest === undefined) return;
    for (const q of this.quiet.waiting()) {
      // Its reply, if any, comes before that command's.
      if (q.ordinal < this.lastLoud) continue;
      const why = confusable(cmd, q);
      if (why !== undefined) throw new FramingError(`memcache: ${cmd.label} after ${q.label} ... q: ${why}; not framed`);
      const twin = twinOf(cmd, q);
      if (twin === undefined) continue;
      q.twin = { ordinal, shape: twin.shape, codes: twin.codes };
      this.twinAt = ordinal;
    }
  }

  /** `cmd` comes right behind the twins' command (twinAt): it may tell them apart (tells()); if not, a shape in doubt is not framed. */
  private tell(cmd: Command): void {
    const at = this.twinAt;
    this.twinAt = -1;
    for (const q of this.quiet.waiting()) {
      if (q.twin?.ordinal !== at) continue;
      q.twin.told = tells(cmd, q.twin.codes);
      if (q.twin.told === undefined && q.twin.shape) throw new FramingError(`memcache: ${q.label} ... q and the command without q behind it may answer alike, and the ${cmd.label} behind them cannot tell which; not framed`);
    }
  }

  private emit(out: Frames, from: number, to: number, end: boolean): void {
    const last = end ? END : 0;
    if (this.reqStarted || !this.cur) {
      out.push(from, to, (this.reqStarted ? 0 : START) | last);
      return;
    }
    out.push(from, to, START | last | (this.cur.noReply ? NO_REPLY : 0), this.cur.label);
    this.reqStarted = true;
  }

  // ================================================================ server -> client

  framesFromServer(chunk: Buffer): Frames {
    return this.sRaw || chunk.length === 0 ? passAll(this.sFrames, chunk) : this.sTail.feed(this, this.frameReplies, chunk);
  }

  private frameReplies(buf: Buffer): Frames {
    const out = this.sFrames;
    out.reset(buf);
    const n = buf.length;
    let pos = 0;
    let seg = 0;
    while (pos < n) {
      if (!this.reply.active) {
        if (this.pending.waiting && this.pending.headTag === Reply.Quiet && !this.unanswered(out, buf, pos, n)) break;
        this.replyKind = this.beginReply(Reply.Line);
        seg = pos;
      }
      let done = false;
      if (this.sDataLeft > 0) {
        const take = Math.min(this.sDataLeft, n - pos);
        pos += take;
        this.sDataLeft -= take;
        if (this.sDataLeft === 0 && this.replyKind !== Reply.Multi) done = true;
      } else {
        const lf = findLF(buf, pos);
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
        out.push(seg, pos, this.reply.flags(true));
        seg = pos;
        if (this.owned) {
          this.owned = false;
          if (this.replyKind === Reply.Quiet) this.quiet.shift();
          this.pending.shift();
          if (this.replyKind === Reply.LineThenRaw) {
            this.passRest(out, pos, n);
            return out;
          }
          if (this.stopped && this.passesOn(out, pos, n)) return out;
        }
      }
    }
    if (this.reply.active && pos > seg) out.push(seg, pos, this.reply.flags(false));
    this.sTail.hold(buf, pos);
    return out;
  }

  /**
   * A reply starts at `pos`: the quiet requests ahead of the one it answers got none. Each ends
   * with an empty reply, there. False when the reply's first line is not all in `buf` (up to `n`).
   */
  private unanswered(out: Frames, buf: Buffer, pos: number, n: number): boolean {
    const lf = findLF(buf, pos);
    if (lf < 0) {
      if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`memcache reply line longer than ${MAX_HEAD_BYTES} bytes`);
      return false;
    }
    const e = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    while (this.pending.waiting && this.pending.headTag === Reply.Quiet) {
      const q = this.quiet.oldest!;
      if (answersQuiet(buf, pos, e, q)) {
        if (!inDoubt(buf, pos, e, q)) break;
        const twins = this.twinsReply(q, buf, pos, lf, e, n);
        if (twins === undefined) return false;
        if (!twins) break;
      }
      this.unansweredQuiet(out, pos);
    }
    return true;
  }

  /**
   * Whether the reply at `pos` (its first line ending at `e`, its LF at `lf`), which `q` may get,
   * is q's twin's (QuietMeta.twin): the command that tells, sent behind the twin, answers next.
   * With none sent behind the twin, any byte after the reply is the twin's reply: the reply was
   * q's. Undefined when what tells is not all in `buf` yet.
   */
  private twinsReply(q: QuietMeta, buf: Buffer, pos: number, lf: number, e: number, n: number): boolean | undefined {
    const twin = q.twin!;
    const next = startsWith(buf, pos, e, 'VA ') ? lf + 1 + sizeWord(buf, pos, e, 1) + 2 : lf + 1;
    if (twin.told === undefined) return this.followed(q, twin.ordinal, next, n);
    const nl = next < n ? findLF(buf, next) : -1;
    if (nl < 0) {
      if (n - next > MAX_HEAD_BYTES) throw new FramingError(`memcache reply line longer than ${MAX_HEAD_BYTES} bytes`);
      return undefined;
    }
    const ne = nl > next && buf[nl - 1] === CR ? nl - 1 : nl;
    const theirs = tellersLine(buf, next, ne, twin);
    if (theirs === undefined) throw new FramingError(`memcache: an error line after a reply in doubt may be the ${q.label} without q's or the command's behind it; not framed`);
    return theirs;
  }

  /**
   * No command that tells was framed behind `q`'s twin (request `twin`). When none at all was (a
   * client waiting for the twin's reply sends none), the server was sent nothing after it: a
   * reply after the one in doubt, ending at `next`, is the twin's, and the one in doubt q's
   * (memcached 1.6.18 sends a pair's replies in one write: 'VA 1', 'VA 1' or 'VA 1', 'EN' when
   * q hit). Nothing after it is q's miss, or a hit whose twin's reply is on its way, which only
   * time would tell: not framed. Both happen, byte for byte alike: memcached answers what one read
   * brought, so a pair in two writes may get q's hit alone, the twin's reply in a write of its own
   * (checked on 1.6.18: 'mg k q v', then 'mg k v' at once: 'VA 1', then 'VA 1' apart; 'mg m q v'
   * of a miss, 'mg k v' in one write: 'VA 1' alone). Only the server could say which, asked
   * behind the twin (an mn the proxy would send and keep the MN of): a request the proxy adds,
   * which no framer does. Undefined while the reply in doubt is not all in `buf` (up to
   * `n`). Not so once the client's side stopped: the bytes it passed through went behind the twin.
   */
  private followed(q: QuietMeta, twin: number, next: number, n: number): boolean | undefined {
    const alone = !this.stopped && this.nextOrdinal === twin + 1;
    if (alone && next < n) return false;
    if (alone && next > n) return undefined;
    throw new FramingError(`memcache: a reply may be ${q.label} ... q's or the command's without q behind it, and neither a command behind them nor a reply after it tells which; not framed`);
  }

  // ================================================================ bookkeeping

  /** The client's side stopped behind `last` (stopRequests): a twin behind it passed through, its reply unframed. */
  protected override stoppedAt(last: number): void {
    for (const q of this.quiet.waiting()) if (q.twin !== undefined && q.twin.ordinal > last) q.twin = undefined;
    this.cRaw = true;
  }

  // A skipped `watch` (skipped()) never reached the server: no OK and no log stream will come.
  // The client side passes through already, so replies to later commands find no request
  // waiting and pass through too.

  override skipped(ordinal: number): void {
    this.untwin(ordinal);
    super.skipped(ordinal);
  }

  override errored(ordinal: number, standIn?: Buffer): void {
    if (standIn !== undefined) this.untwin(ordinal);
    super.errored(ordinal, standIn);
  }

  /** Request `ordinal` goes as an `mn`, or not at all: no reply of a quiet one may be taken for its. */
  private untwin(ordinal: number): void {
    if (this.twinAt === ordinal) this.twinAt = -1;
    for (const q of this.quiet.waiting()) if (q.twin?.ordinal === ordinal) q.twin = undefined;
  }

  /**
   * An `mn` to go in the place of `request` (`ordinal`) when quiet requests ahead of it wait:
   * the error drawn for it then waits for the MN, which says what became of them.
   */
  standIn(request: Buffer, ordinal: number): Buffer | undefined {
    const oldest = this.quiet.oldest;
    if (oldest === undefined || oldest.ordinal >= ordinal) return undefined;
    const lf = request.indexOf(LF);
    const end = lf < 0 ? request.length : lf > 0 && request[lf - 1] === CR ? lf - 1 : lf;
    // A noreply request or quit gets nothing back: an MN would be nobody's.
    return parseCommand(request, 0, end).noReply ? undefined : MN;
  }
}

const MN = Buffer.from('mn\r\n', 'latin1');
