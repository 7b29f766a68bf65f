/**
 * A copy of fl-run-bench's result XML as FunkLoad writes it on an SSH node (its logger flushes
 * every record), streamed by `tail -F` from the first byte into the job's result file. Should the
 * node be lost mid-bench, its own file can no longer be fetched: this copy, up to the last line
 * received, is what the report is made of. A bench that ends well keeps it once it holds the
 * node's file whole, so that megabytes of XML do not cross the link twice.
 */
import { statSync } from 'node:fs';
import { NodeError } from '../../exec/executor.js';
import { MAX_DATA_LINE_CHARS } from '../../exec/lines.js';
import type { RunnerContext, RunnerNode } from '../../core/runner-contract.js';
import { LineBatch } from '../funkload-writer.js';

/**
 * How long the copy may stand still short of the node's file before it is given up for a fetch:
 * tail -F looks at the file every second when it cannot be told of writes (no inotify).
 */
const STALL_MS = 5000;

export class ResultFollower {
  private readonly stopper = new AbortController();
  private readonly following: Promise<void>;
  /** Bytes of the lines copied, and of the line being received (not in the copy yet). */
  private bytes = 0;
  private partial = 0;
  /** A line the copy does not hold as sent: not UTF-8 (replaced), or cut. */
  private altered = false;
  /** tail ended, by itself (the follow failed) or stopped. */
  private ended = false;
  private moved: (() => void) | undefined;

  /** `signal`: the job's, which stops it as the bench is stopped. */
  constructor(private readonly ctx: RunnerContext, private readonly node: RunnerNode, readonly remote: string, readonly local: string, signal: AbortSignal) {
    this.following = this.follow(AbortSignal.any([this.stopper.signal, signal]));
  }

  /** Follows `remote` into `local` until stopped or the node's loss; never throws. */
  private async follow(signal: AbortSignal): Promise<void> {
    const copy = LineBatch.file(this.local);
    try {
      await this.node.executor.run(['tail', '-c', '+1', '-F', this.remote], {
        signal,
        maxLineChars: MAX_DATA_LINE_CHARS,
        onLine: (line, stream) => {
          if (stream !== 'stdout') return;
          copy.line(line);
          this.bytes += Buffer.byteLength(line) + 1;
          this.partial = 0;
          if (line.length > MAX_DATA_LINE_CHARS || line.includes('\uFFFD')) this.altered = true;
          this.moved?.();
        },
        onPartial: (text) => {
          this.partial = Buffer.byteLength(text);
          this.moved?.();
        },
        onStart: ({ pgid }) => this.ctx.recordProcess(this.node.name, pgid),
      });
    } catch (e) {
      // The node lost: the bench's own run says so. Anything else only costs the copy.
      if (!(e instanceof NodeError)) this.ctx.log(`cannot follow the result file ${this.remote} (${(e as Error).message}): a loss of the node mid-run would leave no report`, { node: this.node.name, stream: 'engine', level: 'warn' });
    } finally {
      copy.close();
      this.ended = true;
      this.moved?.();
    }
  }

  /**
   * The bench over, its file `size` bytes on the node: waits for the rest of it to come, stops
   * following, and says whether the copy is that file byte for byte (else it is to be fetched).
   * The file only grew, so a copy of its size, of lines received as written, is the file.
   */
  async keep(size: number): Promise<boolean> {
    while (!this.ended && this.bytes + this.partial < size) {
      const came = await new Promise<boolean>((resolve) => {
        const stalled = setTimeout(() => resolve(false), STALL_MS);
        this.moved = () => {
          clearTimeout(stalled);
          resolve(true);
        };
      });
      if (!came) break;
    }
    this.moved = undefined;
    // tail gone before it was stopped: the follow failed, whatever it copied.
    const failed = this.ended;
    // A last line without its newline would get one in the copy.
    const open = this.partial > 0;
    await this.stop();
    return !failed && !open && !this.altered && this.bytes === size && statSync(this.local).size === size;
  }

  /** Bytes in the copy. */
  get copied(): number {
    return statSync(this.local, { throwIfNoEntry: false })?.size ?? 0;
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.following;
  }
}
