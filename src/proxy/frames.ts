/**
 * The messages a framer found in one chunk, as offsets into it: no Buffer and no object per
 * message. A pipelined chunk of small messages then costs the framer a few numbers each (a
 * subarray per message was most of a redis framer's time), and the connection forwards a run of
 * untouched messages as one range of the chunk. A Segment is made only for a message that needs
 * one (a behavior looks at it, or it waits).
 */
import type { FramerSession, Segment } from './protocol.js';

/** Bits of a frame's flags: the Segment fields of the same names. */
export const START = 1;
export const END = 2;
export const PASS = 4;
export const NO_REPLY = 8;
export const MUST_FORWARD = 16;
/** A whole message that belongs to an exchange (no passthrough, a reply expected). */
export const WHOLE = START | END;

const EMPTY = Buffer.alloc(0);

/**
 * Reused by its framer for every chunk: valid until the framer's next call on the same side.
 *
 * A frame names its buffer by an index into `inBufs`, not by a pointer of its own: each read
 * is a new Buffer object (young), and storing one into a long-lived array costs V8 a write
 * barrier that records the slot; one per message was 6.6 % of the proxy's CPU on a redis
 * pipeline. Now it is one per buffer per chunk. Labels are stored only when they change, for
 * the same reason (a framer hands the same string for the same command).
 */
export class Frames {
  count = 0;
  /** The buffers this chunk's frames lie in (the first `bufCount`); `bufIndex[i]` is frame i's. */
  private readonly inBufs: Buffer[] = [];
  private bufCount = 0;
  private readonly bufIndex: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly flags: number[] = [];
  /** Requests only, on the start frame: the command's label. */
  readonly labels: (string | undefined)[] = [];
  private current = 0;

  /** The bytes being framed (the chunk, or held bytes and the chunk): the next frames lie in it. */
  get buf(): Buffer {
    return this.bufCount ? this.inBufs[this.current] : EMPTY;
  }

  set buf(b: Buffer) {
    if (this.bufCount && b === this.inBufs[this.current]) return;
    this.current = this.bufCount++;
    this.inBufs[this.current] = b;
  }

  reset(buf: Buffer): void {
    this.bufCount = 0;
    this.buf = buf;
    this.count = 0;
  }

  /** Frame i's buffer. */
  bufOf(i: number): Buffer {
    return this.inBufs[this.bufIndex[i]];
  }

  push(from: number, to: number, flags: number, label?: string): void {
    const i = this.count++;
    this.bufIndex[i] = this.current;
    this.starts[i] = from;
    this.ends[i] = to;
    this.flags[i] = flags;
    if (this.labels[i] !== label) this.labels[i] = label;
  }

  /**
   * A frame that lies in another buffer than `buf` (e.g. a line joined from bytes held before
   * the chunk); `buf` stays what it was for the frames pushed next.
   */
  pushIn(buf: Buffer, from: number, to: number, flags: number, label?: string): void {
    const current = this.current;
    this.buf = buf;
    this.push(from, to, flags, label);
    this.current = current;
  }

  /** Frame i as a Segment (its bytes a view of `buf`, not a copy). */
  segment(i: number): Segment {
    const f = this.flags[i];
    // Every field in the literal: one object shape for all segments.
    return {
      data: this.bufOf(i).subarray(this.starts[i], this.ends[i]),
      start: (f & START) !== 0,
      end: (f & END) !== 0,
      passthrough: (f & PASS) !== 0,
      label: this.labels[i],
      noReply: (f & NO_REPLY) !== 0 ? true : undefined,
      mustForward: (f & MUST_FORWARD) !== 0 ? true : undefined,
    };
  }

  /** Frames from `from` on, as Segments. */
  segments(from = 0): Segment[] {
    const out: Segment[] = [];
    for (let i = from; i < this.count; i++) out.push(this.segment(i));
    return out;
  }
}

/**
 * Bytes [from, to) of `buf` in memory of their own. A short message (most requests) byte by byte:
 * Buffer.from(view) makes the view, then checks and copies through two calls into the runtime,
 * two to three times the cost of the bytes themselves.
 */
export function copyOf(buf: Buffer, from: number, to: number): Buffer {
  const n = to - from;
  const out = Buffer.allocUnsafe(n);
  if (n <= 64) for (let k = 0; k < n; k++) out[k] = buf[from + k];
  else out.set(buf.subarray(from, to));
  return out;
}

/** All of `chunk` as one passthrough frame (a session that stopped framing); no frame for an empty chunk. */
export function passAll(out: Frames, chunk: Buffer): Frames {
  out.reset(chunk);
  if (chunk.length) out.push(0, chunk.length, WHOLE | PASS);
  return out;
}

/** A framer session that also frames into offsets: the same messages its fromClient / fromServer return. */
export interface OffsetFramer extends FramerSession {
  framesFromClient(chunk: Buffer): Frames;
  framesFromServer(chunk: Buffer): Frames;
}

/** An offset framer whose Segments (for callers that ask for them) are its frames as Segments. */
export abstract class OffsetSession implements OffsetFramer {
  abstract framesFromClient(chunk: Buffer): Frames;
  abstract framesFromServer(chunk: Buffer): Frames;
  abstract buffered(): number;
  abstract drain(): { client: Buffer; server: Buffer };

  fromClient(chunk: Buffer): Segment[] {
    return this.framesFromClient(chunk).segments();
  }

  fromServer(chunk: Buffer): Segment[] {
    return this.framesFromServer(chunk).segments();
  }
}

export function framesOffsets(s: FramerSession): s is OffsetFramer {
  return typeof (s as Partial<OffsetFramer>).framesFromClient === 'function';
}
