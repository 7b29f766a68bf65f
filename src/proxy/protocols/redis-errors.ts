/**
 * The errors the redis proxy can inject: redis-server's own error lines, each kind a reason a
 * real client meets (a restart, a failover, maxmemory), encoded as a RESP error reply. Which
 * commands each kind meets: redis-refusals.ts.
 */
import { oneLine, type ErrorKind, type ErrorReply, type ErrorReplyContext } from '../protocol.js';
import { downLine, downScriptRefused } from './redis-cluster-down.js';
import { EMPTY, SWITCH_NOW } from './redis-resp.js';
import { queuedScriptFailure, SCRIPT_KINDS, scriptRefused, staleScriptRefused } from './redis-scripts.js';
import type { ScriptsSeen } from './redis-scripts-seen.js';
import type { FunctionsSeen } from './redis-functions.js';

const ERRORS: Record<string, ErrorKind & { line: string }> = {
  LOADING: {
    description: 'LOADING: the server is loading its dataset (after a restart): what it serves meanwhile (HELLO, AUTH, SELECT, INFO, ...) passes; clients retry',
    fatal: false,
    line: 'LOADING Redis is loading the dataset in memory',
  },
  ERR: {
    description: 'ERR: a generic command error, naming the command (any command)',
    fatal: false,
    line: '',
  },
  READONLY: {
    description: 'READONLY: a read-only replica (after a failover): writes fail, reads pass',
    fatal: false,
    line: "READONLY You can't write against a read only replica.",
  },
  OOM: {
    description: 'OOM: used memory is over maxmemory: commands that may add more (SET, LPUSH, ...) and any queued in MULTI fail, others pass',
    fatal: false,
    line: "OOM command not allowed when used memory > 'maxmemory'.",
  },
  BUSY: {
    description: 'BUSY: a long-running Lua script blocks the server: all but HELLO, AUTH, MULTI, DISCARD, SCRIPT KILL ... fail',
    fatal: false,
    line: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  },
  MASTERDOWN: {
    description: 'MASTERDOWN: a read-only replica lost its master and serves no stale data: writes get READONLY, all but INFO, SELECT, AUTH, ... MASTERDOWN',
    fatal: false,
    line: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
  },
  MISCONF: {
    description: 'MISCONF: RDB snapshots fail, so writes (and PING) are refused, reads pass',
    fatal: false,
    line:
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. " +
      'Commands that may modify the data set are disabled, because this instance is configured to report ' +
      'errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). ' +
      'Please check the Redis logs for details about the RDB error.',
  },
  NOAUTH: {
    description: 'NOAUTH: the server asks for AUTH (e.g. after a password change): all but AUTH, HELLO ... AUTH, QUIT, RESET fail',
    fatal: false,
    line: 'NOAUTH Authentication required.',
  },
  NOSCRIPT: {
    description: 'NOSCRIPT: EVALSHA of a script the server does not know (after a restart); clients fall back to EVAL',
    fatal: false,
    line: 'NOSCRIPT No matching script. Please use EVAL.',
  },
  TRYAGAIN: {
    description: 'TRYAGAIN: cluster slot being resharded: commands that may name several keys (MGET, DEL, ...) must be retried',
    fatal: false,
    line: 'TRYAGAIN Multiple keys request during rehashing of slot',
  },
  CLUSTERDOWN: {
    description: 'CLUSTERDOWN: the cluster is down: commands with keys fail',
    fatal: false,
    line: 'CLUSTERDOWN The cluster is down',
  },
};

/** The kinds a cluster node answers for the keys a request names, the EXEC of a block for its commands' keys. */
const CLUSTER_KINDS = new Set(['CLUSTERDOWN', 'TRYAGAIN']);

export const errorKinds: Record<string, ErrorKind> = Object.fromEntries(
  Object.entries(ERRORS).map(([k, v]) => [k, { description: v.description, fatal: v.fatal }]),
);

/**
 * Each kind's reply when no message is given, made once (bytes and reply object: the connection
 * only reads them): a 10 % error mix draws one per ten exchanges.
 */
const DEFAULT_REPLIES = new Map<string, ErrorReply>(
  Object.entries(ERRORS)
    .filter(([k]) => k !== 'ERR')
    .map(([k, e]) => [k, Object.freeze({ bytes: Buffer.from(`-${e.line}\r\n`, 'utf8'), close: false })]),
);

/** The reply of kind `kind` (not ERR) when no message is given. */
export function cannedReply(kind: string): ErrorReply {
  return DEFAULT_REPLIES.get(kind) ?? DEFAULT_REPLIES.get('LOADING')!;
}

/** What HELLO without AUTH says to a client that has not authenticated (redis-refusals.ts lets one with AUTH pass). */
const HELLO_NOAUTH: ErrorReply = Object.freeze({
  bytes: Buffer.from(
    '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> ' +
      'option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
    'latin1',
  ),
  close: false,
});

/**
 * `queued`: the request is queued in a MULTI block, where a script refused as it is queued (by its
 * shebang, at OOM any) gets the bare line; `scripts`: those the proxy saw, an EVALSHA's said as its
 * EVAL; `functions`: those it saw loaded, an FCALL's stopped on a stale replica said where.
 */
