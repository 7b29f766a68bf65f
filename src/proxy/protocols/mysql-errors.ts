/**
 * MySQL/MariaDB errors the proxy injects: each kind's ERR packet (code, SQLSTATE, the server's own
 * message), and whether the server closes the connection after it.
 */
import { CannedReplies, type ErrorReply, type ErrorReplyContext } from '../protocol.js';

export const MYSQL_ERRORS: Record<string, { code: number; state: string; message: string; fatal: boolean; description: string }> = {
  '1205': { code: 1205, state: 'HY000', message: 'Lock wait timeout exceeded; try restarting transaction', fatal: false,
    description: 'ER_LOCK_WAIT_TIMEOUT (HY000): lock wait timeout on a statement naming a table (not SELECT 1, DO 1, SET, SHOW), the connection stays usable' },
  '1213': { code: 1213, state: '40001', message: 'Deadlock found when trying to get lock; try restarting transaction', fatal: false,
    description: 'ER_LOCK_DEADLOCK (40001): deadlock on a statement naming a table (not SELECT 1, DO 1, SET, SHOW), the transaction was rolled back' },
  '1317': { code: 1317, state: '70100', message: 'Query execution was interrupted', fatal: false,
    description: 'ER_QUERY_INTERRUPTED (70100): a statement (not a SET, a ROLLBACK, nor a DO naming no table) was killed' },
  '1290': { code: 1290, state: 'HY000', message: 'The MariaDB server is running with the --read-only option so it cannot execute this statement', fatal: false,
    description: 'ER_OPTION_PREVENTS_STATEMENT (HY000): read-only server, as during a failover: writes only' },
  '1040': { code: 1040, state: '08004', message: 'Too many connections', fatal: true,
    description: 'ER_CON_COUNT_ERROR: too many connections, in place of the server\'s greeting (TLS clients too), drawn per connection, then it is closed' },
  '1053': { code: 1053, state: '08S01', message: 'Server shutdown in progress', fatal: true,
    description: 'ER_SERVER_SHUTDOWN (08S01): server shutting down, on any command, then the connection is closed' },
};

/**
 * An ERR packet: 0xFF, error code, '#', SQLSTATE, message; without `state`, none (what a server
 * sends before it knows the client's capabilities).
 */
export function mysqlErrPacket(seq: number, code: number, state: string | undefined, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const head = state === undefined ? 3 : 9;
  const payloadLen = head + msg.length;
  const b = Buffer.allocUnsafe(4 + payloadLen);
  b.writeUIntLE(payloadLen, 0, 3);
  b[3] = seq & 0xff;
  b[4] = 0xff;
  b.writeUInt16LE(code, 5);
  if (state !== undefined) {
    b[7] = 0x23; // '#'
    b.write(state.padEnd(5, '0').slice(0, 5), 8, 'latin1');
  }
  msg.copy(b, 4 + head);
  return b;
}

/** The ERR packet answering `ctx.request` with `kind` (1205 for a kind not known here). */
export function encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
  const e = MYSQL_ERRORS[kind] ?? MYSQL_ERRORS['1205'];
  // The reply follows the request's numbering: request sequence id + 1.
  const seq = ctx.request.length >= 4 ? ctx.request[3] + 1 : 1;
  if (ctx.message !== undefined) return { bytes: mysqlErrPacket(seq, e.code, e.state, ctx.message), close: e.fatal };
  // Canned: made once per kind and sequence id (nearly always 1, a command's first reply).
  const key = `${kind in MYSQL_ERRORS ? kind : '1205'} ${seq & 0xff}`;
  return CANNED.get(key) ?? CANNED.keep(key, { bytes: mysqlErrPacket(seq, e.code, e.state, e.message), close: e.fatal });
}

const CANNED = new CannedReplies();

/**
 * What MariaDB sends in place of its greeting when more than max_connections (and the one more
 * it keeps for an administrator) are connected, checked on 10.11: an ERR numbered 0, without
 * SQLSTATE (no client capabilities are known yet), then the end of the connection. Clients
 * report 1040 (SQLSTATE HY000); one that would have gone on to TLS gets it too.
 */
export function connectError(kind: string): Buffer | undefined {
  return kind === '1040' ? TOO_MANY_AT_GREETING : undefined;
}

const TOO_MANY_AT_GREETING = mysqlErrPacket(0, 1040, undefined, MYSQL_ERRORS['1040'].message);
