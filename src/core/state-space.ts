/**
 * A state dir whose disk (or the user's quota) is full: a job cannot even write its seed there,
 * so a worker would fail its whole queue within a second. Instead, starts are held until a
 * probe of PROBE_BYTES can be written again, tried every few seconds while held. A disk that
 * fails the journal's writes (EIO) is said once and tried again until a write goes through.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fsReason } from '../fs/errors.js';

/** The disk, the user's quota, the process's file size limit (ulimit -f). */
const FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);
/** Room a job needs at least to start: its seed, the start of its output, a batch of samples. */
const PROBE_BYTES = 64 * 1024;
const CHECK_MS = 5000;

/** A write to a file (its `path`) refused for want of room. */
export function isDiskFull(e: unknown): boolean {
  const { code, path } = (e ?? {}) as NodeJS.ErrnoException;
  return typeof code === 'string' && FULL.has(code) && typeof path === 'string';
}

/** A write to a file (its `path`) that the disk failed: EIO, a failing disk, not a bug. */
export function isDiskFailing(e: unknown): boolean {
  const { code, path } = (e ?? {}) as NodeJS.ErrnoException;
  return code === 'EIO' && typeof path === 'string';
}

export class SpaceWatch {
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly root: string,
    /** Called once there is room again. */
    private readonly onRoom: () => void,
  ) {}

  get held(): boolean {
    return this.timer !== undefined;
  }

  /** Hold starts until there is room; true when they were not held already. */
  hold(): boolean {
    if (this.timer) return false;
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const probe = path.join(this.root, `.room-${process.pid}`);
    try {
      await writeFile(probe, Buffer.alloc(PROBE_BYTES));
      this.stop();
      this.onRoom();
    } catch {
      // still full
    } finally {
      await rm(probe, { force: true }).catch(() => {});
      this.checking = false;
    }
  }
}

/**
 * The journal's disk failing its writes: nothing this process does mends it, so it is said once,
 * not at each of the scheduler's tries, and what could not be recorded (a job's end) is tried
 * again every CHECK_MS; the first write that goes through again ends it.
 */
export class FailingJournal {
  private timer?: NodeJS.Timeout;
  /** The file whose write failed, while it fails. */
  file?: string;
  /** The failed write, in words (the file, the error); undefined while the journal takes writes. */
  failure?: string;

  constructor(
    /** Called every CHECK_MS while it fails. */
    private readonly retry: () => void,
  ) {}

  /** A write failed (`e`, see isDiskFailing): true when it is news (the writes before went through). */
  failed(e: unknown): boolean {
    if (this.failure !== undefined) return false;
    this.file = (e as NodeJS.ErrnoException).path;
    this.failure = `cannot write ${this.file} (${fsReason(e)})`;
    this.timer = setInterval(this.retry, CHECK_MS);
    this.timer.unref();
    return true;
  }

  /** A write went through: true when it had failed until now. */
  wrote(): boolean {
    if (this.failure === undefined) return false;
    this.stop();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.failure = undefined;
  }
}