export function encodeError(kind: string, ctx: ErrorReplyContext, queued = false, scripts?: ScriptsSeen, functions?: FunctionsSeen): ErrorReply {
  const label = ctx.label ?? '';
  if (kind === 'NOAUTH' && label === 'HELLO' && ctx.message === undefined) return HELLO_NOAUTH;
  // SYNC/PSYNC get no framed reply (noReply): the client expects nothing from us.
  if (SWITCH_NOW.has(label)) return { bytes: EMPTY, close: false };
  // A real redis refusing EXEC says it discarded the block (processCommand's rejectCommand), even when none was open;
  // a cluster node that finds the block's keys not served discards it with the bare line (clusterRedirectClient).
  const exec = label === 'EXEC' && !CLUSTER_KINDS.has(kind);
  // A script stopped at its write says where (redis-scripts.ts); so does one a stale replica runs, at its first call it refuses.
  const stale = kind === 'MASTERDOWN' && !queued ? staleCall(label, ctx.request, scripts, functions) : undefined;
  if (stale !== undefined) return { bytes: Buffer.from(`-${staleLine(ctx.message)}${stale}\r\n`, 'utf8'), close: false };
  // So does a script a cluster node down runs, at its first call the node refuses.
  const down = kind === 'CLUSTERDOWN' && !queued ? downScriptRefused(label, ctx.request, ctx.message, scripts, functions) : undefined;
  if (down !== undefined) return { bytes: Buffer.from(`-${downLine(ctx.message)}${down}\r\n`, 'utf8'), close: false };
  const script = SCRIPT_KINDS.has(kind) && !queued ? scriptRefused(kind, label, ctx.request, scripts) ?? '' : '';
  if (ctx.message === undefined && kind !== 'ERR' && !exec && script === '') return cannedReply(kind);
  const line = kindLine(kind, label, ctx.message);
  const said = exec ? `EXECABORT Transaction discarded because of: ${line}` : line + script;
  return { bytes: Buffer.from(`-${said}\r\n`, 'utf8'), close: false };
}

/** The error line of `kind` for request `label`, a behavior's `message` after its first word. */
function kindLine(kind: string, label: string, message: string | undefined): string {
  const e = ERRORS[kind] ?? ERRORS.LOADING;
  const word = kind === 'ERR' ? 'ERR' : e.line.split(' ')[0];
  return message !== undefined ? `${word} ${oneLine(message)}` : kind === 'ERR' ? `ERR injected error on '${label || '?'}' (marteau-tui)` : e.line;
}

/** Where a stale replica stops the script or function request `label` runs (redis-scripts.ts' staleScriptRefused, FunctionsSeen.staleCallOf). */
function staleCall(label: string, request: Buffer, scripts: ScriptsSeen | undefined, functions: FunctionsSeen | undefined): string | undefined {
  return label === 'FCALL' || label === 'FCALL_RO' ? functions?.staleCallOf(request) : staleScriptRefused(label, request, scripts);
}

/** What a script that a stale replica runs gets at its first call of a command such a replica does not serve (scriptVerifyAllowStale), a behavior's `message` after ERR. */
function staleLine(message: string | undefined): string {
  return message !== undefined ? `ERR ${oneLine(message)}` : 'ERR Can not execute the command on a stale replica';
}

/** What the client gets for a script queued in a block whose failure comes inside EXEC's reply: the server's QUEUED, as for any. */
export const QUEUED: ErrorReply = Object.freeze({ bytes: Buffer.from('+QUEUED\r\n', 'latin1'), close: false });

/**
 * What the server is sent in place of the script `label` queued in a MULTI block, when a redis in
 * the state `kind` would queue it and have it fail as EXEC runs it (queuedScriptFailure; a cluster
 * node down, in the state `message` says: redis-cluster-down.ts' downScriptRefused): a script
 * that returns that error, so EXEC's reply holds it in its place, byte for byte, and the rest of
 * the block runs (redis.error_reply keeps a line's first word as its code). Undefined otherwise.
 */
export function failingScript(kind: string, label: string, request: Buffer, message: string | undefined, scripts?: ScriptsSeen, functions?: FunctionsSeen): Buffer | undefined {
  const stale = kind === 'MASTERDOWN' ? staleCall(label, request, scripts, functions) : undefined;
  const down = kind === 'CLUSTERDOWN' ? downScriptRefused(label, request, message, scripts, functions) : undefined;
  const after = stale ?? down ?? queuedScriptFailure(kind, label, request, scripts);
  if (after === undefined) return undefined;
  const line = Buffer.from((stale !== undefined ? staleLine(message) : down !== undefined ? downLine(message) : kindLine(kind, label, message)) + after, 'utf8');
  return Buffer.concat([FAILING_SCRIPT, Buffer.from(`$${line.length}\r\n`, 'latin1'), line, CRLF]);
}

const FAILING_SCRIPT = Buffer.from('*4\r\n$4\r\nEVAL\r\n$33\r\nreturn redis.error_reply(ARGV[1])\r\n$1\r\n0\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
