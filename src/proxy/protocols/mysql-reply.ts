/**
 * Where a MySQL reply ends: a state machine fed the reply's logical packets, one per command
 * kind (OK / ERR, result sets with or without EOF packets and metadata, multi-results, cursors,
 * COM_STMT_PREPARE's definitions, COM_FIELD_LIST, the change-user auth exchange).
 */
import { FramingError } from '../protocol.js';
import {
  COM_CHANGE_USER, COM_FIELD_LIST, COM_PROCESS_INFO, COM_QUERY, COM_STMT_BULK_EXECUTE, COM_STMT_EXECUTE, COM_STMT_FETCH,
  COM_STMT_PREPARE, lenencSize, MAX_PAYLOAD, okStatus, readLenenc, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_CURSOR_EXISTS,
} from './mysql-packets.js';
import { uint16LE } from './length-prefixed.js';

/** What the current reply expects next. */
const enum RS {
  /** A result's first packet: OK, ERR, LOCAL INFILE request, or a column count. */
  First,
  /** Counted definition / EOF packets (see `expect`). */
  Counted,
  /** Rows until an EOF/OK (0xFE) or ERR packet. */
  Rows,
  /** COM_STMT_PREPARE's first packet. */
  Prepare,
  /** COM_FIELD_LIST: column definitions until EOF or ERR. */
  Fields,
  /** COM_CHANGE_USER: auth switch / more data until OK or ERR. */
  Auth,
  /** Any single packet. */
  Single,
}

/** Counted packets: a positive number = that many definitions, EOF_MARK = one EOF packet. */
const EOF_MARK = -1;
const enum After { Rows, End, CursorCheck }

export class MysqlReply {
  private rs = RS.First;
  private expect: number[] = [];
  private after = After.Rows;
  private cursor = false;
  /** CLIENT_DEPRECATE_EOF was negotiated: OK packets (0xFE) stand where EOF packets were. */
  deprecateEof = false;

  /** Inside the rows of a result set, where the session skips packets quickly. */
  get inRows(): boolean {
    return this.rs === RS.Rows;
  }

  /** A reply to command `cmd` starts; `cursor`: a COM_STMT_EXECUTE that asked for a cursor. */
  start(cmd: number, cursor: boolean): void {
    this.cursor = cursor;
    // Left empty by the reply before, most often: a new array per reply, stored into this
    // long-lived object, cost a write barrier's slow path and the young generation's collections.
    if (this.expect.length !== 0) this.expect = [];
    switch (cmd) {
      case COM_QUERY:
      case COM_PROCESS_INFO:
      case COM_STMT_EXECUTE:
      case COM_STMT_BULK_EXECUTE:
        this.rs = RS.First;
        break;
      case COM_STMT_PREPARE:
        this.rs = RS.Prepare;
        break;
      case COM_STMT_FETCH:
        this.rs = RS.Rows;
        break;
      case COM_FIELD_LIST:
        this.rs = RS.Fields;
        break;
      case COM_CHANGE_USER:
        this.rs = RS.Auth;
        break;
      default:
        this.rs = RS.Single;
    }
  }

  /** Feeds one logical packet of a reply; returns true when it is the reply's last. */
  packet(b: Buffer, p: number, len: number, n: number): boolean {
    const first = len > 0 ? b[p] : -1;
    const terminator = first === 0xfe && len < MAX_PAYLOAD;
    // MariaDB progress report (an ERR-shaped packet with code 0xFFFF): the reply goes on.
    if (first === 0xff && n >= 3 && uint16LE(b, p + 1) === 0xffff) return false;
    switch (this.rs) {
      case RS.Single:
        return true;
      case RS.Auth:
        return first === 0x00 || first === 0xff;
      case RS.Fields:
        return terminator || first === 0xff;
      case RS.Prepare: {
        if (first === 0xff) return true;
        if (first !== 0x00 || n < 9) throw new FramingError('mysql: unexpected COM_STMT_PREPARE reply');
        const cols = uint16LE(b, p + 5);
        const params = uint16LE(b, p + 7);
        const metadata = n > 12 ? b[p + 12] !== 0 : true;
        if (metadata) {
          if (params) this.expect.push(params, ...(this.deprecateEof ? [] : [EOF_MARK]));
          if (cols) this.expect.push(cols, ...(this.deprecateEof ? [] : [EOF_MARK]));
        }
        if (!this.expect.length) return true;
        this.rs = RS.Counted;
        this.after = After.End;
        return false;
      }
      case RS.First: {
        if (first === 0xff) return true;
        if (first === 0x00 || first === 0xfe) {
          const status = first === 0xfe && !this.deprecateEof ? (n >= 5 ? uint16LE(b, p + 3) : 0) : okStatus(b, p, n);
          return !(status & SERVER_MORE_RESULTS_EXISTS);
        }
        if (first === 0xfb) return false; // LOCAL INFILE: the client sends the file, then an OK/ERR follows
        if (first < 0) throw new FramingError('mysql: empty reply packet');
        // A result set: column count, optionally followed by a "metadata follows" byte.
        const size = lenencSize(first);
        if (size > n) throw new FramingError('mysql: bad column count');
        const cols = readLenenc(b, p);
        if (cols === 0) throw new FramingError('mysql: bad column count');
        const metadata = len > size ? b[p + size] !== 0 : true;
        if (metadata) this.expect.push(cols);
        if (!this.deprecateEof) this.expect.push(EOF_MARK);
        this.after = this.cursor ? After.CursorCheck : After.Rows;
        this.rs = this.expect.length ? RS.Counted : RS.Rows;
        return false;
      }
      case RS.Counted: {
        const top = this.expect[0];
        if (top === EOF_MARK) {
          if (!terminator) throw new FramingError('mysql: expected an EOF packet after definitions');
          this.expect.shift();
          if (!this.expect.length && this.after === After.CursorCheck) {
            const status = n >= 5 ? uint16LE(b, p + 3) : 0;
            if (status & SERVER_STATUS_CURSOR_EXISTS) return true;
          }
        } else {
          if (first === 0xff && this.after === After.End) return true;
          if (top > 1) this.expect[0] = top - 1;
          else this.expect.shift();
        }
        if (this.expect.length) return false;
        if (this.after === After.End) return true;
        this.rs = RS.Rows;
        return false;
      }
      case RS.Rows: {
        if (first === 0xff) return true;
        if (!terminator) return false;
        const status = this.deprecateEof ? okStatus(b, p, n) : (n >= 5 ? uint16LE(b, p + 3) : 0);
        if (status & SERVER_MORE_RESULTS_EXISTS) {
          this.rs = RS.First;
          return false;
        }
        return true;
      }
    }
  }
}
