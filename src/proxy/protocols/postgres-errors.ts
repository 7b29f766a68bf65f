/**
 * The errors the Postgres proxy can inject: the server's own ErrorResponse for a SQLSTATE that a
 * real client meets (an admin shutdown, a statement timeout, a serialization failure, ...), FATAL
 * ones closing the connection, the others followed by ReadyForQuery as the server sends it.
 */
import { CannedReplies, type ErrorKind, type ErrorReply } from '../protocol.js';

const E = 0x45; // 'E', ErrorResponse
const Z = 0x5a; // 'Z', ReadyForQuery
const NOTHING = Buffer.alloc(0);
const IDLE = 0x49; // 'I'
const FAILED = 0x45; // 'E': in a failed transaction block

/**
 * `asItRuns`: the kind comes only as a statement runs, never to a request that runs nothing
 * (Parse, Bind, Describe, Close up to its Sync: postgres.js's describe(), libpq's PQprepare),
 * which reads the catalogs only (checked on PostgreSQL 15: a Parse of an INSERT in a READ ONLY
 * block is described, its Execute refused 25006; of an UPDATE in a REPEATABLE READ block after
 * another's update of the row, described, its Execute refused 40001). The others can: FATAL ones
 * at any time (an admin shutdown ends an idle connection too), a statement timeout and a deadlock
 * while a Parse (or a Bind that plans again) waits for a lock another holds (a LOCK TABLE
 * elsewhere: 57014 at the Parse, 40P01 in a block).
 *
 * `lockWait`: of those, the kind comes to a request that runs nothing only as one of its
 * messages waits for a lock, so not at a Sync once its Parse was answered in an earlier read:
 * the locks it took are held up to its Sync (checked on PostgreSQL 15: another session's LOCK
 * TABLE times out until then), and only a later message that takes more waits (a Parse, a Bind
 * of another statement: postgres-later.ts, Meets). A statement timeout still can: it counts
 * from a request's first message to its Sync.
 *
 * `atStartup`: the kind comes only as a connection starts up, in answer to its StartupMessage,
 * never to a request of an open connection, which passes untouched (Protocol.refuses); no other
 * kind meets a StartupMessage. PostgreSQL 15 with every slot of max_connections taken answers a
 * StartupMessage (after the 'N' to an SSLRequest) with a FATAL 53300 from InitProcess, before
 * any authentication, and closes; the connections in are served. So does one in a smart shutdown
 * (pg_ctl stop -m smart, a connection held open) with a FATAL 57P03 'the database system is
 * shutting down' from ProcessStartupPacket; a server starting up or in recovery gives the same
 * code ('is starting up', 'is not yet accepting connections': the error behavior's `message`
 * gives those). 57P01 comes to a connection in, as a fast shutdown ends it.
 */
export const POSTGRES_ERRORS: Record<string, { severity: 'ERROR' | 'FATAL'; message: string; description: string; asItRuns?: true; lockWait?: true; atStartup?: true }> = {
  '57P01': { severity: 'FATAL', message: 'terminating connection due to administrator command',
    description: 'admin_shutdown (FATAL): the server is shutting down, then the connection is closed' },
  '53300': { severity: 'FATAL', message: 'sorry, too many clients already',
    description: 'too_many_connections (FATAL): a new connection is refused as it starts up, then closed; those in are served', atStartup: true },
  '57P03': { severity: 'FATAL', message: 'the database system is shutting down',
    description: 'cannot_connect_now (FATAL): a new connection is refused as it starts up while the server shuts down (a failover, a restart), then closed; those in are served', atStartup: true },
  '08006': { severity: 'FATAL', message: 'connection failure',
    description: 'connection_failure (FATAL), then the connection is closed' },
  '57014': { severity: 'ERROR', message: 'canceling statement due to statement timeout',
    description: 'query_canceled (ERROR): statement timeout or cancel, the session goes on' },
  // As rows are read or written, or at COMMIT.
  '40001': { severity: 'ERROR', message: 'could not serialize access due to concurrent update',
    description: 'serialization_failure (ERROR): retry the transaction', asItRuns: true },
  '40P01': { severity: 'ERROR', message: 'deadlock detected',
    description: 'deadlock_detected (ERROR): retry the transaction', lockWait: true },
  // As a relation or a temporary file grows.
  '53100': { severity: 'ERROR', message: 'could not extend file: No space left on device',
    description: 'disk_full (ERROR)', asItRuns: true },
  // As the executor starts a write, or a utility statement that writes runs.
  '25006': { severity: 'ERROR', message: 'cannot execute statement in a read-only transaction',
    description: 'read_only_sql_transaction (ERROR): a standby after a failover', asItRuns: true },
};

