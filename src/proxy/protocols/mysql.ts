/**
 * MySQL / MariaDB client-server protocol.
 *
 * Every message is made of packets: a 3-byte little-endian payload length, a 1-byte sequence id,
 * the payload. A payload of exactly 0xFFFFFF bytes continues in the next packet (large rows,
 * queries over 16 MiB).
 *
 * - Handshake (server greeting, auth switch / more data, until the server's OK or ERR) is
 *   passthrough, but for the client's handshake response, the login: a request (LOGIN_LABEL)
 *   answered by the server's next packet (mysql-handshake.ts). An SSL request from the client,
 *   or a negotiated compression, turns the rest of the connection into opaque passthrough.
 * - Command phase: a client packet with sequence id 0 starts a request (labelled COM_QUERY,
 *   COM_STMT_EXECUTE, ...). COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no reply.
 *   Other client packets (LOCAL INFILE contents, COM_CHANGE_USER auth data) are passthrough.
 * - Replies are framed (`framesReplies: true`) with a per-command state machine: OK / ERR /
 *   LOCAL INFILE / text and binary result sets (with or without CLIENT_DEPRECATE_EOF, optional
 *   metadata, multi-results through SERVER_MORE_RESULTS_EXISTS, cursors), COM_STMT_PREPARE's
 *   definitions, COM_FIELD_LIST, the change-user auth exchange, and one-packet replies for the
 *   rest. Sequence ids are checked along the way: a reply that does not follow its request's
 *   numbering is a FramingError (the engine then passes the connection through raw), so a
 *   desynchronised framer never attributes replies to the wrong request silently. The reply
 *   state machine is in mysql-reply.ts, the requests waiting for replies in mysql-exchanges.ts,
 *   the wire constants and readers in mysql-packets.ts.
 *   Replication (COM_BINLOG_DUMP*), COM_CLONE and COM_MULTI are FramingErrors for the same reason.
 *
 * Payload bytes are streamed: a framer holds at most one packet header plus a short peek
 * (the whole head of a request, up to MAX_HEAD_BYTES) and never copies rows.
 */
import { emit, endMessage, LengthPrefixedFeeder, PASS_META, uint24LE, type StartMeta } from './length-prefixed.js';
import type { Frames } from '../frames.js';
import { FramingError, MAX_HEAD_BYTES } from '../protocol.js';
import type { ErrorFate, ErrorReply, FramerSession, Protocol, Segment } from '../protocol.js';
import { connectError, encodeError, MYSQL_ERRORS } from './mysql-errors.js';
import { COM_STMT_PREPARE, MAX_PAYLOAD, MYSQL_COMMANDS, NO_REPLY, UNSUPPORTED } from './mysql-packets.js';
import { LOGIN_LABEL, MysqlHandshake } from './mysql-handshake.js';
import { MysqlReply } from './mysql-reply.js';
import { commitStandIn, deadlockStandIn, prepareStandIn, runsStatements } from './mysql-commit.js';
import { lastPacket } from './mysql-commit-results.js';
import { refuses, type MysqlRequests } from './mysql-refusals.js';
import { LOGIN, MysqlExchanges, type Pending } from './mysql-exchanges.js';
import { isPrivilegeProbe, privilegeProbe, PrivilegeProbes, PROBE_PEEK } from './mysql-privilege.js';

export { MYSQL_ERRORS } from './mysql-errors.js';

/** How much of a reply packet's payload the framer looks at (an OK packet's status fits). */
const REPLY_PEEK = 32;
const GREETING_PEEK = 1024;
/** The login's user, auth data and database fit (its database qualifies temporary tables' names: mysql-session-sql.ts). */
const HANDSHAKE_RESPONSE_PEEK = 512;

const enum Phase { Greeting, Auth, Command }
const LOGIN_META: StartMeta = Object.freeze({ label: LOGIN_LABEL }), REPLY_META: StartMeta = Object.freeze({});

/** Per-direction scanning state. */
interface Dir {
  /** Bytes received but not yet emitted (always from a packet boundary). */
  held: Buffer | null;
  /** Payload bytes of the current physical packet still to stream. */
  remain: number;
  /** The next physical packet continues the current logical packet. */
  cont: boolean;
  /** Inside a message. */
  inMsg: boolean;
  /** The current message ends with the current logical packet. */
  endAfter: boolean;
  /** Meta for the next segment if it starts a message. */
  startMeta: StartMeta | null;
  /** Passthrough message (for segments after the first). */
  pass: boolean;
}

function newDir(): Dir {
  return { held: null, remain: 0, cont: false, inMsg: false, endAfter: false, startMeta: null, pass: false };
}

