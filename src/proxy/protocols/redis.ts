/**
 * Redis (RESP2 and RESP3) framing and errors: the protocol, and a session's request side. The
 * reply side is redis-replies.ts, what an error drawn for a request must follow redis-injected.ts,
 * RESP's bytes redis-resp.ts, the injected errors redis-errors.ts.
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
 *   One answered by an injected error, or by the server's own (an ACL's NOPERM), subscribes
 *   nothing, as on a real redis refusing it: the session goes on framing (switchAt), unless the
 *   client sent more bytes behind it before its reply came, which passed through.
 * - SYNC and PSYNC (a replica's stream) are noReply and the connection passes through at once.
 * - CLIENT REPLY OFF|SKIP silences replies for later commands: that throws a FramingError, so
 *   the engine passes the connection through raw.
 * An injected error on MULTI or a command queued after it makes the block's EXEC a DISCARD
 * answered EXECABORT, as a real redis does after refusing a command while queueing; so does one
 * on the EXEC itself, as a real redis that refuses EXEC (redis-multi.ts); but a script that a real
 * redis queues and stops as EXEC runs it goes to the server as one that fails so, and the client
 * gets its QUEUED, the error in EXEC's reply (redis-errors.ts' failingScript). MULTI, EXEC (its DISCARD),
 * DISCARD, RESET and UNWATCH always reach the server: an error drawn for them replaces its reply
 * (curMustForward). So do SCRIPT KILL and FUNCTION KILL, as themselves or a PING: right after an
 * injected BUSY, they are answered as by the busy server (redis-kill.ts).
 * Garbage (a multi-bulk element that is not a bulk string, a bad length, an unknown reply type,
 * an inline line over 64 KiB, a command name over 1 KiB) throws a FramingError.
 */
import { FramingError, MAX_HEAD_BYTES, type FramerSession, type Protocol } from '../protocol.js';
import { END, Frames, MUST_FORWARD, NO_REPLY, PASS, passAll, START, WHOLE } from '../frames.js';
import { Tail } from './held-bytes.js';
import { encodeError, errorKinds } from './redis-errors.js';
import { refuses } from './redis-refusals.js';
import { SCRIPTS, Spread } from './redis-keys.js';
import { arityFits, COMMAND_FLAGS } from './redis-commands.js';
import { RedisInjected } from './redis-injected.js';
import { TRANSACTION_COMMANDS } from './redis-multi.js';
import { functionsChange } from './redis-functions.js';
import { RedisSeen, scriptsChange } from './redis-scripts-seen.js';
import {
  After,
  CR,
  DOLLAR,
  HEAD_ARG_MAX,
  HEAD_ARGS,
  inlineWords,
  lengthLine,
  lengthLineEnd,
  LF,
  MAX_MULTIBULK,
  STAR,
  SWITCH_AFTER_REPLY,
  SWITCH_NOW,
  type Head,
} from './redis-resp.js';
import { findLF } from './find-lf.js';
import { labelOf } from './label-of.js';

/** A session's request side, on top of its reply side (redis-replies.ts) and what its errors follow (redis-injected.ts). */
class RedisSession extends RedisInjected implements FramerSession {
  // ---- client side
  private readonly cTail = new Tail();
  private readonly cFrames = new Frames();
  /** After SUBSCRIBE/MONITOR/SYNC: requests are no longer framed. */
  private cRaw = false;
  /**
   * The ordinal of a SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or MONITOR that ended its chunk, whose
   * turn says what comes next (-1: none): one answered by an injected error leaves the
   * connection in normal mode, as on a real redis refusing it, so framing (and drawing) goes on
   * (errored), and so does one the server answers with an error (refusedSwitch); one that went
   * subscribes it, and the client's next bytes pass through. Followed by more bytes in its chunk,
   * or by a chunk before its reply came, it cannot wait: those pass through at once.
   */
  private switchAt = -1;
  private argsLeft = 0;
  private bulkLeft = 0;
  private reqStarted = false;
  private curLabel = '';
  private curOrdinal = 0;
  private curNoReply = false;
  /**
   * EXEC and DISCARD end a MULTI on the server: withheld, they would leave it queueing every
   * later command of the connection. A MULTI withheld would have the server run its block's
   * commands one by one: it goes, and its block is aborted (redis-multi.ts). RESET and UNWATCH
   * never fail on a real redis, so a client may take them as done whatever it is told: withheld,
   * the server would keep the MULTI, WATCH, SELECT, subscriptions ... the client thinks gone,
   * where done twice they change nothing. An error drawn for any of them replaces the server's
   * reply.
   */
  private curMustForward = false;
  private curAfter: After = After.Normal;
  private nextOrdinal = 0;
  /** The last command seen with one reply and no effect on the session (not CLIENT, SUBSCRIBE, ...). */
  private ordinaryLabel = '';
  /** lineLength's second answer: where the line's LF is. */
  private lineEnd = 0;
  /** parseHead's answer, reused: nothing keeps it past the request it describes. */
  private readonly head: Head = { end: 0, count: 0, args: [0, 0, 0, 0, 0, 0], argc: 0, argsLeft: 0, bulkLeft: 0 };

