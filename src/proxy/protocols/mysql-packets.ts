/**
 * MySQL wire vocabulary the framer reads: command bytes, capability and status flags, and the
 * length-encoded integers and OK-packet status that delimit replies.
 */
import { uint16LE } from './length-prefixed.js';

/** Commands by first payload byte. */
export const MYSQL_COMMANDS: Readonly<Record<number, string>> = {
  0x00: 'COM_SLEEP', 0x01: 'COM_QUIT', 0x02: 'COM_INIT_DB', 0x03: 'COM_QUERY', 0x04: 'COM_FIELD_LIST',
  0x05: 'COM_CREATE_DB', 0x06: 'COM_DROP_DB', 0x07: 'COM_REFRESH', 0x08: 'COM_SHUTDOWN',
  0x09: 'COM_STATISTICS', 0x0a: 'COM_PROCESS_INFO', 0x0b: 'COM_CONNECT', 0x0c: 'COM_PROCESS_KILL',
  0x0d: 'COM_DEBUG', 0x0e: 'COM_PING', 0x0f: 'COM_TIME', 0x10: 'COM_DELAYED_INSERT',
  0x11: 'COM_CHANGE_USER', 0x12: 'COM_BINLOG_DUMP', 0x13: 'COM_TABLE_DUMP', 0x14: 'COM_CONNECT_OUT',
  0x15: 'COM_REGISTER_SLAVE', 0x16: 'COM_STMT_PREPARE', 0x17: 'COM_STMT_EXECUTE',
  0x18: 'COM_STMT_SEND_LONG_DATA', 0x19: 'COM_STMT_CLOSE', 0x1a: 'COM_STMT_RESET',
  0x1b: 'COM_SET_OPTION', 0x1c: 'COM_STMT_FETCH', 0x1d: 'COM_DAEMON', 0x1e: 'COM_BINLOG_DUMP_GTID',
  0x1f: 'COM_RESET_CONNECTION', 0x20: 'COM_CLONE', 0xfa: 'COM_STMT_BULK_EXECUTE', 0xfe: 'COM_MULTI',
};

const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_PROCESS_INFO = 0x0a;
export const COM_CHANGE_USER = 0x11;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
const COM_STMT_SEND_LONG_DATA = 0x18;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_FETCH = 0x1c;
export const COM_RESET_CONNECTION = 0x1f;
export const COM_STMT_BULK_EXECUTE = 0xfa;
/** Commands after which the server streams something this framer does not delimit. */
export const UNSUPPORTED = new Set([0x12, 0x1e, 0x20, 0x21, 0xfe]);
export const NO_REPLY = new Set([COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA]);

// Capability flags.
export const CLIENT_COMPRESS = 0x20;
export const CLIENT_PROTOCOL_41 = 0x200;
export const CLIENT_SSL = 0x800;
export const CLIENT_MULTI_STATEMENTS = 0x10000;
export const CLIENT_DEPRECATE_EOF = 0x01000000;
export const CLIENT_ZSTD_COMPRESSION = 0x04000000;
export const CLIENT_QUERY_ATTRIBUTES = 0x08000000;
// Server status flags.
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;

export const MAX_PAYLOAD = 0xffffff;

/** Bytes used by a length-encoded integer starting with `first`. */
export function lenencSize(first: number): number {
  if (first < 0xfb) return 1;
  if (first === 0xfc) return 3;
  if (first === 0xfd) return 4;
  if (first === 0xfe) return 9;
  return 1;
}

export function readLenenc(b: Buffer, off: number): number {
  const f = b[off];
  if (f < 0xfb) return f;
  if (f === 0xfc) return b.readUInt16LE(off + 1);
  if (f === 0xfd) return b.readUIntLE(off + 1, 3);
  if (f === 0xfe) return Number(b.readBigUInt64LE(off + 1));
  return 0;
}

/** Status flags of an OK packet (header 0x00 or 0xFE) whose payload starts at `p`, `n` bytes seen. */
export function okStatus(b: Buffer, p: number, n: number): number {
  let off = 1;
  if (off >= n) return 0;
  off += lenencSize(b[p + off]);
  if (off >= n) return 0;
  off += lenencSize(b[p + off]);
  if (off + 2 > n) return 0;
  return uint16LE(b, p + off);
}