/** A command's meta, one frozen object per command byte (made on first use), not one per request. */
const COMMAND_META: (StartMeta | undefined)[] = [];

/** A session's packets and phases, on top of its exchanges in flight (mysql-exchanges.ts). */
class MysqlSession extends MysqlExchanges implements FramerSession, MysqlRequests {
  private phase = Phase.Greeting;
  /** Opaque passthrough (TLS, compression) for the rest of the connection. */
  private raw = false;
  private rawAfterMessage = false;
  private readonly handshake = new MysqlHandshake();

  queryAttributes(): boolean {
    return this.handshake.queryAttributes();
  }

  protected multiStatements(): boolean {
    return this.handshake.multiStatements();
  }

  private readonly c: Dir = newDir();
  private readonly s: Dir = newDir();
  private readonly feeder = new LengthPrefixedFeeder<Dir>('mysql', {
    need: (d, held, client) => this.wanted(d, held, client),
    scan: (d, b, client, out) => this.scan(d, b, client, out),
    isRaw: () => this.raw,
  }, this.c, this.s);

  /** Where the reply to fifo[0] ends. */
  private readonly reply = new MysqlReply();
  /** Requests sent as a privilege probe (mysql-privilege.ts), made with the first. */
  private probes: PrivilegeProbes | undefined;
  /** The request whose stand-in running statements of the client's has its reply coming, packet by packet (prefixPacket). */
  private prefixHead: Pending | null = null;

  /** Request `ordinal`, drawn `reply`, goes as a privilege probe: the reply the client gets. */
  probing(ordinal: number, reply: ErrorReply): ErrorReply {
    return (this.probes ??= new PrivilegeProbes()).probing(ordinal, reply);
  }

  errorFate(ordinal: number): ErrorFate {
    if (this.withdrawn !== undefined && this.withdrawn.delete(ordinal)) return 'withdrawn';
    return this.probes?.fate(ordinal) ?? 'given';
  }

  fromClient(chunk: Buffer): Segment[] {
    return this.feeder.feed(this.c, chunk, true);
  }

  fromServer(chunk: Buffer): Segment[] {
    return this.feeder.feed(this.s, chunk, false);
  }

  framesFromClient(chunk: Buffer): Frames {
    return this.feeder.frames(this.c, chunk, true);
  }

  framesFromServer(chunk: Buffer): Frames {
    return this.feeder.frames(this.s, chunk, false);
  }

  buffered(): number {
    return this.feeder.buffered();
  }

  drain(): { client: Buffer; server: Buffer } {
    return this.feeder.drain();
  }

  /** Bytes needed from the start of `held` (a packet boundary) before it can be classified. */
  private wanted(d: Dir, held: Buffer, client: boolean): number {
    if (held.length < 4) return 4;
    const len = uint24LE(held, 0);
    if (d.cont) return 4;
    return 4 + Math.min(len, this.peekLen(client));
  }

  private peekLen(client: boolean): number {
    if (client) return this.phase === Phase.Command ? MAX_HEAD_BYTES : HANDSHAKE_RESPONSE_PEEK;
    if (this.phase === Phase.Greeting) return GREETING_PEEK;
    // A privilege probe's answer, and an error ending a COMMIT stand-in's (prefixPacket), are read
    // whole: the server's own, they may be the client's.
    return this.probes?.waiting() || this.fifo.first()?.prefix !== undefined ? PROBE_PEEK : REPLY_PEEK;
  }