  // ================================================================ client -> server

  framesFromClient(chunk: Buffer): Frames {
    // Its turn came and went with no error (or has not come: it is taken as gone).
    if (this.switchAt >= 0) {
      this.switchAt = -1;
      this.cRaw = true;
    }
    return this.cRaw || chunk.length === 0 ? passAll(this.cFrames, chunk) : this.cTail.feed(this, this.frameRequests, chunk);
  }

  private frameRequests(buf: Buffer): Frames {
    const out = this.cFrames;
    out.reset(buf);
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
            out.push(pos, head.end, WHOLE | PASS);
            pos = head.end;
            continue;
          }
          this.beginRequest(buf, pos, head.args, head.argc, head.count);
          pos = head.end;
          this.argsLeft = head.argsLeft;
          this.bulkLeft = head.bulkLeft;
          if (this.argsLeft === 0) {
            this.emitRequest(out, seg, pos, true);
            seg = pos;
            if (this.cRaw || this.switchAt >= 0) break;
          }
        } else {
          const lf = findLF(buf, pos);
          if (lf < 0) {
            if (n - pos > MAX_HEAD_BYTES) throw new FramingError(`redis inline command longer than ${MAX_HEAD_BYTES} bytes`);
            break;
          }
          const words = this.head.args;
          const argc = inlineWords(buf, pos, lf, HEAD_ARGS, words);
          const end = lf + 1;
          if (argc === 0) {
            out.push(pos, end, WHOLE | PASS);
          } else {
            this.beginRequest(buf, pos, words, argc, argc < 2 * HEAD_ARGS ? argc / 2 : -1);
            this.emitRequest(out, pos, end, true);
          }
          pos = end;
          seg = pos;
          if (this.cRaw || this.switchAt >= 0) break;
        }
      } else if (this.bulkLeft > 0) {
        const take = Math.min(this.bulkLeft, n - pos);
        pos += take;
        this.bulkLeft -= take;
        if (this.bulkLeft === 0 && --this.argsLeft === 0) {
          this.emitRequest(out, seg, pos, true);
          seg = pos;
          if (this.cRaw || this.switchAt >= 0) break;
        }
      } else {
        if (buf[pos] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[pos]}`);
        const len = this.bulkLength(buf, pos);
        if (len < 0) break;
        this.bulkLeft = len + 2;
        pos = this.lineEnd + 1;
      }
    }
    if (this.switchAt >= 0 && pos < n) {
      this.switchAt = -1;
      this.cRaw = true;
    }
    if (this.cRaw) {
      if (pos < n) out.push(pos, n, WHOLE | PASS);
      return out;
    }
    if (this.argsLeft > 0 && pos > seg) this.emitRequest(out, seg, pos, false);
    this.cTail.hold(buf, pos);
    return out;
  }

  /**
   * Read `*N` and the first arguments. Null when more bytes are needed (nothing consumed).
   */
  private parseHead(buf: Buffer, start: number): Head | null {
    const n = buf.length;
    const count = this.lineLength(buf, start, 'multi-bulk');
    if (count === null) return null;
    if (count > MAX_MULTIBULK) throw new FramingError('redis: invalid multi-bulk length');
    let p = this.lineEnd + 1;
    const head = this.head;
    const args = head.args;
    let argc = 0;
    head.count = count;
    head.argc = 0;
    if (count <= 0) return this.headEnds(p, 0, 0);
    const want = Math.min(count, HEAD_ARGS) * 2;
    while (argc < want) {
      if (p >= n) return null;
      if (buf[p] !== DOLLAR) throw new FramingError(`redis: expected '$' in a multi-bulk request, got byte ${buf[p]}`);
      const len = this.bulkLength(buf, p);
      if (len < 0) return null;
      const data = this.lineEnd + 1;
      if (len > HEAD_ARG_MAX) {
        if (argc === 0) throw new FramingError(`redis: command name longer than ${HEAD_ARG_MAX} bytes`);
        // A big value: the head ends before it and the value streams.
        head.argc = argc;
        return this.headEnds(data, count - argc / 2, len + 2);
      }
      if (data + len + 2 > n) return null;
      args[argc++] = data;
      args[argc++] = data + len;
      p = data + len + 2;
    }
    head.argc = argc;
    return this.headEnds(p, count - argc / 2, 0);
  }

  /**
   * The number on the length line at `at` (a type byte, digits, CRLF), its LF's offset left in
   * lineEnd; null while the line is not all there. A short one (up to 7 digits, no sign: a
   * pipeline's lines) is read in one pass, where reading it for its LF and again for its digits
   * was a third of a request's framing; any other goes to lengthLineEnd and lengthLine, which
   * refuse garbage (`what` names the line).
   */
  private lineLength(buf: Buffer, at: number, what: string): number | null {
    const stop = Math.min(buf.length, at + 9);
    let i = at + 1;
    let v = 0;
    for (; i < stop; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i > at + 1 && i + 1 < buf.length && buf[i] === CR && buf[i + 1] === LF) {
      this.lineEnd = i + 1;
      return v;
    }
    const lf = lengthLineEnd(buf, at, what);
    if (lf < 0) return null;
    const n = lengthLine(buf, at + 1, lf);
    if (n === undefined) throw new FramingError(`redis: invalid ${what} length`);
    this.lineEnd = lf;
    return n;
  }

  /** A request's `$N` line at `at` (lineLength): its length, -1 while it is not all there. */
  private bulkLength(buf: Buffer, at: number): number {
    const len = this.lineLength(buf, at, 'bulk');
    if (len === null) return -1;
    if (len < 0) throw new FramingError('redis: invalid bulk length in request');
    return len;
  }

  private headEnds(end: number, argsLeft: number, bulkLeft: number): Head {
    const head = this.head;
    head.end = end;
    head.argsLeft = argsLeft;
    head.bulkLeft = bulkLeft;
    return head;
  }

  /**
   * Name the request at `start` from its first `argc / 2` words, decide what its reply looks
   * like, queue it. `count`: its words, all of them (-1: not known).
   */
  private beginRequest(buf: Buffer, start: number, words: readonly number[], argc: number, count: number): void {
    const label = labelOf(buf, words[0], words[1]);
    let after = After.Normal;
    let mustForward = false;
    // A pipeline mostly repeats one command: the last ordinary one needs no more looking at.
    if (label !== this.ordinaryLabel) {
      // Not ordinary: each one's script is noted, for an EVALSHA of it (redis-scripts-seen.ts).
      if (label === 'EVAL' || label === 'EVAL_RO') {
        if (argc >= 4 && buf[start] === STAR) this.scripts.evaluated(buf, words[2], words[3]);
      } else if (SWITCH_AFTER_REPLY.has(label)) after = After.ReplyThenRaw;
      else if (SWITCH_NOW.has(label)) after = After.RawNow;
      else if (TRANSACTION_COMMANDS.has(label)) {
        this.multi.framed(this.nextOrdinal, label);
        mustForward = true;
      } else if (label === 'UNWATCH') mustForward = true;
      else if (label === 'SCRIPT' || label === 'FUNCTION') {
        // Not ordinary: a kill's answer may be the session's (redis-kill.ts).
        const sub = argc >= 4 ? labelOf(buf, words[2], words[3]) : '';
        if (count === 2 && sub === 'KILL') {
          this.kills.framed(this.nextOrdinal, label === 'FUNCTION');
          mustForward = true;
        } else if (!this.multi.collecting) {
          // Its reply says whether the server took it (redis-functions.ts, redis-scripts-seen.ts); one queued in a block is not read.
          const change = this.changeOf(buf.subarray(start), label, sub, count);
          if (change !== undefined) {
            this.functionChanges.set(this.nextOrdinal, change);
            after = After.Functions;
          }
        }
      } else if (label !== 'CLIENT') this.ordinaryLabel = label;
      else if (argc >= 6) {
        const sub = labelOf(buf, words[2], words[3]);
        const mode = labelOf(buf, words[4], words[5]);
        if (sub === 'REPLY' && (mode === 'OFF' || mode === 'SKIP')) {
          throw new FramingError(`redis: CLIENT REPLY ${mode} makes replies stop matching requests`);
        }
      }
    }
    // One unknown to redis 7.0 or of the wrong number of arguments is refused as it is queued, in any state.
    if (this.multi.collecting && !TRANSACTION_COMMANDS.has(label)) {
      const refused = COMMAND_FLAGS[label] === undefined || !arityFits(label, count);
      // A cluster node reads the block's keys as EXEC comes, when this request's bytes are gone; a script's numkeys says how many it names.
      const numkeys = SCRIPTS.has(label) && argc >= 6 ? buf.toString('latin1', words[4], words[5]) : undefined;
      this.multi.queue(this.nextOrdinal, label, refused, refused ? Spread.None : this.multi.keys.note(label, buf, start, count, numkeys));
    }
    const ordinal = this.nextOrdinal++;
    this.curOrdinal = ordinal;
    this.curLabel = label;
    this.curAfter = after;
    this.curNoReply = after === After.RawNow;
    this.curMustForward = mustForward;
    this.reqStarted = false;
    this.pending.push(ordinal, after);
  }

  /** What FUNCTION or SCRIPT `sub` changes in what the proxy saw loaded, once the server takes it. */
  private changeOf(request: Buffer, label: string, sub: string, count: number): (() => void) | undefined {
    if (label === 'FUNCTION') {
      const change = functionsChange(request, sub, count);
      return change && (() => change(this.functions));
    }
    const change = scriptsChange(request, sub, count);
    return change && (() => change(this.scripts));
  }

  private emitRequest(out: Frames, from: number, to: number, end: boolean): void {
    if (this.reqStarted) out.push(from, to, end ? END : 0);
    else out.push(from, to, START | (end ? END : 0) | (this.curNoReply ? NO_REPLY : 0) | (this.curMustForward ? MUST_FORWARD : 0), this.curLabel);
    this.reqStarted = true;
    if (end && this.curAfter === After.RawNow) this.cRaw = true;
    else if (end && this.curAfter === After.ReplyThenRaw) this.switchAt = this.curOrdinal;
  }

  override errored(ordinal: number): void {
    super.errored(ordinal);
    if (ordinal !== this.switchAt) return;
    // Refused, it subscribes nothing: the server never sees it (skipped), and no reply of its comes.
    this.switchAt = -1;
    this.replyNormally(ordinal);
  }

  protected refusedSwitch(ordinal: number): boolean {
    // The client's bytes after it already pass through (taken as subscribed): so must the server's.
    if (ordinal !== this.switchAt) return false;
    this.switchAt = -1;
    return true;
  }

  buffered(): number {
    return this.cTail.length + this.sTail.length;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: this.cTail.take(), server: this.sTail.take() };
  }
}

export const redis: Protocol = {
  name: 'redis',
  framesReplies: true,
  errorKinds,
  defaultError: 'LOADING',
  sessionsShare: () => new RedisSeen(),
  createSession: (shared) => new RedisSession(shared instanceof RedisSeen ? shared : new RedisSeen()),
  encodeError: (kind, ctx) => (ctx.session instanceof RedisSession && ctx.ordinal !== undefined ? ctx.session.errorReply(kind, ctx, ctx.ordinal) : encodeError(kind, ctx)),
  standIn: (request, _whole, session, ordinal, kind, message) => (session instanceof RedisSession ? session.standIn(ordinal, kind, request, message) : undefined),
  refuses: (kind, label, request, session, ordinal, message) =>
    session instanceof RedisSession && ordinal !== undefined ? session.refuses(kind, label, request, ordinal, message) : refuses(kind, label, request, false, undefined, undefined, message),
};
