/**
 * PostgreSQL's messages as its framing session (postgres-session.ts) tells them apart: the
 * startup codes, the message types of each side it knows, the meta of the frames it makes, and
 * its bookkeeping of each direction's message and of the replies owed.
 */
import type { StartMeta } from './length-prefixed.js';

export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
/** The server's limit on a startup packet. */
export const MAX_STARTUP_LENGTH = 10000;

/**
 * Message types as tables indexed by the type byte (1: in the set), SERVER_TYPES being the backend
 * types this framer knows: a Set lookup per message was a hash probe in the framer's hottest
 * loop, two of them per reply of a pipelined query load.
 */
function typeTable(types: string): Uint8Array {
  const t = new Uint8Array(256);
  for (const c of types) t[c.charCodeAt(0)] = 1;
  return t;
}
export const SERVER_TYPES = typeTable('RKSZCDEINA123sntTGHWdcVv');
export const ASYNC_TYPES = typeTable('NSA');
export const EXTENDED_TYPES = typeTable('PBDECH');
export const COPY_TYPES = typeTable('dcf');

/** A message's meta, one object per kind rather than one per message (none is ever changed). */
export const REPLY_META: StartMeta = Object.freeze({});
const requestMeta = (label: string, noReply = false): StartMeta => Object.freeze(noReply ? { label, noReply } : { label });
export const QUERY_META = requestMeta('Query');
export const FUNCTION_CALL_META = requestMeta('FunctionCall');
export const TERMINATE_META = requestMeta('Terminate', true);
export const SYNC_META = requestMeta('Sync');
export const EXTENDED_META = requestMeta('Extended');
/** The StartupMessage, answered by the server's first message after it (postgres-errors.ts, atStartup). */
export const STARTUP_META = requestMeta('Startup');

/**
 * A request awaiting its reply as one number, its ordinal and whether it is an extended query:
 * an object per request, stored into the long-lived queue, cost a write barrier each.
 */
export const pending = (ordinal: number, extended: boolean): number => ordinal * 2 + (extended ? 1 : 0);
export const isExtended = (p: number): boolean => p % 2 === 1;
/** In the queue of replies owed: the server's ReadyForQuery to a Sync passed on (postgres-error-state.ts, errored). */
export const PASSED_SYNC = -1;
export const ordinalOf = (p: number): number => (p - (p % 2)) / 2;

export interface Dir {
  held: Buffer | null;
  /** Body bytes of the current protocol message still to stream. */
  remain: number;
  inMsg: boolean;
  endAfter: boolean;
  startMeta: StartMeta | null;
  pass: boolean;
}

export function newDir(): Dir {
  return { held: null, remain: 0, inMsg: false, endAfter: false, startMeta: null, pass: false };
}
