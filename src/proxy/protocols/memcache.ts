/**
 * memcached's protocols framed and faulted: a connection speaks the text protocol
 * (memcache-text.ts: classic and meta commands) or the binary one (memcache-binary.ts), picked
 * by its first byte as memcached picks it (0x80: binary, for good). Their errors are
 * memcache-errors.ts'.
 */
import { BinarySession, REQUEST_MAGIC } from './memcache-binary.js';
import { encodeError, errorKinds } from './memcache-errors.js';
import { TextSession } from './memcache-text.js';
import { Frames, OffsetSession, passAll } from '../frames.js';
import type { Protocol } from '../protocol.js';

const EMPTY = Buffer.alloc(0);

/** The text or the binary session, picked by the connection's first byte as memcached picks it. */
class MemcacheSession extends OffsetSession {
  private inner: TextSession | BinarySession | undefined;
  private readonly early = new Frames();

  framesFromClient(chunk: Buffer): Frames {
    if (this.inner === undefined) {
      if (chunk.length === 0) return passAll(this.early, chunk);
      this.inner = chunk[0] === REQUEST_MAGIC ? new BinarySession() : new TextSession();
    }
    return this.inner.framesFromClient(chunk);
  }

  framesFromServer(chunk: Buffer): Frames {
    // Before the client's first byte no request waits: what the server says is nobody's reply.
    return this.inner === undefined ? passAll(this.early, chunk) : this.inner.framesFromServer(chunk);
  }

  skipped(ordinal: number): void {
    this.inner?.skipped(ordinal);
  }

  errored(ordinal: number, standIn?: Buffer): void {
    this.inner?.errored(ordinal, standIn);
  }

  /** What goes to the server in place of a request an error is drawn for (the sessions' standIn). */
  standIn(request: Buffer, ordinal: number): Buffer | undefined {
    return this.inner?.standIn(request, ordinal);
  }

  stopRequests(returned: boolean): Buffer | undefined {
    return this.inner?.stopRequests(returned);
  }

  buffered(): number {
    return this.inner?.buffered() ?? 0;
  }

  capped(): number {
    return this.inner?.capped() ?? 0;
  }

  drain(): { client: Buffer; server: Buffer } {
    return this.inner?.drain() ?? { client: EMPTY, server: EMPTY };
  }
}

export const memcache: Protocol = {
  name: 'memcache',
  framesReplies: true,
  errorKinds,
  defaultError: 'SERVER_ERROR',
  createSession: () => new MemcacheSession(),
  standIn: (request, _whole, session, ordinal) =>
    session instanceof MemcacheSession && ordinal !== undefined ? session.standIn(request, ordinal) : undefined,
  encodeError,
};
