/** Bytes a framer holds between chunks (a line split across them). */

const EMPTY = Buffer.alloc(0);

/** A list with its total length, for framers that add to it piece by piece (smtp). */
export class Held {
  parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }
  /** The held bytes followed by `tail`, and empty afterwards. */
  take(tail: Buffer = EMPTY): Buffer {
    const parts = this.parts;
    const all = parts.length === 0 ? tail : parts.length === 1 && tail.length === 0 ? parts[0] : Buffer.concat([...parts, tail]);
    this.parts = [];
    this.length = 0;
    return all;
  }
  /** The first `n` held bytes (or fewer), without taking them. */
  head(n: number): Buffer {
    const first = this.parts[0];
    if (first === undefined) return EMPTY;
    if (first.length >= n || this.parts.length === 1) return first.subarray(0, n);
    return Buffer.concat(this.parts).subarray(0, n);
  }
  /**
   * What is held now, to give back with `restore` (no copy: `take` swaps the array and `push`
   * only appends, so the first `count` parts of `parts` stay as they are).
   */
  mark(): { parts: Buffer[]; count: number } {
    return { parts: this.parts, count: this.parts.length };
  }
  /** Holds again what `mark` saw, followed by `extra`. */
  restore(m: { parts: Buffer[]; count: number }, extra: Buffer): void {
    this.parts = m.parts.slice(0, m.count);
    this.length = 0;
    for (const p of this.parts) this.length += p.length;
    this.push(extra);
  }
}

/**
 * The unframed end of one direction for framers that read it again whole with the next chunk
 * (redis, memcache): a line or a length header cut between two chunks.
 */
export class Tail {
  private bytes: Buffer | null = null;

  get length(): number {
    return this.bytes === null ? 0 : this.bytes.length;
  }

  /**
   * `frame` the held bytes followed by `chunk`, as one buffer; `frame` holds what it leaves with
   * `hold`. If it throws, nothing of the buffer was returned: all of it stays held for `take`.
   */
  feed<S, R>(self: S, frame: (this: S, buf: Buffer) => R, chunk: Buffer): R {
    const buf = this.bytes === null ? chunk : Buffer.concat([this.bytes, chunk]);
    this.bytes = null;
    try {
      return frame.call(self, buf);
    } catch (err) {
      this.bytes = buf;
      throw err;
    }
  }

  /** Keep `buf` from `from` on (nothing when it was all framed) until the next chunk. */
  hold(buf: Buffer, from: number): void {
    if (from < buf.length) this.bytes = buf.subarray(from);
  }

  /** What is held, and nothing afterwards. */
  take(): Buffer {
    const b = this.bytes ?? EMPTY;
    this.bytes = null;
    return b;
  }
}
