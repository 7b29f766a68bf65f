/**
 * Reply moderation for the plain connections (h1.ts), as a network card moderates its interrupts.
 *
 * Against an app that is the bottleneck, the runner is faster than the app: it handles the few
 * replies that came, waits in epoll, and the app's next reply wakes it. On a machine with few
 * cores (and more so in a VM, where waking an idle CPU is an exit to the hypervisor) that wake-up
 * is paid by the app, inside its write(): on bench:runner's node:http app, the app spent ~9 %
 * more CPU per request under the builtin runner than under autocannon, which is slower per
 * request and so rarely waits. So while the runner is ahead of the app, it waits for replies in
 * short naps off epoll instead (a futex with a timeout: nobody else's CPU time): the app's replies
 * meanwhile land in socket buffers without waking anyone, and the next turn takes them in one batch.
 *
 * "Ahead" starts when the event loop really waited in epoll (its idle time grew) and lasts while
 * each turn brings back at most a quarter of the requests out: a runner that is itself the
 * bottleneck finds replies waiting at every turn and never naps. A nap needs MIN_IN_FLIGHT
 * requests out (the app keeps most of them queued, so it never runs dry because of a nap) and
 * lasts NAP_MS. A reply that lands during a nap is timed up to NAP_MS late; with that many
 * requests out, it would otherwise have waited about as long in the app's queue (a closed loop's
 * mean time per request is users / throughput).
 */
import { performance } from 'node:perf_hooks';

const NAP_MS = 0.1;
const MIN_IN_FLIGHT = 8;
/** Idle time (ms) that says the loop slept in epoll, not just polled it. */
const WAITED_MS = 0.005;
const cell = new Int32Array(new SharedArrayBuffer(4));

/** One per process: all plain connections share the event loop. */
class Moderation {
  private inFlight = 0;
  private reads = 0;
  private queued = false;
  private ahead = false;
  private idleMs = 0;
  private napped = 0;
  private readonly turnEnd = () => {
    this.queued = false;
    const idle = performance.eventLoopUtilization().idle;
    if (idle - this.idleMs >= WAITED_MS) this.ahead = true;
    this.idleMs = idle;
    if (this.reads * 4 > this.inFlight) this.ahead = false;
    this.reads = 0;
    if (this.ahead && this.inFlight >= MIN_IN_FLIGHT) {
      this.napped++;
      Atomics.wait(cell, 0, 0, NAP_MS);
    }
  };

  /** Requests sent and not yet answered or failed. */
  get pending(): number {
    return this.inFlight;
  }

  /** Naps taken since the process started. */
  get naps(): number {
    return this.napped;
  }

  sent(): void {
    this.inFlight++;
  }

  settled(): void {
    this.inFlight--;
  }

  /** A read on a plain connection: the turn's reads are counted up to its check phase. */
  read(): void {
    this.reads++;
    if (!this.queued) {
      this.queued = true;
      setImmediate(this.turnEnd);
    }
  }
}

export const moderation = new Moderation();
