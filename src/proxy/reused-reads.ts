/**
 * A socket's bytes read into one buffer reused from read to read (`net`'s `onread`), rather
 * than a new Buffer and a trip through the Readable stream for every read: on a redis pipeline
 * a read's own cost is much of what a proxy adds to a bare pipe, which cannot read this way.
 * Both sides of a connection read so: the upstream through `net.connect`'s option, the client
 * through `acceptInto` below.
 *
 * The price is a rule: a chunk is valid only until the handler it was given to returns. The
 * connection says when something outlives it (a write the kernel has not taken whole, bytes its
 * framer holds for the next chunk), and the next read then gets new memory, the old one left to
 * whoever still holds it. Bytes held for longer (a delayed reply) are copied by the connection.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** As big as what libuv asks for by default, so a bulk transfer takes as few reads as before. */
const READ_SIZE = 64 * 1024;
/**
 * Free memory before each chunk: room for the handler to put bytes in front of a part of the
 * chunk (an injected reply amid a pipeline's replies, Outbox.insertBefore) without a copy of
 * the whole into new memory. Twenty redis error replies.
 */
export const HEADROOM = 1024;

export class ReusedReads {
  /** The memory reads go into: HEADROOM bytes, then `into`. */
  private buf?: Buffer;
  private into?: Buffer;
  /** The last chunk outlives its handler: the next read must not overwrite it. */
  kept = false;
  private handler?: (chunk: Buffer) => void;
  /** Read before the connection took its bytes (a server that speaks first), as copies. */
  private early: Buffer[] = [];
  /** The handler is given those copies (start). */
  private replaying = false;

  /** For `net.connect` (and `acceptInto`). */
  readonly onread: OnReadOpts = {
    buffer: () => this.next(),
    callback: (n: number, buf: Uint8Array) => {
      this.read((buf as Buffer).subarray(0, n));
      // Keep reading: pause() and resume() still govern the flow.
      return true;
    },
  };

  private next(): Buffer {
    if (this.into === undefined || this.kept) {
      this.buf = Buffer.allocUnsafeSlow(HEADROOM + READ_SIZE);
      this.into = this.buf.subarray(HEADROOM);
      this.kept = false;
    }
    return this.into;
  }

  /**
   * The memory of the chunk being handled (asked from its handler only): the chunk starts at its
   * byte HEADROOM, and the bytes before it are free. Undefined while the handler is given the copies read before it came.
   * A flag, where comparing the chunk's offset and ArrayBuffer with the memory's took three calls
   * into V8 at every injected reply.
   */
  handledMemory(): Buffer | undefined {
    return this.replaying ? undefined : this.buf;
  }

  private read(chunk: Buffer): void {
    if (this.handler) this.handler(chunk);
    else this.early.push(Buffer.from(chunk));
  }

  /** From now on, each read goes to `handler`; what came before goes first. */
  start(handler: (chunk: Buffer) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    this.replaying = true;
    try {
      for (const c of early) handler(c);
    } finally {
      this.replaying = false;
    }
  }
}

/**
 * An accepted socket again, reading into reused buffers of its own: `net.Server` has no `onread` option, so the
 * connection's handle (accepted paused, `pauseOnConnect`, nothing read yet) moves to a new
 * socket made with one, and the accepted socket is closed without it (which also keeps the
 * server's connection count right). This leans on `net` internals that Node has kept for years
 * (the `_handle` field, the `handle` option); where they are not there, undefined: the caller
 * reads the accepted socket as a stream.
 */
export function acceptInto(accepted: Socket): { socket: Socket; reads: ReusedReads } | undefined {
  const holder = accepted as unknown as { _handle?: { readStart?: unknown } | null };
  const handle = holder._handle;
  if (!handle || typeof handle.readStart !== 'function' || accepted.readableFlowing) return undefined;
  holder._handle = null;
  accepted.destroy();
  const reads = new ReusedReads();
  const options = { handle, onread: reads.onread, allowHalfOpen: accepted.allowHalfOpen, pauseOnCreate: true, readable: true, writable: true };
  return { socket: new Socket(options as SocketConstructorOpts), reads };
}
