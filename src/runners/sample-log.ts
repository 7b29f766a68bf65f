/**
 * The builtin runner's compact sample log: every recorded sample as a small binary record
 * (numbers as they are, strings once each), written in batches, and turned into the FunkLoad XML
 * result file when the job ends (sample-log-read.ts). Formatting a FunkLoad line costs several
 * microseconds per request (float printing, attribute quoting); a record here costs a few
 * stores. The XML made from the log is the very file FunkloadXmlWriter would have streamed.
 *
 * Crash safety: a batch is written when it fills and on flush() (the job flushes every second),
 * so a job killed mid-run leaves its samples up to then; a record cut short at the end is not
 * read, and the report step converts such a log as it finds it (no closing `</funkload>`, as a
 * killed FunkLoad run leaves).
 *
 * Layout: the magic, then records, each a tag byte and a fixed or length-prefixed payload, all
 * little-endian. Strings are interned: an `S` record gives a string its id before the first
 * record that uses it; 0 is "absent". Past MAX_STRINGS distinct strings (a flood of unique
 * tracebacks), a new string goes in a scratch slot rewritten before each use, so memory stays
 * bounded on both sides: the slots are taken in turn, and there are as many as a record has
 * strings, so the strings of one record never share one.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { fsReason, systemError } from '../fs/errors.js';
import { headerLines, type XmlHeaderOptions } from './funkload-writer.js';
import type { ProxyTimelineEvent, RunAbort, RunInfo } from './results.js';
import type { Outcome, RequestSample, TestSample } from './samples.js';

export const SAMPLE_LOG_MAGIC = Buffer.from('MTSAMPLES1\n', 'latin1');
/** The log of a result file: `results.xml` is made from `results.samples`. */
export const sampleLogPath = (xmlPath: string) => xmlPath.replace(/\.xml$/, '') + '.samples';

export const TAG = { header: 0x48, string: 0x53, request: 0x52, test: 0x54, cycle: 0x43, proxy: 0x50, abort: 0x41, end: 0x5a } as const;
/** Payload bytes of the fixed-size records (after the tag). */
export const REQUEST_BYTES = 2 * 8 + 6 * 4 + 1 + 8 * 4;
export const TEST_BYTES = 3 * 8 + 10 * 4 + 1 + 4 * 4;
export const CYCLE_BYTES = 2 * 4 + 2 * 8;
export const OUTCOMES: readonly Outcome[] = ['success', 'failure', 'error'];
const OUTCOME_CODE: Record<Outcome, number> = { success: 0, failure: 1, error: 2 };
/** Ids 1 to 8 (a request's strings) are scratch slots for strings past the cap; interned ids start at 9. */
export const SCRATCH_IDS = 8;
const MAX_STRINGS = 10_000;
const BATCH_BYTES = 64 * 1024;

/** The log could not be written (a full disk): the samples written before it stay in the file. */
export class SampleLogError extends Error {
  /** The system's error code (ENOSPC, ...) and the file, as on the error it stands for. */
  readonly code?: string;
  readonly path: string;

  constructor(file: string, cause: unknown) {
    super(`cannot write the samples to ${file} (${fsReason(cause) ?? String(cause)}): the load was stopped; the samples until then are kept there for \`marteau-tui report\``);
    this.name = 'SampleLogError';
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
    this.path = file;
  }
}

export class SampleLogWriter {
  private fd: number | undefined;
  private buf = Buffer.allocUnsafe(BATCH_BYTES);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private at = 0;
  private readonly strings = new Map<string, number>();
  private nextId = SCRATCH_IDS + 1;
  private scratch = 0;
  private header: (() => string[]) | undefined;
  /** Why the log stopped being written; from then on samples are dropped (memory stays bounded). */
  failure?: SampleLogError;
  private readonly onError?: (e: SampleLogError) => void;

