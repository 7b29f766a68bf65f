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
  /** Earlier runs, when a later piece was not adjacent. */
  private runs: Buffer[] = [];

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
      this.runs.push(this.run());
    }
    this.src = buf;
    this.start = from;
    this.end = to;
  }

  /** The run being gathered, as one buffer: the chunk itself when it is all of it. */
  private run(): Buffer {
    const src = this.src!;
    if (this.start === 0 && this.end === src.length) return src;
    return Buffer.from(src.buffer, src.byteOffset + this.start, this.end - this.start);
  }

  /** Everything gathered, as one buffer (copied only when it came in separate runs); empties the box. */
  take(): Buffer | undefined {
    if (this.src === undefined) return undefined;
    const last = this.run();
    this.src = undefined;
    if (this.runs.length === 0) return last;
    this.runs.push(last);
    const all = Buffer.concat(this.runs);
    this.runs = [];
    return all;
  }
}
