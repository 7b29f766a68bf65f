/**
 * Bytes waiting to be written to one socket, gathered so that a pipelined chunk framed into many
 * segments goes out in one write: segments that lie next to each other in memory (as the pieces
 * of one received chunk do) are joined back without a copy, so a chunk that passes through
 * untouched costs one write, not one per exchange (a writev of hundreds of small buffers was a
 * third of the proxy's CPU on redis pipelines).
 */
export class Outbox {
  /** The run being gathered: bytes [start, end) of `memory`. */
  private memory?: ArrayBufferLike;
  private start = 0;
  private end = 0;
  /** Earlier runs, when a later piece was not adjacent. */
  private runs: Buffer[] = [];

  get empty(): boolean {
    return this.memory === undefined;
  }

  add(data: Buffer): void {
    this.addRange(data, 0, data.length);
  }

  /** Bytes [from, to) of `buf`, without making a view of them (framed offsets, frames.ts). */
  addRange(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const start = buf.byteOffset + from;
    if (buf.buffer === this.memory && start === this.end) {
      this.end += to - from;
      return;
    }
    if (this.memory !== undefined) this.runs.push(Buffer.from(this.memory, this.start, this.end - this.start));
    this.memory = buf.buffer;
    this.start = start;
    this.end = start + to - from;
  }

  /** Everything gathered, as one buffer (copied only when it came in separate runs); empties the box. */
  take(): Buffer | undefined {
    if (this.memory === undefined) return undefined;
    const last = Buffer.from(this.memory, this.start, this.end - this.start);
    this.memory = undefined;
    if (this.runs.length === 0) return last;
    this.runs.push(last);
    const all = Buffer.concat(this.runs);
    this.runs = [];
    return all;
  }
}
