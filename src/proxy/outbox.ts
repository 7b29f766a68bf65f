/**
 * Bytes waiting to be written to one socket, gathered so that a pipelined chunk framed into many
 * segments goes out in one write: segments that lie next to each other in memory (as the pieces
 * of one received chunk do) are joined back without a copy, so a chunk that passes through
 * untouched costs one write, not one per exchange (a writev of hundreds of small buffers was a
 * third of the proxy's CPU on redis pipelines).
 */
export class Outbox {
  /** The run being gathered: bytes [start, end) of `src` (end may pass src's own length when a later view of the same memory was adjacent). */
  private src?: Buffer;
  private start = 0;
  private end = 0;
  /**
   * Earlier runs, when a later piece was not adjacent: the first `runCount` of these, their
   * slots overwritten by the next (setting an array's length is a call into the runtime).
   */
  private readonly runBufs: Buffer[] = [];
  private readonly runStarts: number[] = [];
  private readonly runEnds: number[] = [];
  private runCount = 0;

  get empty(): boolean {
    return this.src === undefined;
  }

  add(data: Buffer): void {
    this.addRange(data, 0, data.length);
  }

  /** Bytes [from, to) of `buf`, without making a view of them (framed offsets, frames.ts). */
  addRange(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const src = this.src;
    if (src !== undefined) {
      // The next range of the same chunk (no call into the buffer), or a view next to the run.
      if (buf === src) {
        if (from === this.end) {
          this.end = to;
          return;
        }
      } else if (buf.byteOffset + from === src.byteOffset + this.end && buf.buffer === src.buffer) {
        // `.buffer` last: it is a call into V8's runtime, and most pieces that are not the same
        // chunk (an injected reply, the rest of a chunk past a skipped request) are not adjacent.
        this.end += to - from;
        return;
      }
      const i = this.runCount++;
      this.runBufs[i] = src;
      this.runStarts[i] = this.start;
      this.runEnds[i] = this.end;
    }
    this.src = buf;
    this.start = from;
    this.end = to;
  }

  /**
   * Bytes [from, to) of `buf` are not to be sent, and the run being gathered ends where they
   * start: move the run up against what follows them (memmove within `buf`, whose bytes the
   * caller says nothing else reads any more), so that the rest of the chunk joins the run and it
   * still goes out as one view, with no copy into new memory. A request withheld from amid a
   * pipelined chunk (an injected error) otherwise costs a gather copy of the whole chunk.
   */
  closeGap(buf: Buffer, from: number, to: number): void {
    if (this.src !== buf || this.end !== from || to <= from) return;
    buf.copyWithin(this.start + (to - from), this.start, from);
    this.start += to - from;
    this.end = to;
  }

  /**
   * Put `bytes` right before byte `pos` of `chunk`, in free memory: `memory` holds the chunk from
   * its byte `at` on, and its bytes before the chunk's hold nothing else (reused-reads.ts). `at` is
   * the caller's to say: it knows it, where two reads of byteOffset are two calls into V8 at every
   * injected reply. The run being gathered, when it is the chunk's bytes up to `pos`, moves back
   * to make the room. An injected reply amid a pipeline's replies then joins the chunk's run
   * rather than making a gather copy of it all. False when the run is not that chunk's alone or
   * the room is short: the caller adds the bytes.
   */
  insertBefore(bytes: Buffer, chunk: Buffer, memory: Buffer, at: number, pos: number): boolean {
    const n = bytes.length;
    if (this.src === undefined) {
      if (at + pos - n < 0) return false;
      this.src = chunk;
      this.start = pos;
      this.end = pos;
    } else if (this.src !== chunk || this.end !== pos || this.runCount !== 0 || at + this.start - n < 0) {
      return false;
    } else {
      memory.copyWithin(at + this.start - n, at + this.start, at + pos);
    }
    memory.set(bytes, at + pos - n);
    this.start -= n;
    return true;
  }

  /**
   * Everything gathered, as one buffer (copied only when it came in separate runs); empties the
   * box. Runs are copied into the new buffer as views made only then: a view per run and then
   * Buffer.concat cost twice as much (an injected reply amid a pipeline's replies: three runs).
   */
  take(): Buffer | undefined {
    const src = this.src;
    if (src === undefined) return undefined;
    this.src = undefined;
    const n = this.runCount;
    if (n === 0) return this.start === 0 && this.end === src.length ? src : viewOf(src, this.start, this.end);
    let size = this.end - this.start;
    for (let i = 0; i < n; i++) size += this.runEnds[i] - this.runStarts[i];
    const all = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < n; i++) {
      at = copyInto(all, at, this.runBufs[i], this.runStarts[i], this.runEnds[i]);
      // Not kept for the next take: a chunk's memory is left to the GC (or its reader) at once.
      this.runBufs[i] = EMPTY;
    }
    copyInto(all, at, src, this.start, this.end);
    this.runCount = 0;
    return all;
  }
}

const EMPTY = Buffer.alloc(0);

/** Bytes [from, to) of `src` as a Buffer; they may lie outside src in its memory (see copyInto). */
function viewOf(src: Buffer, from: number, to: number): Buffer {
  return Buffer.from(src.buffer, src.byteOffset + from, to - from);
}

function copyInto(out: Buffer, at: number, src: Buffer, from: number, to: number): number {
  // A run may reach before its src's start (insertBefore) or past its end (adjacent views).
  out.set(from === 0 && to === src.length ? src : from >= 0 && to <= src.length ? src.subarray(from, to) : viewOf(src, from, to), at);
  return at + to - from;
}
