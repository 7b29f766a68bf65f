import type { Protocol } from '../protocol.js';
import { Frames, OffsetSession, passAll, WHOLE } from '../frames.js';

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
  createSession: () => new TcpSession(),
  encodeError: (_kind, ctx) => ({ bytes: ctx.message === undefined ? randomBytes(1000, ctx.random) : Buffer.from(ctx.message, 'utf8'), close: false }),
};

/**
 * Frames into offsets though there is nothing to frame: the proxy then reads both sides into
 * reused memory (reused-reads.ts). A bulk transfer otherwise costs a 64 KiB buffer per read,
 * external memory that has V8 run a full collection every few megabytes.
 */
class TcpSession extends OffsetSession {
  private readonly client = new Frames();
  private readonly server = new Frames();

  framesFromClient(chunk: Buffer): Frames {
    this.client.reset(chunk);
    if (chunk.length) this.client.push(0, chunk.length, WHOLE);
    return this.client;
  }

  framesFromServer(chunk: Buffer): Frames {
    return passAll(this.server, chunk);
  }

  buffered(): number {
    return 0;
  }

  drain(): { client: Buffer; server: Buffer } {
    return { client: Buffer.alloc(0), server: Buffer.alloc(0) };
  }
}

export function randomBytes(n: number, random: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}