  private scan(d: Dir, buf: Buffer, client: boolean, out: Frames): void {
    // pos and segStart stay plain locals, no closure over them made per chunk (as in postgres.ts).
    let pos = 0;
    let segStart = 0;

    for (;;) {
      if (d.remain > 0) {
        if (pos >= buf.length) break;
        const n = Math.min(d.remain, buf.length - pos);
        pos += n;
        d.remain -= n;
        if (d.remain > 0) break;
        segStart = this.packetDone(d, out, segStart, pos);
        continue;
      }
      if (pos >= buf.length) break;
      if (this.raw && !d.inMsg) {
        d.startMeta = PASS_META;
        emit(out, d, pos, buf.length, true);
        return;
      }
      if (!client && d.inMsg && !d.cont && this.reply.inRows) {
        // Fast path through the rows of a result set: only a packet starting with 0xFE or 0xFF
        // (end of rows, error, progress), an empty or a 16 MiB packet needs a closer look.
        const head = this.fifo.first()!;
        let seq = head.nextSeq;
        while (pos + 5 <= buf.length) {
          const len = uint24LE(buf, pos);
          const first = buf[pos + 4];
          if (len === 0 || len === MAX_PAYLOAD || first >= 0xfe || buf[pos + 3] !== seq) break;
          seq = (seq + 1) & 0xff;
          const end = pos + 4 + len;
          if (end > buf.length) {
            d.remain = end - buf.length;
            pos = buf.length;
            break;
          }
          pos = end;
        }
        head.nextSeq = seq;
        if (d.remain > 0 || pos >= buf.length) continue;
      }
      const avail = buf.length - pos;
      if (avail < 4) break;
      const len = uint24LE(buf, pos);
      const seq = buf[pos + 3];
      if (d.cont) {
        this.continuation(client, seq);
      } else {
        // A packet all there shows what peekLen asks to see.
        if (avail < 4 + len && avail < 4 + Math.min(len, this.peekLen(client))) break;
        if (client) this.clientPacket(d, buf, pos, len, seq);
        else this.serverPacket(d, buf, pos, len, seq);
      }
      d.cont = len === MAX_PAYLOAD;
      pos += 4;
      // The body at once, as far as the chunk holds it (most packets are whole in it).
      const n = Math.min(len, buf.length - pos);
      pos += n;
      d.remain = len - n;
      if (d.remain === 0) segStart = this.packetDone(d, out, segStart, pos);
    }
    // Bytes of a message in progress go on; an incomplete header or peek is held.
    if (d.inMsg) emit(out, d, segStart, pos, false);
    if (pos < buf.length) d.held = Buffer.from(buf.subarray(pos));
  }

  /** A packet ended at `pos`: its message's last frame, when it ends the exchange. The next frame's start. */
  private packetDone(d: Dir, out: Frames, segStart: number, pos: number): number {
    if (d.cont || !d.endAfter) return segStart;
    if (this.rawAfterMessage) this.raw = true;
    return endMessage(out, d, segStart, pos);
  }

  /** A continuation packet of a >16 MiB logical packet. */
  private continuation(client: boolean, seq: number): void {
    if (client) {
      if (this.current) this.current.nextSeq = (seq + 1) & 0xff;
      else if (this.phase === Phase.Command && this.fifo.length) this.fifo.first()!.nextSeq = (seq + 1) & 0xff;
    } else if (this.phase === Phase.Command && this.s.inMsg && (!this.s.pass || this.prefixHead !== null)) {
      this.checkSeq(seq);
    }
  }

  private startMessage(d: Dir, meta: StartMeta, endAfter: boolean): void {
    d.inMsg = true;
    d.startMeta = meta;
    d.pass = meta.passthrough === true;
    d.endAfter = endAfter;
  }

  private clientPacket(d: Dir, b: Buffer, pos: number, len: number, seq: number): void {
    const p = pos + 4;
    if (this.phase !== Phase.Command) {
      if (!this.handshake.responded && this.phase === Phase.Auth) {
        if (this.handshake.response(b, p, len, Math.min(len, HANDSHAKE_RESPONSE_PEEK)) === 'ssl') {
          this.rawAfterMessage = true;
        } else {
          this.sql.loggedIn(this.handshake.database);
          this.loginSent(seq);
          this.startMessage(d, LOGIN_META, true);
          return;
        }
      }
      // SSL request, auth data: passthrough.
      this.startMessage(d, PASS_META, true);
      return;
    }
    if (seq !== 0) {
      // LOCAL INFILE contents, COM_CHANGE_USER auth data: part of the exchange in progress.
      if (this.fifo.length) this.fifo.first()!.nextSeq = (seq + 1) & 0xff;
      this.current = null;
      this.startMessage(d, PASS_META, true);
      return;
    }
    if (len === 0) throw new FramingError('mysql: empty command packet');
    const cmd = b[p];
    // A command seen before has its meta: the Set lookups below were a hash probe each per request.
    let meta = COMMAND_META[cmd];
    if (meta === undefined) {
      if (UNSUPPORTED.has(cmd)) {
        throw new FramingError(`mysql: ${MYSQL_COMMANDS[cmd]} (replication / clone stream) is not framed`);
      }
      const label = MYSQL_COMMANDS[cmd] ?? `COM_0x${cmd.toString(16).padStart(2, '0')}`;
      meta = COMMAND_META[cmd] = Object.freeze(NO_REPLY.has(cmd) ? { label, noReply: true } : { label });
    }
    this.commandSent(cmd, b, p, len, meta.noReply === true);
    this.startMessage(d, meta, true);
  }