  /**
   * `deferHeader`: the header (with the run's start time) is written by begin(), when the load
   * starts; records before it wait in the batch (as FunkloadXmlWriter's lines do).
   * `opts.path`: the result file the log becomes, recorded as its `log_xml`.
   * `onError`: told once when a write fails (the disk full): the caller stops the load. Writes
   * happen on the bench's timers, where a throw would end the whole process.
   */
  constructor(readonly path: string, info: RunInfo, opts: XmlHeaderOptions & { deferHeader?: boolean; onError?: (e: SampleLogError) => void } = {}) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new SampleLogError(path, e);
    }
    this.onError = opts.onError;
    this.header = () => headerLines(info, opts);
    this.write(SAMPLE_LOG_MAGIC);
    if (this.failure) throw this.failure;
    if (!opts.deferHeader) this.begin();
  }

  /** Write the header from the run's info as it is now, then whatever waited for it. */
  begin(): void {
    if (!this.header || this.fd === undefined) return;
    const text = Buffer.from(this.header().join('\n'), 'utf8');
    this.header = undefined;
    const head = Buffer.allocUnsafe(5);
    head[0] = TAG.header;
    head.writeUInt32LE(text.length, 1);
    this.write(head);
    this.write(text);
    this.flush();
  }

  request(s: RequestSample): void {
    const type = this.id(s.type);
    const url = this.id(s.url);
    const description = this.id(s.description);
    const error = this.id(s.error);
    const traceback = this.id(s.traceback);
    const suite = this.id(s.suite);
    const name = this.id(s.name);
    const node = this.id(s.node);
    const v = this.room(1 + REQUEST_BYTES);
    const p = this.at;
    v.setUint8(p, TAG.request);
    v.setFloat64(p + 1, s.start, true);
    v.setFloat64(p + 9, s.duration, true);
    v.setInt32(p + 17, s.cycle, true);
    v.setInt32(p + 21, s.cvus, true);
    v.setInt32(p + 25, s.thread, true);
    v.setInt32(p + 29, s.step, true);
    v.setInt32(p + 33, s.number, true);
    v.setInt32(p + 37, s.code, true);
    v.setUint8(p + 41, OUTCOME_CODE[s.result]);
    v.setUint32(p + 42, type, true);
    v.setUint32(p + 46, url, true);
    v.setUint32(p + 50, description, true);
    v.setUint32(p + 54, error, true);
    v.setUint32(p + 58, traceback, true);
    v.setUint32(p + 62, suite, true);
    v.setUint32(p + 66, name, true);
    v.setUint32(p + 70, node, true);
    this.at = p + 1 + REQUEST_BYTES;
  }

  test(t: TestSample): void {
    const error = this.id(t.error);
    const traceback = this.id(t.traceback);
    const suite = this.id(t.suite);
    const name = this.id(t.name);
    const v = this.room(1 + TEST_BYTES);
    let p = this.at;
    v.setUint8(p, TAG.test);
    v.setFloat64(p + 1, t.start, true);
    v.setFloat64(p + 9, t.duration, true);
    v.setFloat64(p + 17, t.connectionDuration, true);
    p += 25;
    for (const x of [t.cycle, t.cvus, t.thread, t.steps, t.requests, t.pages, t.xmlrpc ?? 0, t.redirects ?? 0, t.images ?? 0, t.links ?? 0]) {
      v.setInt32(p, x, true);
      p += 4;
    }
    v.setUint8(p++, OUTCOME_CODE[t.result]);
    for (const x of [error, traceback, suite, name]) {
      v.setUint32(p, x, true);
      p += 4;
    }
    this.at = p;
  }

  cycle(cycle: number, cvus: number, start: number, end: number): void {
    const v = this.room(1 + CYCLE_BYTES);
    const p = this.at;
    v.setUint8(p, TAG.cycle);
    v.setInt32(p + 1, cycle, true);
    v.setInt32(p + 5, cvus, true);
    v.setFloat64(p + 9, start, true);
    v.setFloat64(p + 17, end, true);
    this.at = p + 1 + CYCLE_BYTES;
  }

  proxyEvent(e: ProxyTimelineEvent): void {
    this.text(TAG.proxy, JSON.stringify(e));
  }

  /** Why the run was stopped before its end: the XML keeps it (`<marteauAbort>`). */
  abort(a: RunAbort): void {
    this.text(TAG.abort, JSON.stringify(a));
  }

  /** Hand the batch to the file (what was written survives the process), unless the header still waits. */
  flush(): void {
    if (this.failure) this.at = 0;
    if (this.fd === undefined || this.at === 0 || this.header) return;
    this.write(this.buf, this.at);
    this.at = 0;
  }

  /** The end record (the XML gets its `</funkload>`), then the file is closed. */
  close(): void {
    if (this.fd === undefined) return;
    this.room(1).setUint8(this.at++, TAG.end);
    this.begin();
    this.flush();
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** All of `data[0, length)` to the file; a failure closes the log (see `failure`). */
  private write(data: Buffer, length = data.length): void {
    if (this.fd === undefined) return;
    try {
      // A regular file takes a short write when its disk fills: the next call says why.
      for (let done = 0; done < length; ) {
        const n = writeSync(this.fd, data, done, length - done);
        if (n === 0) throw systemError('ENOSPC', 'nothing written: the disk (or a quota or a file size limit) is full', 'write', this.path);
        done += n;
      }
    } catch (e) {
      this.failure = new SampleLogError(this.path, e);
      this.header = undefined;
      this.at = 0;
      try {
        closeSync(this.fd);
      } catch {
        // closing a file we could not write to: nothing more to lose
      }
      this.fd = undefined;
      this.onError?.(this.failure);
    }
  }

  /** The id of a string, written first when new. */
  private id(s: string | undefined): number {
    if (s === undefined) return 0;
    let id = this.strings.get(s);
    if (id !== undefined) return id;
    if (this.strings.size < MAX_STRINGS) this.strings.set(s, (id = this.nextId++));
    else id = this.scratch = (this.scratch % SCRATCH_IDS) + 1;
    this.text(TAG.string, s, id);
    return id;
  }

  /** A length-prefixed record: [tag][id, when given][u32 bytes][utf-8]. */
  private text(tag: number, s: string, id?: number): void {
    const bytes = Buffer.byteLength(s, 'utf8');
    const head = id === undefined ? 5 : 9;
    const v = this.room(head + bytes);
    v.setUint8(this.at, tag);
    if (id !== undefined) v.setUint32(this.at + 1, id, true);
    v.setUint32(this.at + head - 4, bytes, true);
    this.buf.write(s, this.at + head, bytes, 'utf8');
    this.at += head + bytes;
  }

  /** Room for `n` more bytes in the batch (a full batch is written first; a huge record gets a larger batch). */
  private room(n: number): DataView {
    if (this.at + n > this.buf.length) {
      // A full batch opens the file even before the load starts, as the XML writer's lines did.
      if (this.header) this.begin();
      else this.flush();
      if (this.at + n > this.buf.length) {
        // Only while the header waits (nothing can be written yet) or for a record larger than a batch.
        const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
        this.buf.copy(bigger, 0, 0, this.at);
        this.buf = bigger;
        this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
      }
    }
    return this.view;
  }
}
