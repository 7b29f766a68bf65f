/**
 * A MySQL session's exchanges in flight: the requests waiting for their replies, oldest first
 * (the server answers in order), each with its command and the sequence id its reply's next
 * packet must carry; the statements the client prepared (mysql-refusals.ts' PreparedStatements)
 * and what its SQL left that 1290 reads (mysql-session-sql.ts); and what an injected error
 * changes in them (a request withheld, one sent as a stand-in). The framing session (mysql.ts)
 * builds on it, queueing requests as it reads them.
 */
import { FramingError, MAX_HEAD_BYTES, type ErrorReply } from '../protocol.js';
import { Fifo } from '../fifo.js';
import { uint24LE } from './length-prefixed.js';
import {
  COM_CHANGE_USER, COM_INIT_DB, COM_QUERY, COM_RESET_CONNECTION, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE, MYSQL_COMMANDS,
} from './mysql-packets.js';
import { KEEPS_TEMPORARY, PreparedStatements } from './mysql-refusals.js';
import { firstWrite, MYSQL_RUN, type SqlState } from './mysql-read-only.js';
import { SessionSql, type SqlChange } from './mysql-session-sql.js';
import { ownReply, type PrefixReply } from './mysql-commit-results.js';
import { runsStatements, writeStandIn, type Prefix } from './mysql-commit.js';

/** Pending.cmd of the login, answered by one packet. */
export const LOGIN = -1;

/** Spare Pendings a session keeps: a pipeline's depth of them, more are left to the GC. */
const MAX_SPARES = 64;

export interface Pending {
  ordinal: number;
  cmd: number;
  /** The sequence id the next server packet must carry. */
  nextSeq: number;
  /** COM_STMT_EXECUTE asked for a cursor. */
  cursor: boolean;
  /** A stand-in's second command, whose reply follows the first's in the same exchange (mysql-commit.ts). */
  then?: number;
  /** COM_STMT_PREPARE: what its statement does (READS_ONLY, LOCKS_NOTHING: mysql-refusals.ts). */
  as: number;
  /** COM_STMT_PREPARE: the tables its statement writes, when it writes only tables it names. */
  tables: readonly string[] | undefined;
  /** What it does to the connection's SQL state (mysql-session-sql.ts), counted as its reply comes. */
  sql: SqlChange | undefined;
  /**
   * A stand-in that runs statements of the client's before its ROLLBACK or DO 0: the injected
   * reply, until the reply's last packet comes (mysql-commit-results.ts). Cleared then, so a
   * Pending renewed has none.
   */
  prefix: PrefixReply | undefined;
}

function newPending(): Pending {
  return { ordinal: 0, cmd: 0, nextSeq: 1, cursor: false, then: undefined, as: 0, tables: undefined, sql: undefined, prefix: undefined };
}

export abstract class MysqlExchanges {
  private ordinal = 0;
  protected readonly fifo = new Fifo<Pending>();
  /**
   * Pendings whose reply ended, renewed for the next requests: a new one per request, stored
   * into the long-lived queue, cost V8 a write barrier each and the young generation's
   * collections (a sixth of the proxy's instructions per reply on a MySQL pipeline).
   */
  private readonly spares: Pending[] = [];
  /** The request whose packets the client is sending (for >16 MiB requests). */
  protected current: Pending | null = null;
  protected readonly prepared = new PreparedStatements();
  protected readonly sql = new SessionSql();
  /** Requests whose injected error became the server's own (mysql-commit-results.ts), made with the first. */
  protected withdrawn: Set<number> | undefined;

  /** COM_QUERY starts with CLIENT_QUERY_ATTRIBUTES' header. */
  abstract queryAttributes(): boolean;
  /** A COM_QUERY may hold several statements. */
  protected abstract multiStatements(): boolean;

  preparedAs(id: number): number {
    return this.prepared.preparedAs(id);
  }

  preparedTables(id: number): readonly string[] | undefined {
    return this.prepared.preparedTables(id);
  }

  /**
   * What the connection's SQL left (a copy), the names a request in flight may prepare not known
   * yet: a PREPARE sent and not answered, then EXECUTE of its name, is not taken for one of a
   * name never prepared.
   */
  sqlState(): SqlState {
    const state = this.sql.snapshot();
    for (let i = 0; i < this.fifo.length; i++) {
      const p = this.fifo.at(i)!;
      if (p.sql !== undefined && (p.sql.named.length > 0 || p.sql.namedUnknown)) state.namedUnknown = true;
    }
    return state;
  }

  /** The client's handshake response, numbered `seq`, is sent: the login, answered by the server's next packet. */
  protected loginSent(seq: number): void {
    const login = newPending();
    login.ordinal = this.ordinal++;
    login.cmd = LOGIN;
    login.nextSeq = (seq + 1) & 0xff;
    this.fifo.push(login);
    this.current = login;
  }

