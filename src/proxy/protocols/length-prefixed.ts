/**
 * The part MySQL and Postgres framing share: both protocols are length-prefixed messages, held
 * from a message boundary only until they can be classified, then streamed. This keeps the held
 * bytes per direction, tops them up with just what is needed (a big chunk is never copied), and
 * gives every byte of a failed call back through drain().
 */
import { FramingError, type Segment } from '../protocol.js';
import { END, Frames, NO_REPLY, PASS, START, WHOLE } from '../frames.js';

const EMPTY = Buffer.alloc(0);

/** What a message's first segment says about it (passthrough, label, noReply). */
export type StartMeta = Omit<Segment, 'data' | 'start' | 'end'>;
/** The meta of a passthrough message (greeting, handshake, notices), one object for all. */
export const PASS_META: StartMeta = Object.freeze({ passthrough: true });

/**
 * Bytes [from, to) of the buffer being framed as a frame of `out`: the first of a message when
 * `meta` is given, else a later one (`pass`: of a passthrough message).
 */
function pushFrame(out: Frames, from: number, to: number, meta: StartMeta | null, pass: boolean, end: boolean): void {
  const last = end ? END : 0;
  if (meta === null) out.push(from, to, last | (pass ? PASS : 0));
  else out.push(from, to, START | last | (meta.passthrough ? PASS : 0) | (meta.noReply ? NO_REPLY : 0), meta.label);
}

/** Where a direction's message stands: the meta its next frame starts with, if any. */
export interface MessageFrames {
  startMeta: StartMeta | null;
  /** The message is passthrough. */
  pass: boolean;
}

/** Bytes [from, to) as a frame of the message `d` is in (its first, when its meta is still there). */
export function emit(out: Frames, d: MessageFrames, from: number, to: number, end: boolean): void {
  if (to <= from) return;
  pushFrame(out, from, to, d.startMeta, d.pass, end);
  d.startMeta = null;
}

/** The message `d` is in ended at `pos` and ends its exchange: its last frame. The next frame's start. */
export function endMessage(out: Frames, d: MessageFrames & { inMsg: boolean; endAfter: boolean }, segStart: number, pos: number): number {
  emit(out, d, segStart, pos, true);
  d.inMsg = false;
  d.endAfter = false;
  d.pass = false;
  return pos;
}

/**
 * Big-endian int32 and little-endian uint24 and uint16 at `pos`, read byte by byte: Buffer's readInt32BE /
 * readUIntLE validate their arguments through further calls, and their load from a Buffer of
 * another map (a read, a concat) went through V8's generic LoadIC: most of a Postgres
 * framer's time per message. The caller has checked that the bytes are there.
 */
export function int32BE(b: Buffer, pos: number): number {
  return (b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3];
}

export function uint24LE(b: Buffer, pos: number): number {
  return b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16);
}

export function uint16LE(b: Buffer, pos: number): number {
  return b[pos] | (b[pos + 1] << 8);
}

export interface HeldDirection {
  /** Bytes received but not yet emitted (always from a message boundary). */
  held: Buffer | null;
  /** Body bytes of the current message still to stream. */
  remain: number;
  /** Inside a message. */
  inMsg: boolean;
}

export interface LengthPrefixedSteps<D extends HeldDirection> {
  /** Bytes needed from the start of `held` before the message there can be classified. */
  need(d: D, held: Buffer, client: boolean): number;
  /** Frame `b` (starting at a boundary, or mid-message) into `out` (whose `buf` is `b`); may hold a tail in d.held. */
  scan(d: D, b: Buffer, client: boolean, out: Frames): void;
  /** The rest of the connection is opaque (TLS, compression): pass it through. */
  isRaw(): boolean;
}

export class LengthPrefixedFeeder<D extends HeldDirection> {
  private broken = false;
  private readonly cFrames = new Frames();
  private readonly sFrames = new Frames();

  constructor(
    private readonly protocol: string,
    private readonly steps: LengthPrefixedSteps<D>,
    readonly c: D,
    readonly s: D,
  ) {}

  /** The messages of `chunk` as Segments (see frames). */
  feed(d: D, chunk: Buffer, client: boolean): Segment[] {
    return this.frames(d, chunk, client).segments();
  }

  /** The messages of `chunk`, as offsets (frames.ts): valid until the next call for the same side. */
  frames(d: D, chunk: Buffer, client: boolean): Frames {
    const before = d.held;
    if (this.broken) {
      d.held = before ? Buffer.concat([before, chunk]) : chunk;
      throw new FramingError(`${this.protocol} framer already failed`);
    }
    const out = client ? this.cFrames : this.sFrames;
    out.reset(chunk);
    try {
      let rest = chunk;
      while (d.held && rest.length && !this.steps.isRaw()) {
        const want = this.steps.need(d, d.held, client);
        const take = Math.min(rest.length, Math.max(1, want - d.held.length));
        const b = Buffer.concat([d.held, rest.subarray(0, take)]);
        rest = rest.subarray(take);
        d.held = null;
        out.buf = b;
        this.steps.scan(d, b, client, out);
      }
      if (this.steps.isRaw() && d.remain === 0 && !d.inMsg) {
        const data = d.held ? (rest.length ? Buffer.concat([d.held, rest]) : d.held) : rest;
        d.held = null;
        out.buf = data;
        if (data.length) out.push(0, data.length, WHOLE | PASS);
        return out;
      }
      out.buf = rest;
      if (rest.length) this.steps.scan(d, rest, client, out);
      return out;
    } catch (e) {
      // Nothing of this call was returned: hold all of it for drain().
      this.broken = true;
      d.held = before ? Buffer.concat([before, chunk]) : chunk;
      throw e;
    }
  }

  buffered(): number {
    return (this.c.held?.length ?? 0) + (this.s.held?.length ?? 0);
  }

  drain(): { client: Buffer; server: Buffer } {
    const client = this.c.held ?? EMPTY;
    const server = this.s.held ?? EMPTY;
    this.c.held = null;
    this.s.held = null;
    return { client, server };
  }
}
