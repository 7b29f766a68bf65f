/**
 * HTTP's injected errors: real responses (status line, Content-Length, Retry-After where the
 * status has one) that follow the request's HTTP version and keep-alive, and name themselves in
 * an `X-Marteau-Fault` header. Canned ones are made once per status and request shape: each was
 * three buffers, a join and a concat per injected error.
 */
import { STATUS_CODES } from 'node:http';
import { CannedReplies, MAX_HEAD_BYTES, type ErrorKind, type ErrorReply, type ErrorReplyContext, type Protocol } from '../protocol.js';

const CRLF = Buffer.from('\r\n');

export const errorKinds: Record<string, ErrorKind> = {
  '500': { description: '500 Internal Server Error', fatal: false },
  '502': { description: '502 Bad Gateway', fatal: false },
  '503': { description: '503 Service Unavailable, with Retry-After', fatal: false },
  '504': { description: '504 Gateway Timeout', fatal: false },
  '429': { description: '429 Too Many Requests, with Retry-After', fatal: false },
};

/**
 * Any other client or server error status is made too (an upstream API's 401, 404 or 409 is as
 * real a fault as its 503), with Node's reason phrase.
 */
export const moreErrorKinds: NonNullable<Protocol['moreErrorKinds']> = {
  admits: (kind) => /^[45]\d\d$/.test(kind),
  text: 'or any other status from 400 to 599',
};

const CANNED = new CannedReplies();

export function encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
  const firstLine = ctx.request.toString('latin1', 0, Math.max(0, ctx.request.indexOf(CRLF)));
  const [method, , version] = firstLine.split(' ');
  const http10 = version === 'HTTP/1.0';
  const head = method === 'HEAD';
  const headText = ctx.request.toString('latin1', 0, Math.min(ctx.request.length, MAX_HEAD_BYTES));
  const close = http10 || /\r\nconnection:[^\r\n]*close/i.test(headText);
  if (ctx.message !== undefined) return response(kind, http10, close, head, ctx.message);
  const key = `${kind} ${http10} ${close} ${head}`;
  return CANNED.get(key) ?? CANNED.keep(key, response(kind, http10, close, head, undefined));
}

function response(kind: string, http10: boolean, close: boolean, head: boolean, message: string | undefined): ErrorReply {
  const reason = STATUS_CODES[kind] ?? 'Error';
  // A behavior's own message is the body; HEAD gets the length a GET's body would have.
  const body = Buffer.from(message ?? `${kind} ${reason} (injected by marteau-tui)\n`, 'utf8');
  const lines = [
    `${http10 ? 'HTTP/1.0' : 'HTTP/1.1'} ${kind} ${reason}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    ...(kind === '503' || kind === '429' ? ['Retry-After: 1'] : []),
    'X-Marteau-Fault: error',
    `Connection: ${close ? 'close' : 'keep-alive'}`,
  ];
  const bytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return { bytes: head ? bytes : Buffer.concat([bytes, body]), close };
}