  /** Command `cmd`, its payload `len` bytes at `p` in `b` (what is there of it), is sent; `noReply`: none comes. */
  protected commandSent(cmd: number, b: Buffer, p: number, len: number, noReply: boolean): void {
    const ordinal = this.ordinal++;
    this.current = null;
    let as = 0;
    let tables: readonly string[] | undefined;
    let sql: SqlChange | undefined;
    const end = p + Math.min(len, MAX_HEAD_BYTES);
    if (cmd === COM_QUERY) {
      sql = this.sql.sentQuery(b, this.queryText(b, p, end), end, len <= MAX_HEAD_BYTES, this.multiStatements(), MYSQL_RUN);
    } else if (cmd === COM_STMT_PREPARE) {
      as = this.prepared.sent(b, p + 1, end, len <= MAX_HEAD_BYTES);
      tables = this.prepared.lastTablesSent();
    } else if (cmd === COM_STMT_EXECUTE) {
      // Only once the connection has a temporary table or an SQL prepared statement (one that may
      // drop them), or while a routine's PREPARE would be news.
      if ((this.sql.holdsAny() || this.sql.namesKnown()) && len >= 5 && !(this.prepared.preparedAs(b.readUInt32LE(p + 1)) & KEEPS_TEMPORARY)) sql = this.sql.mayDrop();
    } else if (cmd === COM_STMT_CLOSE && len >= 5) {
      this.prepared.closed(b.readUInt32LE(p + 1));
    } else if (cmd === COM_INIT_DB) {
      sql = this.sql.databaseSent(b, p + 1, end);
    } else if (cmd === COM_RESET_CONNECTION || cmd === COM_CHANGE_USER) {
      this.prepared.reset();
      this.sql.clear();
    }
    if (!noReply) {
      const cursor = (cmd === COM_STMT_EXECUTE) && len > 5 && (b[p + 5] & 0x07) !== 0;
      const req = this.spares.pop() ?? newPending();
      req.ordinal = ordinal;
      req.cmd = cmd;
      req.nextSeq = 1;
      req.cursor = cursor;
      req.then = undefined;
      req.as = as;
      req.tables = tables;
      req.sql = sql;
      this.fifo.push(req);
      this.current = req;
    }
  }

  /**
   * Where the SQL text of the COM_QUERY whose payload is at `p` starts (past the command byte,
   * and CLIENT_QUERY_ATTRIBUTES' header when it holds none), or undefined if not known here.
   */
  private queryText(b: Buffer, p: number, end: number): number | undefined {
    if (!this.queryAttributes()) return p + 1;
    return p + 3 <= end && b[p + 1] === 0 && b[p + 2] === 1 ? p + 3 : undefined;
  }

  skipped(ordinal: number): void {
    // A loop, not findIndex: no closure made per injected error.
    for (let i = 0; i < this.fifo.length; i++) {
      const p = this.fifo.at(i)!;
      if (p.ordinal !== ordinal) continue;
      this.fifo.delete(p);
      if (this.current?.ordinal === ordinal) this.current = null;
      return;
    }
  }

  /**
   * A request sent as a stand-in (a COM_QUERY ROLLBACK) is answered as one: a prepare's reply
   * would be read for the definitions a prepare OK announces, which the ROLLBACK's OK has not.
   * A stand-in of two commands (a ROLLBACK, then a failing prepare) has its two replies read as
   * the exchange's one.
   */
  errored(ordinal: number, standIn?: Buffer): void {
    if (standIn === undefined) return;
    const first = 4 + uint24LE(standIn, 0);
    for (let i = 0; i < this.fifo.length; i++) {
      const p = this.fifo.at(i)!;
      if (p.ordinal !== ordinal) continue;
      p.cmd = standIn[4];
      p.cursor = false;
      // The client's statements a stand-in runs do to the session what they do (a temporary
      // table made before a COMMIT or a write), counted as its reply comes (prefixEnded).
      p.sql = runsStatements(standIn) ? this.sql.sentQuery(standIn, this.queryText(standIn, 4, first), first, true, true, MYSQL_RUN) : undefined;
      if (first + 4 < standIn.length) p.then = standIn[first + 4];
    }
  }

  /**
   * What the server is sent in place of a COM_QUERY (`request`, whole) drawn 1290 whose first
   * write follows statements of its own, on a connection running several a query: those
   * statements, then DO 0 (mysql-commit.ts' writeStandIn). Undefined for any other.
   */
  readOnlyStandIn(request: Buffer): Buffer | undefined {
    if (!this.multiStatements() || request[4] !== COM_QUERY || request.length !== 4 + uint24LE(request, 0)) return undefined;
    const sql = this.queryText(request, 4, request.length);
    if (sql === undefined) return undefined;
    const at = firstWrite(request, sql, request.length, MYSQL_RUN, this.sqlState());
    return at > sql ? writeStandIn(request, at) : undefined;
  }

  /**
   * Request `ordinal`, drawn `reply`, goes as a COMMIT's stand-in that runs statements of the
   * client's before its ROLLBACK: the reply the client gets, its own (mysql-commit-results.ts).
   */
  prefixed(ordinal: number, reply: ErrorReply, standIn: Buffer, prefix: Prefix): ErrorReply {
    for (let i = 0; i < this.fifo.length; i++) {
      const p = this.fifo.at(i)!;
      if (p.ordinal === ordinal) return (p.prefix = ownReply(reply, standIn, prefix));
    }
    return reply;
  }

  /**
   * The reply to `head`, sent as a stand-in that runs statements of the client's, ended: with
   * the server's own ERR when `failed` (one of them failed, the injected error withdrawn).
   */
  protected prefixEnded(head: Pending, failed: boolean): void {
    if (failed) (this.withdrawn ??= new Set()).add(head.ordinal);
    if (head.sql !== undefined) this.sql.replied(head.sql, failed);
    head.prefix = undefined;
    this.replyEnded(head);
  }

  /** The oldest request's reply ended: out of the queue, its Pending kept for a later request (newPending). */
  protected replyEnded(head: Pending): void {
    this.fifo.shift();
    if (this.current === head) this.current = null;
    if (this.spares.length < MAX_SPARES) this.spares.push(head);
  }

  /** A reply packet numbered `seq` came: it must follow the oldest request's numbering. */
  protected checkSeq(seq: number): void {
    const head = this.fifo.first();
    if (!head) return;
    if (seq !== head.nextSeq) {
      throw new FramingError(`mysql: reply packet sequence id ${seq}, expected ${head.nextSeq} (${MYSQL_COMMANDS[head.cmd] ?? head.cmd})`);
    }
    head.nextSeq = (seq + 1) & 0xff;
  }
}
