/** A running job's output: the tail views show, and its full console.log, bounded in size. */
import { createWriteStream, type WriteStream } from 'node:fs';
import { fsReason } from '../fs/errors.js';
import type { LogStream } from './events.js';

export interface LogLine {
  at: number;
  node?: string;
  stream: LogStream;
  line: string;
}

/** Lines kept per running job for views; the full output is in the job's console.log. */
export const TAIL_LINES = 200;
/** console.log stops growing past this (a runaway tool must not fill the disk). */
const MAX_CONSOLE_BYTES = 50 * 1024 * 1024;

/** The job's full output, with node and stream, bounded in size. */
export class ConsoleFile {
  private readonly out: WriteStream;
  private bytes = 0;
  private full = false;
  private failed = false;

  /** `lost`: told once when the file refuses a write (a full disk): the output after it is not kept. */
  constructor(file: string, lost?: (why: string) => void) {
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', (e) => {
      if (this.failed) return;
      this.failed = true;
      lost?.(`cannot write the job's output to ${file} (${fsReason(e) ?? e.message}): from here it is shown but not kept`);
    });
  }

  write(l: LogLine): void {
    if (this.full || this.failed) return;
    const text = `${new Date(l.at).toISOString()} ${l.node ?? '-'} ${l.stream} ${l.line}\n`;
    this.bytes += Buffer.byteLength(text);
    if (this.bytes > MAX_CONSOLE_BYTES) {
      this.full = true;
      this.out.write(`${new Date().toISOString()} - engine console.log reached ${MAX_CONSOLE_BYTES / 1048576} MB; further output is not kept\n`);
      return;
    }
    this.out.write(text);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

