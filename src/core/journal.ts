/**
 * An append-only JSON-lines file shared by every marteau-tui process using the same state dir.
 *
 * Safety comes from the kernel: the file is opened O_APPEND and each record is ONE write() of
 * at most MAX_RECORD_BYTES, so concurrent appenders never interleave bytes and every reader sees
 * the same order. Each append is fdatasync'ed before it counts, so a kill -9 (or power cut after
 * the call returned) loses nothing acknowledged. A torn last line (power cut mid-write) is
 * closed off with a newline on open and skipped by readers. A journal that cannot be written (a
 * read-only mount, someone else's directory) is still read: `readOnly` says why it cannot append.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsReason, systemError, withPath } from '../fs/errors.js';
import { mkdirp } from '../fs/mkdirp.js';

/** PIPE_BUF on Linux: the size we promise ourselves a single append stays under. */
export const MAX_RECORD_BYTES = 4096;
const NEWLINE = 0x0a;

export class RecordTooLargeError extends Error {
  constructor(bytes: number) {
    super(`journal record of ${bytes} bytes is over ${MAX_RECORD_BYTES}`);
    this.name = 'RecordTooLargeError';
  }
}

export interface ReadResult<R> {
  records: R[];
  /** Offset just past the last complete line read; pass it to the next read. */
  offset: number;
  /** Lines that were not valid JSON objects (torn or damaged) and were skipped. */
  corrupt: number;
  /** Their line numbers, counted from 1 at `offset`. */
  damaged: number[];
  /** Complete lines read (to number the lines of the next read). */
  lines: number;
}

/**
 * A record written whole, so every reader of the file sees it, that could not be forced to disk
 * (the disk's EIO): it cannot be taken back, and a power cut may lose it.
 */
export class UnsyncedRecordError extends Error {
  constructor(file: string, cause: unknown) {
    super(`the journal ${file} could not be forced to disk (${fsReason(cause) ?? String(cause)})`);
    this.name = 'UnsyncedRecordError';
  }
}

/** Why a file cannot be opened for writing while it may still be read. */
const READ_ONLY_CODES = new Set(['EROFS', 'EACCES', 'EPERM']);

export class Journal<R extends object = Record<string, unknown>> {
  private fd?: FileHandle;
  /** Set when open() found the file cannot be written: the error, with its path. */
  readOnly?: NodeJS.ErrnoException;

  /** `accept`: whether a parsed line is a record; one that is not counts as damaged. */
  constructor(
    readonly file: string,
    private readonly accept: (v: object) => boolean = () => true,
  ) {}

  async open(): Promise<void> {
    if (this.fd || this.readOnly) return;
    try {
      await mkdirp(path.dirname(this.file), 0o700);
      this.fd = await open(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    } catch (e) {
      // Listing a colleague's results on a read-only mount needs no write: the readers skip a
      // torn tail anyway, and append() says why it cannot.
      if (!READ_ONLY_CODES.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      this.readOnly = withPath(e, this.file) as NodeJS.ErrnoException;
      return;
    }
    await this.closeTornTail();
  }

  async append(record: R): Promise<void> {
    if (this.readOnly) throw this.readOnly;
    if (!this.fd) throw new Error('journal is not open');
    const buf = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    if (buf.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(buf.length);
    let bytesWritten: number;
    try {
      ({ bytesWritten } = await this.fd.write(buf, 0, buf.length, null));
      // A short write to a regular file means the disk (or the user's quota) is full.
      if (bytesWritten !== buf.length) {
        await this.takeBack(buf.subarray(0, bytesWritten));
        throw systemError('ENOSPC', 'short write: the disk (or a quota or a file size limit) is full', 'write', this.file);
      }
    } catch (e) {
      throw withPath(e, this.file);
    }
    try {
      await this.fd.datasync();
    } catch (e) {
      throw new UnsyncedRecordError(this.file, e);
    }
  }

  /**
   * Cut off the start of a record a short write left at the end of the file: the next record,
   * ours or another process's, would be glued to it and lost with it. Only while it is still the
   * file's tail (nobody appended since); else it stays a torn line, which readers skip.
   */
  private async takeBack(part: Buffer): Promise<void> {
    if (!part.length) return;
    const { size } = await this.fd!.stat();
    const tail = Buffer.alloc(part.length);
    const fh = await open(this.file, 'r');
    try {
      await fh.read(tail, 0, part.length, size - part.length);
    } finally {
      await fh.close();
    }
    if (tail.equals(part)) await this.fd!.truncate(size - part.length);
  }

  /** Records from `offset` to the last complete line. Lines still being written are left for later. */
  async read(offset = 0): Promise<ReadResult<R>> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], offset, corrupt: 0, damaged: [], lines: 0 };
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size <= offset) return { records: [], offset: Math.min(offset, size), corrupt: 0, damaged: [], lines: 0 };
      const buf = Buffer.allocUnsafe(size - offset);
      let got = 0;
      // Bounded: each read makes progress or hits EOF.
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return parseLines<R>(buf.subarray(0, got), offset, this.accept);
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    await this.fd?.close();
    this.fd = undefined;
    this.readOnly = undefined;
  }

  private async closeTornTail(): Promise<void> {
    const fh = await open(this.file, 'r');
    try {
      const { size } = await fh.stat();
      if (size === 0) return;
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== NEWLINE) await this.fd!.write(Buffer.from('\n'), 0, 1, null);
    } finally {
      await fh.close();
    }
  }
}

export function parseLines<R>(buf: Buffer, baseOffset: number, accept: (v: object) => boolean = () => true): ReadResult<R> {
  const end = buf.lastIndexOf(NEWLINE) + 1;
  if (end === 0) return { records: [], offset: baseOffset, corrupt: 0, damaged: [], lines: 0 };
  return parseWhole<R>(buf, end, baseOffset, accept) ?? parseEachLine<R>(buf, end, baseOffset, accept);
}

const isRecord = (v: unknown, accept: (v: object) => boolean): v is object => v !== null && typeof v === 'object' && !Array.isArray(v) && accept(v);

/**
 * Fast path for a healthy journal: JSON text cannot hold a raw newline, so every newline is a
 * record boundary, and the whole chunk parses as one JSON array (one call instead of one per
 * record: a 10k-job journal loads several times faster). Any damage falls back to line by line.
 */
function parseWhole<R>(buf: Buffer, end: number, baseOffset: number, accept: (v: object) => boolean): ReadResult<R> | undefined {
  const text = buf.toString('utf8', 0, end - 1);
  if (text.includes('\n\n') || text.startsWith('\n')) return undefined; // empty lines: take the slow path
  try {
    const all = JSON.parse(`[${text.replaceAll('\n', ',')}]`) as unknown[];
    if (!all.every((v) => isRecord(v, accept))) return undefined;
    return { records: all as R[], offset: baseOffset + end, corrupt: 0, damaged: [], lines: all.length };
  } catch {
    return undefined;
  }
}

function parseEachLine<R>(buf: Buffer, end: number, baseOffset: number, accept: (v: object) => boolean): ReadResult<R> {
  const records: R[] = [];
  const damaged: number[] = [];
  let start = 0;
  let line = 0;
  while (start < end) {
    const nl = buf.indexOf(NEWLINE, start);
    line++;
    if (nl > start) {
      try {
        const v = JSON.parse(buf.toString('utf8', start, nl)) as unknown;
        if (isRecord(v, accept)) records.push(v as R);
        else damaged.push(line);
      } catch {
        damaged.push(line);
      }
    }
    start = nl + 1;
  }
  return { records, offset: baseOffset + end, corrupt: damaged.length, damaged, lines: line };
}
