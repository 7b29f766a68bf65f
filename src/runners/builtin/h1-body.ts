/**
 * The body of an HTTP/1.1 reply, read incrementally and counted, never kept: a load generator
 * needs where the reply ends (Content-Length, chunked framing or the end of the connection) and
 * how many body bytes came, not the bytes themselves.
 */

/** What feed() returns when the chunked framing is broken (the code is in `error`). */
export const FRAMING_ERROR = -1;

const enum Chunk {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  EndLf,
}

/** Chunk sizes beyond this are not a body a test server sends: a framing error. */
const MAX_CHUNK = 2 ** 40;

export class BodyParser {
  /** Body bytes so far (chunked framing excluded). */
  bytes = 0;
  complete = false;
  /** The body ends with the connection (no length, not chunked). */
  untilClose = false;
  error = '';
  private chunked = false;
  private remaining = 0;
  private state = Chunk.Size;
  private digits = 0;

  reset(): void {
    this.bytes = 0;
    this.complete = false;
    this.untilClose = false;
    this.error = '';
    this.chunked = false;
  }

  expect(length: number): void {
    this.remaining = length;
    this.complete = length === 0;
  }

  expectChunked(): void {
    this.chunked = true;
    this.state = Chunk.Size;
    this.remaining = 0;
    this.digits = 0;
  }

  expectUntilClose(): void {
    this.untilClose = true;
  }

  /** Take what belongs to the body from buf[at..end); returns where it stopped, or FRAMING_ERROR. */
  feed(buf: Buffer, at: number, end: number): number {
    if (this.untilClose) {
      this.bytes += end - at;
      return end;
    }
    if (!this.chunked) {
      const take = Math.min(this.remaining, end - at);
      this.remaining -= take;
      this.bytes += take;
      if (this.remaining === 0) this.complete = true;
      return at + take;
    }
    while (at < end && !this.complete) {
      if (this.state === Chunk.Data) {
        const take = Math.min(this.remaining, end - at);
        this.remaining -= take;
        this.bytes += take;
        at += take;
        if (this.remaining === 0) this.state = Chunk.DataCr;
        continue;
      }
      const c = buf[at++];
      switch (this.state) {
        case Chunk.Size: {
          const v = hexValue(c);
          if (v >= 0) {
            this.remaining = this.remaining * 16 + v;
            this.digits++;
            if (this.remaining > MAX_CHUNK) return this.broken('HPE_INVALID_CHUNK_SIZE');
          } else if (this.digits > 0 && c === 13) this.state = Chunk.SizeLf;
          else if (this.digits > 0 && (c === 59 || c === 32 || c === 9)) this.state = Chunk.Extension;
          else return this.broken('HPE_INVALID_CHUNK_SIZE');
          break;
        }
        case Chunk.Extension:
          if (c === 13) this.state = Chunk.SizeLf;
          break;
        case Chunk.SizeLf:
          if (c !== 10) return this.broken('HPE_STRICT');
          this.state = this.remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (c !== 13) return this.broken('HPE_STRICT');
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (c !== 10) return this.broken('HPE_STRICT');
          this.state = Chunk.Size;
          this.digits = 0;
          break;
        case Chunk.TrailerStart:
          this.state = c === 13 ? Chunk.EndLf : Chunk.Trailer;
          break;
        case Chunk.Trailer:
          if (c === 10) this.state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (c !== 10) return this.broken('HPE_STRICT');
          this.complete = true;
          break;
      }
    }
    return at;
  }

  private broken(code: string): number {
    this.error = code;
    return FRAMING_ERROR;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}
