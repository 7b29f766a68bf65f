import type { Protocol } from '../protocol.js';

/**
 * Raw TCP: no framing. Each chunk the client sends is an exchange (as in Vaurien); the server's
 * bytes are not attributed to a request. The only error a byte stream has is garbage: Vaurien's
 * 1000 random bytes.
 */
export const tcp: Protocol = {
  name: 'tcp',
  framesReplies: false,
  errorKinds: { random: { description: '1000 random bytes instead of a reply (Vaurien)', fatal: false } },
  defaultError: 'random',
  createSession: () => ({
    fromClient: (chunk) => [{ data: chunk, start: true, end: true }],
    fromServer: (chunk) => [{ data: chunk, start: true, end: true, passthrough: true }],
    buffered: () => 0,
    drain: () => ({ client: Buffer.alloc(0), server: Buffer.alloc(0) }),
  }),
  encodeError: (_kind, ctx) => ({ bytes: ctx.message === undefined ? randomBytes(1000, ctx.random) : Buffer.from(ctx.message, 'utf8'), close: false }),
};

export function randomBytes(n: number, random: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}