/** An ErrorResponse ('E') with severity, SQLSTATE and message fields. */
export function pgErrorResponse(severity: string, code: string, message: string, detail?: string): Buffer {
  const fields: [string, string][] = [['S', severity], ['V', severity], ['C', code], ['M', message]];
  if (detail) fields.push(['D', detail]);
  const parts = fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8'));
  const bodyLen = parts.reduce((n, p) => n + p.length, 0) + 1;
  const head = Buffer.allocUnsafe(5);
  head[0] = E;
  head.writeInt32BE(4 + bodyLen, 1);
  return Buffer.concat([head, ...parts, Buffer.from([0])]);
}

/** Messages of no body, one of each type byte of `types` (ParseComplete '1', BindComplete '2', CloseComplete '3'). */
export function completions(types: string): Buffer {
  const out = Buffer.alloc(5 * types.length);
  for (let i = 0; i < types.length; i++) {
    out[5 * i] = types.charCodeAt(i);
    out[5 * i + 4] = 4;
  }
  return out;
}

/** A ReadyForQuery's bytes: its type, length and status. */
export const READY_FOR_QUERY_LENGTH = 6;

export function pgReadyForQuery(status: number): Buffer {
  return Buffer.from([Z, 0, 0, 0, 5, status]);
}

export const errorKinds: Record<string, ErrorKind> = Object.fromEntries(
  Object.entries(POSTGRES_ERRORS).map(([k, v]) => [k, { description: v.description, fatal: v.severity === 'FATAL' }]),
);

/** An injected ErrorResponse: the kind's canned text, or `message`. */
function errorResponse(code: string, message?: string): Buffer {
  const e = POSTGRES_ERRORS[code];
  return pgErrorResponse(e.severity, code, message ?? e.message, 'injected by the marteau-tui chaos proxy');
}

/**
 * Non-fatal errors with their canned text, by code and transaction status, made once (the
 * connection only reads them) rather than from five buffers and two concats per injected error.
 */
const CANNED = new CannedReplies();

/**
 * The ErrorResponse for `kind` (its canned text, or `message`); a non-fatal one is followed by
 * ReadyForQuery with the transaction status it leaves, which it also sets on `session`.
 * `ended`: the transaction was ended (a failed COMMIT, the server sent ROLLBACK in its place).
 * `before`: the completions of the request's messages that run before the error, as their type
 * bytes (postgres-aborted.ts: a CloseComplete '3' for each Close it begins with, a BindComplete
 * '2' when a Bind follows them), sent ahead of a non-fatal one.
 * `ready`: the request's Sync has come, so the ReadyForQuery goes with the error; without it, the
 * server would send its ReadyForQuery only once the Sync comes (the session passes that Sync on).
 *
 * A statement fails as it runs, after its Bind (checked on PostgreSQL 15: a statement prepared
 * before, sent as Bind, Execute, Sync, that fails at execution gets BindComplete, ErrorResponse,
 * ReadyForQuery). An error with no BindComplete reads as the Bind's own, as when the statement
 * changed under the client: postgres.js then describes the statement again, one more exchange
 * (which may draw an error of its own) before it reports the first error, so the client saw one
 * failed query where the proxy counted two. A request that begins with a Parse gets the
 * server's own replies to what comes before its Execute, then the error (postgres-aborted.ts,
 * ranFirst). One that runs nothing in its first read gets the server's replies to that read,
 * then the error once its Execute has come (ranLater, postgres-later.ts).
 */
export function encodeError(kind: string, message: string | undefined, session?: { txStatus: number }, ended?: boolean, before = '', ready = true): ErrorReply {
  const code = kind in POSTGRES_ERRORS ? kind : '57P01';
  const e = POSTGRES_ERRORS[code];
  if (e.severity === 'FATAL') return { bytes: errorResponse(code, message), close: true };
  // A failed statement inside a transaction block leaves it failed ('E'); outside one, idle ('I').
  const last = ended ? IDLE : session?.txStatus ?? IDLE;
  const status = last === IDLE ? IDLE : FAILED;
  if (session) session.txStatus = status;
  const head = before === '' ? NOTHING : completions(before);
  const tail = ready ? pgReadyForQuery(status) : NOTHING;
  if (message !== undefined) return { bytes: Buffer.concat([head, errorResponse(code, message), tail]), close: false };
  const key = `${code}/${ready ? status : '-'}/${before}`;
  return CANNED.get(key) ?? CANNED.keep(key, { bytes: Buffer.concat([head, errorResponse(code), tail]), close: false });
}
