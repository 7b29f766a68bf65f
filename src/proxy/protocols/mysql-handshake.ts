/**
 * The MySQL connection phase as the framer reads it: the capabilities the server's greeting
 * offers and the client's handshake response asks for, which shape the command phase (EOF
 * packets, query attributes, TLS or compression turning the connection opaque).
 *
 * The handshake response is the login: framed as a request (LOGIN_LABEL) whose reply is the
 * server's next packet (its OK, its ERR, or an auth switch, the rest of the exchange then
 * passthrough), so that a fault can meet a connection as it logs in (a blackout, a hang). A
 * server refusing connections (1040) does so before, in place of its greeting (mysql-errors.ts):
 * a client going on to TLS logs in inside it, where the proxy reads nothing.
 */
import { FramingError } from '../protocol.js';
import {
  CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS, CLIENT_PROTOCOL_41, CLIENT_QUERY_ATTRIBUTES, CLIENT_SSL, CLIENT_ZSTD_COMPRESSION,
  lenencSize, readLenenc,
} from './mysql-packets.js';

/** The label of a connection's login, the client's handshake response. */
export const LOGIN_LABEL = 'HandshakeResponse';

export class MysqlHandshake {
  private serverCaps = 0xffffffff;
  private clientCaps = 0;
  /** The client's handshake response (or SSL request) has been read. */
  responded = false;
  /** The database the login names, if it does and it was read (latin1, as statements are read). */
  database: string | undefined;

  /** Both sides speak CLIENT_QUERY_ATTRIBUTES: every COM_QUERY starts with their header. */
  queryAttributes(): boolean {
    return (this.clientCaps & this.serverCaps & CLIENT_QUERY_ATTRIBUTES) !== 0;
  }

  /** A COM_QUERY may hold several statements. */
  multiStatements(): boolean {
    return (this.clientCaps & this.serverCaps & CLIENT_MULTI_STATEMENTS) !== 0;
  }

  deprecateEof(): boolean {
    return (this.clientCaps & this.serverCaps & CLIENT_DEPRECATE_EOF) !== 0;
  }

  /** The command phase is compressed: opaque to the framer. */
  compressed(): boolean {
    return (this.clientCaps & this.serverCaps & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION)) !== 0;
  }

  /** The server's greeting: payload bytes [p, p + n) (a peek of it). */
  greeting(b: Buffer, p: number, n: number): void {
    if (n < 1 || b[p] !== 10) return; // an ERR greeting, or an old protocol: keep defaults
    const nul = b.indexOf(0, p + 1);
    if (nul < 0 || nul >= p + n) return;
    let off = nul + 1 + 4 + 8 + 1;
    if (off + 2 > p + n) return;
    let caps = b.readUInt16LE(off);
    off += 2 + 1 + 2;
    if (off + 2 <= p + n) caps |= b.readUInt16LE(off) << 16;
    this.serverCaps = caps >>> 0;
  }

  /**
   * The client's first packet, of `len` payload bytes at `p` (`n` of them there): 'ssl' for an
   * SSL request (TLS follows, the rest of the connection opaque), else 'login'.
   */
  response(b: Buffer, p: number, len: number, n: number): 'ssl' | 'login' {
    this.responded = true;
    const caps = len >= 4 ? b.readUInt32LE(p) : len >= 2 ? b.readUInt16LE(p) : 0;
    if (!(caps & CLIENT_PROTOCOL_41)) throw new FramingError('mysql: pre-4.1 client protocol is not supported');
    this.clientCaps = caps;
    if (len === 32 && caps & CLIENT_SSL) return 'ssl';
    if (caps & CLIENT_CONNECT_WITH_DB) this.database = databaseOf(b, p, p + n, caps);
    return 'login';
  }
}

const CLIENT_CONNECT_WITH_DB = 0x8, CLIENT_SECURE_CONNECTION = 0x8000, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000;

/**
 * The database a handshake response (payload bytes [p, end) of `b`, `caps` its capabilities)
 * names after its user and auth data, or undefined if it is not all there.
 */
function databaseOf(b: Buffer, p: number, end: number, caps: number): string | undefined {
  const user = b.indexOf(0, p + 32);
  if (user < 0 || user >= end) return undefined;
  let at = user + 1;
  if (at >= end) return undefined;
  if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    const size = lenencSize(b[at]);
    if (at + size > end) return undefined;
    at += size + readLenenc(b, at);
  } else if (caps & CLIENT_SECURE_CONNECTION) {
    at += 1 + b[at];
  } else {
    const nul = b.indexOf(0, at);
    if (nul < 0 || nul >= end) return undefined;
    at = nul + 1;
  }
  const nul = b.indexOf(0, at);
  return at < end && nul >= 0 && nul < end ? b.toString('latin1', at, nul) : undefined;
}