  private serverPacket(d: Dir, b: Buffer, pos: number, len: number, seq: number): void {
    const p = pos + 4;
    const n = Math.min(len, REPLY_PEEK);
    if (this.phase === Phase.Greeting) {
      this.handshake.greeting(b, p, Math.min(len, GREETING_PEEK));
      this.phase = Phase.Auth;
      this.startMessage(d, PASS_META, true);
      return;
    }
    if (this.phase === Phase.Auth) {
      if (len > 0 && b[p] === 0x00) {
        // The server's OK: the command phase starts after it.
        this.phase = Phase.Command;
        this.reply.deprecateEof = this.handshake.deprecateEof();
        if (this.handshake.compressed()) this.rawAfterMessage = true;
      }
      if (this.fifo.first()?.cmd !== LOGIN) {
        this.startMessage(d, PASS_META, true);
        return;
      }
      // The login's reply: this one packet, whatever it says.
      this.checkSeq(seq);
      this.fifo.shift();
      this.startMessage(d, REPLY_META, true);
      return;
    }
    if (!d.inMsg) {
      const head = this.fifo.first();
      if (!head) {
        // Nothing is waiting for a reply: an unsolicited packet (e.g. an ERR before a close).
        this.startMessage(d, PASS_META, true);
        return;
      }
      if (head.prefix !== undefined) return this.prefixPacket(d, head, b, p, len, seq);
      this.reply.start(head.cmd, head.cursor);
      if (this.probes !== undefined) this.probes.replied(head.ordinal, b, p, len, Math.min(len, b.length - p));
      // A prepare's OK: 0x00, then the statement id.
      if (head.cmd === COM_STMT_PREPARE && len >= 5 && b[p] === 0x00) this.prepared.prepared(b.readUInt32LE(p + 1), head.as, head.tables);
      this.startMessage(d, REPLY_META, false);
    }
    this.checkSeq(seq);
    if (!this.reply.packet(b, p, len, n)) return;
    const head = this.fifo.first()!;
    if (head.then !== undefined) {
      // The stand-in's second command: its reply, numbered from 1 again, ends the exchange.
      head.cmd = head.then;
      head.then = undefined;
      head.nextSeq = 1;
      this.reply.start(head.cmd, false);
      return;
    }
    d.endAfter = true;
    if (head.sql !== undefined) this.sql.replied(head.sql, len > 0 && b[p] === 0xff);
    this.replyEnded(head);
  }

  /**
   * A packet of the reply to a COMMIT's stand-in that runs statements of the client's before its
   * ROLLBACK: a message of its own that passes, the client's, but for the reply's last, which the
   * injected error replaces or the server's ERR becomes (mysql-commit-results.ts). Their results
   * are held by the connection until the error goes.
   */
  private prefixPacket(d: Dir, head: Pending, b: Buffer, p: number, len: number, seq: number): void {
    if (this.prefixHead !== head) {
      this.prefixHead = head;
      this.reply.start(head.cmd, false);
    }
    this.checkSeq(seq);
    if (!this.reply.packet(b, p, len, Math.min(len, REPLY_PEEK))) {
      // Numbered as the reply: continuation packets are checked as its (continuation).
      this.startMessage(d, PASS_META, true);
      return;
    }
    this.prefixHead = null;
    this.startMessage(d, REPLY_META, true);
    this.prefixEnded(head, lastPacket(head.prefix!, b, p, len, Math.min(len, b.length - p), seq));
  }
}

export const mysql: Protocol = {
  name: 'mysql',
  framesReplies: true,
  errorKinds: Object.fromEntries(
    Object.entries(MYSQL_ERRORS).map(([k, v]) => [k, { description: v.description, fatal: v.fatal }]),
  ),
  defaultError: '1205',
  createSession: () => new MysqlSession(),
  standIn(request, whole, session, _ordinal, kind) {
    if (request.length < 5 || request[3] !== 0) return undefined; // the login (numbered from 1): withheld
    const attributes = session instanceof MysqlSession && session.queryAttributes();
    // 1290 meets a query's write, never its COMMIT, which a read-only server serves (mysql-commit.ts).
    return prepareStandIn(request, kind === '1213', attributes) ?? (whole && kind !== '1290' ? commitStandIn(request) : undefined)
      ?? (kind === '1213' ? deadlockStandIn(request, attributes) : undefined)
      ?? (kind === '1290' && whole && session instanceof MysqlSession ? privilegeProbe(request, attributes) ?? session.readOnlyStandIn(request) : undefined);
  },
  encodeError(kind, ctx) {
    const reply = encodeError(kind, ctx);
    const { session, standIn, ordinal } = ctx;
    if (standIn === undefined || ordinal === undefined || !(session instanceof MysqlSession)) return reply;
    const prefix = runsStatements(standIn);
    if (prefix !== undefined) return session.prefixed(ordinal, reply, standIn, prefix);
    return isPrivilegeProbe(standIn) ? session.probing(ordinal, reply) : reply;
  },
  refuses: (kind, _label, request, session) => refuses(kind, request, session instanceof MysqlSession ? session : undefined),
  connectError,
};
