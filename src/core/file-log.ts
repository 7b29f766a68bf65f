/** The embedded queue's records: the journal file (see queue.ts for the queue over it). */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { fsReason } from '../fs/errors.js';
import { Journal, MAX_RECORD_BYTES, RecordTooLargeError, UnsyncedRecordError } from './journal.js';
import { isWellFormed, type JournalRecord } from './jobs.js';
import { QueueError, short, type RecordLog } from './queue-types.js';

const POLL_MS = 300;

/** The journal file under the state dir as a RecordLog. */
export class FileLog implements RecordLog {
  private readonly journal: Journal<JournalRecord>;
  private offset = 0;
  private linesRead = 0;
  /** Line numbers (from 1) of the damaged lines skipped so far. */
  readonly damagedLines: number[] = [];
  /** Told of a record appended whole whose sync failed (see append). */
  warn?: (message: string) => void;

  constructor(readonly file: string) {
    this.journal = new Journal<JournalRecord>(file, isWellFormed);
  }

  open(): Promise<void> {
    return this.journal.open();
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  readOnly(): string | undefined {
    const e = this.journal.readOnly;
    if (!e) return undefined;
    return `the state dir ${path.dirname(this.file)} is read-only (${fsReason(e) ?? e.message}): its jobs can be listed and reported, but nothing can be enqueued, cancelled or run there; give a writable --state-dir (or copy it to one)`;
  }

  async append(r: JournalRecord): Promise<void> {
    const readOnly = this.readOnly();
    if (readOnly) throw new QueueError(readOnly);
    try {
      await this.journal.append(r);
    } catch (e) {
      if (e instanceof RecordTooLargeError) {
        throw new QueueError(`this job's description is too long to record (over ${MAX_RECORD_BYTES} bytes): shorten its name or path`);
      }
      // Written whole, read by every process, and not to be taken back: what it records happened
      // (a job queued, cancelled, ended), and telling the caller it failed would have it done
      // twice or end a run as an internal error. Only a power cut may still lose it.
      if (!(e instanceof UnsyncedRecordError)) throw e;
      const what = unsyncedWhat(r);
      if (what) this.warn?.(`${what}, but ${e.message}: a power cut may lose it; check that disk (dmesg)`);
    }
  }

  async readNew(): Promise<JournalRecord[]> {
    const { records, offset, damaged, lines } = await this.journal.read(this.offset);
    this.offset = offset;
    for (const n of damaged) this.damagedLines.push(this.linesRead + n);
    this.linesRead += lines;
    return records;
  }

  watch(onChange: () => Promise<void>): () => void {
    const changed = () => void onChange().catch(() => {});
    // fs.watch is fast but may miss events (network filesystems, some containers); the poll is
    // the safety net. Both only trigger a cheap read of the new bytes.
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.file, { persistent: false }, changed);
      watcher.on('error', () => {});
    } catch {
      watcher = undefined;
    }
    const poller = setInterval(changed, POLL_MS);
    poller.unref();
    return () => {
      watcher?.close();
      clearInterval(poller);
    };
  }
}

/**
 * What a record written but not synced did, in words; none for a process's record: the power cut
 * that would lose it ends that process too.
 */
function unsyncedWhat(r: JournalRecord): string | undefined {
  switch (r.t) {
    case 'enqueued':
      return `job ${short(r.job.id)} is queued`;
    case 'claimed':
      return `the start of job ${short(r.id)} here is recorded`;
    case 'cancel':
      return `the cancel of job ${short(r.id)} is recorded`;
    case 'finished':
      return `the end of job ${short(r.id)} (${r.status}) is recorded`;
    case 'requeued':
      return `job ${short(r.id)} is back in the queue`;
    case 'node':
      return `node ${r.name} is ${r.enabled ? 'enabled' : 'disabled'}`;
    case 'purged':
      return `${r.ids.length} finished job${r.ids.length === 1 ? ' is' : 's are'} purged`;
    case 'proc':
      return undefined;
  }
}
