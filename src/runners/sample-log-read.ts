/**
 * Reading the compact sample log (sample-log.ts) back, and turning it into the FunkLoad XML
 * result file with the very lines FunkloadXmlWriter writes. Read in chunks, so a log of millions
 * of samples takes little memory and the event loop gets its turn between chunks. A log cut
 * short (a killed job) is read up to its last whole record.
 */
import { open, rename, rm } from 'node:fs/promises';
import { abortLine, cycleLine, LineBatch, proxyEventLine, responseLine, testResultLine } from './funkload-writer.js';
import type { ProxyTimelineEvent, RunAbort } from './results.js';
import type { RequestSample, TestSample } from './samples.js';
import { CYCLE_BYTES, OUTCOMES, REQUEST_BYTES, SAMPLE_LOG_MAGIC, TAG, TEST_BYTES } from './sample-log.js';

export interface SampleLogVisitor {
  header(lines: string[]): void;
  request(s: RequestSample): void;
  test(t: TestSample): void;
  cycle(cycle: number, cvus: number, start: number, end: number): void;
  proxyEvent(e: ProxyTimelineEvent): void;
  abort?(a: RunAbort): void;
  end(): void;
}

export interface SampleLogRead {
  requests: number;
  tests: number;
  /** The writer closed it (its end record is there); false for a log cut short by a crash. */
  complete: boolean;
  /** Bytes after the last whole record (a record cut short, or damage). */
  trailing: number;
}

export class SampleLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleLogError';
  }
}

/**
 * Read at a time: the engine's event loop (its proxies, other jobs) gets its turn between chunks,
 * every ~3.5k records (10-20 ms of formatting).
 */
const CHUNK = 256 * 1024;

/** Visit every whole record of a log, in order. */
export async function readSampleLog(path: string, visit: SampleLogVisitor): Promise<SampleLogRead> {
  const fh = await open(path, 'r');
  const out: SampleLogRead = { requests: 0, tests: 0, complete: false, trailing: 0 };
  const strings: (string | undefined)[] = [undefined];
  const str = (id: number) => strings[id];
  try {
    // One buffer for the whole read: the start of a record cut by the chunk's end is moved to
    // its front and the next chunk read after it (no copy of whole chunks).
    let space = Buffer.allocUnsafe(CHUNK);
    let carry = 0;
    let buf = space.subarray(0, 0);
    let first = true;
    let eof = false;
    let stop = false;
    while (!eof && !stop) {
      if (carry * 2 > space.length) {
        const bigger = Buffer.allocUnsafe(space.length * 2);
        space.copy(bigger, 0, 0, carry);
        space = bigger;
      }
      const { bytesRead } = await fh.read(space, carry, space.length - carry, null);
      eof = bytesRead === 0;
      buf = space.subarray(0, carry + bytesRead);
      if (first) {
        if (buf.length < SAMPLE_LOG_MAGIC.length && !eof) {
          carry = buf.length;
          continue;
        }
        if (!buf.subarray(0, SAMPLE_LOG_MAGIC.length).equals(SAMPLE_LOG_MAGIC)) throw new SampleLogError(`${path}: not a marteau-tui sample log`);
        buf = buf.subarray(SAMPLE_LOG_MAGIC.length);
        first = false;
      }
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let p = 0;
      for (;;) {
        const left = buf.length - p;
        if (left < 1) break;
        const tag = buf[p];
        let size: number;
        if (tag === TAG.request) size = 1 + REQUEST_BYTES;
        else if (tag === TAG.test) size = 1 + TEST_BYTES;
        else if (tag === TAG.cycle) size = 1 + CYCLE_BYTES;
        else if (tag === TAG.end) size = 1;
        else if (tag === TAG.header || tag === TAG.proxy || tag === TAG.abort) size = left >= 5 ? 5 + v.getUint32(p + 1, true) : Infinity;
        else if (tag === TAG.string) size = left >= 9 ? 9 + v.getUint32(p + 5, true) : Infinity;
        else {
          stop = true; // damage: what came before is all there is
          break;
        }
        if (size > left) break;
        if (tag === TAG.request) {
          out.requests++;
          visit.request({
            start: v.getFloat64(p + 1, true),
            duration: v.getFloat64(p + 9, true),
            cycle: v.getInt32(p + 17, true),
            cvus: v.getInt32(p + 21, true),
            thread: v.getInt32(p + 25, true),
            step: v.getInt32(p + 29, true),
            number: v.getInt32(p + 33, true),
            code: v.getInt32(p + 37, true),
            result: OUTCOMES[buf[p + 41]],
            type: str(v.getUint32(p + 42, true)) ?? '',
            url: str(v.getUint32(p + 46, true)) ?? '',
            description: str(v.getUint32(p + 50, true)),
            error: str(v.getUint32(p + 54, true)),
            traceback: str(v.getUint32(p + 58, true)),
            suite: str(v.getUint32(p + 62, true)),
            name: str(v.getUint32(p + 66, true)),
            node: str(v.getUint32(p + 70, true)),
          });
        } else if (tag === TAG.test) {
          out.tests++;
          const n = (i: number) => v.getInt32(p + 25 + 4 * i, true);
          const q = p + 25 + 40;
          visit.test({
            start: v.getFloat64(p + 1, true),
            duration: v.getFloat64(p + 9, true),
            connectionDuration: v.getFloat64(p + 17, true),
            cycle: n(0),
            cvus: n(1),
            thread: n(2),
            steps: n(3),
            requests: n(4),
            pages: n(5),
            xmlrpc: n(6),
            redirects: n(7),
            images: n(8),
            links: n(9),
            result: OUTCOMES[buf[q]],
            error: str(v.getUint32(q + 1, true)),
            traceback: str(v.getUint32(q + 5, true)),
            suite: str(v.getUint32(q + 9, true)),
            name: str(v.getUint32(q + 13, true)),
          });
        } else if (tag === TAG.cycle) {
          visit.cycle(v.getInt32(p + 1, true), v.getInt32(p + 5, true), v.getFloat64(p + 9, true), v.getFloat64(p + 17, true));
        } else if (tag === TAG.string) {
          strings[v.getUint32(p + 1, true)] = buf.toString('utf8', p + 9, p + size);
        } else if (tag === TAG.header) {
          visit.header(buf.toString('utf8', p + 5, p + size).split('\n'));
        } else if (tag === TAG.proxy) {
          visit.proxyEvent(JSON.parse(buf.toString('utf8', p + 5, p + size)) as ProxyTimelineEvent);
        } else if (tag === TAG.abort) {
          visit.abort?.(JSON.parse(buf.toString('utf8', p + 5, p + size)) as RunAbort);
        } else {
          out.complete = true;
          visit.end();
        }
        p += size;
      }
      // The rest is the start of a record the next chunk completes.
      carry = buf.length - p;
      buf.copy(space, 0, p);
    }
    out.trailing = carry;
  } finally {
    await fh.close();
  }
  return out;
}

