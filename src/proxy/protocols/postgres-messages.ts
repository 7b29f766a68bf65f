/**
 * PostgreSQL's messages as its framing session (postgres-session.ts) tells them apart: the
 * startup codes, the message types of each side it knows, and the meta of the frames it makes.
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
