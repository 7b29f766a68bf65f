/**
 * memcache's error kinds and the replies they inject: a text line for the text protocol (its
 * first word the kind's, the rest a behavior's message if it gives one), a status and text for
 * the binary one (memcache-binary.ts).
 */
import { binaryError, isBinaryRequest } from './memcache-binary.js';
import { parseCommand, type Command } from './memcache-lines.js';
import { CannedReplies, MAX_HEAD_BYTES, oneLine, type ErrorKind, type ErrorReply, type ErrorReplyContext } from '../protocol.js';

const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
const CR = 0x0d;

interface MemcacheError extends ErrorKind {
  reply: (cmd: Command) => string;
  /** The binary protocol's status and memcached's text for it. */
  binary: [status: number, text: string];
}

const ERRORS: Record<string, MemcacheError> = {
  SERVER_ERROR: {
    description: 'SERVER_ERROR out of memory (storing object / writing get response), as memcached under memory pressure',
    fatal: false,
    reply: (c) =>
      c.kind === 'store'
        ? 'SERVER_ERROR out of memory storing object'
        : c.kind === 'get'
          ? 'SERVER_ERROR out of memory writing get response'
          : 'SERVER_ERROR out of memory',
    binary: [0x82, 'Out of memory'],
  },
  too_large: {
    description: 'SERVER_ERROR object too large for cache (item over the -I limit)',
    fatal: false,
    reply: () => 'SERVER_ERROR object too large for cache',
    binary: [0x03, 'Too large.'],
  },
  busy: {
    description: 'SERVER_ERROR temporary failure (how memcached-compatible servers report a transient failure)',
    fatal: false,
    reply: () => 'SERVER_ERROR temporary failure',
    binary: [0x86, 'Temporary failure'],
  },
  backend: {
    description: "SERVER_ERROR backend failure (memcached's built-in proxy when its backend is down)",
    fatal: false,
    reply: () => 'SERVER_ERROR backend failure',
    binary: [0x84, 'Internal error'],
  },
  CLIENT_ERROR: {
    description: 'CLIENT_ERROR bad data chunk / bad command line format',
    fatal: false,
    reply: (c) => (c.kind === 'store' ? 'CLIENT_ERROR bad data chunk' : 'CLIENT_ERROR bad command line format'),
    binary: [0x04, 'Invalid arguments'],
  },
  ERROR: {
    description: 'ERROR: the server does not know the command',
    fatal: false,
    reply: () => 'ERROR',
    binary: [0x81, 'Unknown command'],
  },
};

export const errorKinds: Record<string, ErrorKind> = Object.fromEntries(
  Object.entries(ERRORS).map(([k, v]) => [k, { description: `${v.description}; binary protocol: status 0x${v.binary[0].toString(16).padStart(4, '0')} ${v.binary[1]}`, fatal: v.fatal }]),
);

/** The error reply of `kind` to the request in `ctx`, text or binary as the request is. */
export function encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
  const req = ctx.request;
  const e = ERRORS[kind] ?? ERRORS.SERVER_ERROR;
  if (isBinaryRequest(req)) return binaryError(req, e.binary[0], ctx.message !== undefined ? oneLine(ctx.message) : e.binary[1]);
  const lf = req.indexOf(LF);
  const end = lf < 0 ? Math.min(req.length, MAX_HEAD_BYTES) : lf > 0 && req[lf - 1] === CR ? lf - 1 : lf;
  const cmd = parseCommand(req, 0, end);
  // A noreply request gets nothing back, not even an error; quit gets the close it asked for.
  if (cmd.noReply) return { bytes: EMPTY, close: cmd.quit };
  const line = e.reply(cmd);
  if (ctx.message !== undefined) {
    // A bare ERROR carries no text in memcache's protocol; SERVER_ERROR does.
    const word = line.split(' ')[0];
    return { bytes: Buffer.from(`${word === 'ERROR' ? 'SERVER_ERROR' : word} ${oneLine(ctx.message)}\r\n`, 'utf8'), close: false };
  }
  return CANNED.get(line) ?? CANNED.keep(line, { bytes: Buffer.from(`${line}\r\n`, 'utf8'), close: false });
}

/** Injected replies by their line, made once each (the lines are the kinds' canned texts). */
const CANNED = new CannedReplies();