/** Why a log without its end stopped, when nothing else is known: its engine died. */
const KILLED: RunAbort = { why: 'killed', reason: 'the job was killed: its samples end here' };

/**
 * Write the FunkLoad XML result file a log stands for, whole or cut short, then remove the log.
 * The file appears at once (written aside, then renamed), so a crash while converting leaves the
 * log to convert again, never half a result file beside it. `cut`: why a log without its end
 * stopped, when its job recorded why (else it was killed).
 */
export async function convertSampleLog(logPath: string, xmlPath: string, cut: RunAbort = KILLED): Promise<SampleLogRead> {
  const aside = `${xmlPath}.part`;
  const out = LineBatch.file(aside);
  let read: SampleLogRead;
  // Where the samples of a killed job end: its rates divide by the time it ran, as a stopped
  // run's do, not by the configured duration (a job killed after 12 s of 40 read 3x too slow).
  let last: number | undefined;
  let aborted = false;
  const ended = (at: number) => { if (last === undefined || at > last) last = at; };
  try {
    read = await readSampleLog(logPath, {
      header: (lines) => lines.forEach((l) => out.line(l)),
      request: (s) => { ended(s.start + s.duration); out.line(responseLine(s)); },
      test: (t) => { ended(t.start + t.duration); out.line(testResultLine(t)); },
      cycle: (c, cvus, start, end) => out.line(cycleLine(c, cvus, start, end)),
      proxyEvent: (e) => out.line(proxyEventLine(e)),
      abort: (a) => { aborted = true; out.line(abortLine(a)); },
      end: () => out.line('</funkload>'),
    });
    if (!read.complete && !aborted) out.line(abortLine({ ...cut, ...(last !== undefined ? { at: last } : {}) }));
  } finally {
    out.close();
  }
  await rename(aside, xmlPath);
  await rm(logPath, { force: true });
  return read;
}
