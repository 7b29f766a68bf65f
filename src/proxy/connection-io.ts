/**
 * The sockets of one proxied connection and the state its two sides share: writes batched per
 * tick into one write per side, shaped (corrupt, throttle, slice) and limited (limit_data), and
 * the timers that die with the connection. The reply side, the framing guard, the behaviors'
 * hooks, the fault actions and the request side are layered on top (connection-replies.ts,
 * connection-framing.ts, connection-hooks.ts, connection-faults.ts, connection-requests.ts), as
 * one class chain so that a call between them costs what a call inside one class did.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS, type Stream } from './plugin.js';
import type { FramerSession, Protocol, Segment } from './protocol.js';
import { NO_PLAN, type Exchange, type ReplyPlan } from './exchange.js';
import { Outbox } from './outbox.js';
import { Fifo } from './fifo.js';
import { framesOffsets, type OffsetFramer } from './frames.js';
import { randomBytes } from './protocols/tcp.js';
import type { ProxyCore } from './proxy-core.js';
import { HEADROOM, type ReusedReads } from './reused-reads.js';

export abstract class ConnectionIO {
  protected readonly session: FramerSession;
  /** The session frames into offsets (frames.ts): the data handlers take its Frames. */
  protected readonly offsets: OffsetFramer | undefined;
  protected readonly protocol: Protocol;
  protected raw = false;
  /**
   * With `raw`: only the client's bytes pass through; the session still frames the replies
   * owed to the requests framed before (FramerSession.stopRequests), until it passes the
   * server's bytes through too.
   */
  protected serverFramed = false;
  /** Segments from the client not handled yet (held while an exchange waits). */
  protected requests: Segment[] = [];
  protected requestsBusy = false;
  protected current?: Exchange;
  /** Forwarded exchanges waiting for their reply from the server, oldest first. */
  protected readonly awaiting = new Fifo<Exchange>();
  /** Exchanges whose reply the client has still to receive, in request order. */
  protected readonly replies = new Fifo<Exchange>();
  protected repliesBusy = false;
  /** For protocols without reply framing: the exchange the server's bytes are attributed to. */
  protected attributed?: Exchange;
  /**
   * The client's bytes go no further: a `timeout` toxic upstream, or a fault that ends the
   * connection (blackout, abort, a closing error), whose requests behind it, in the same read,
   * must reach no one and are not drawn.
   */
  protected dropUpstream = false;
  protected dropDownstream = false;
  protected limits: Record<Stream, number> = { upstream: Infinity, downstream: Infinity };
  /**
   * Some limit_data acted on this connection: only then do writes look `limits` up (a keyed load
   * by two names, megamorphic in V8, at every write).
   */
  protected limitSet = false;
  protected slowCloseMs = 0;
  protected clientEnded = false;
  protected serverEnded = false;
  protected closed = false;
  protected timers = new Set<NodeJS.Timeout>();
  /** Bytes of this tick for each side, written once per data event (or per tick for timers). */
  private readonly toServer = new Outbox();
  private readonly toClient = new Outbox();
  /** Inside a socket's data handler, which flushes the outboxes when it is done. */
  protected handling = false;
  /**
   * The server chunk being handled, when it was read into reused memory and framed into offsets,
   * and where in it the replies not yet handled start (writeInjected).
   */
  protected serverChunk: Buffer | undefined = undefined;
  /** -1 while the replies to come do not lie in the chunk (bytes joined from an earlier one). */
  protected serverNext = -1;
  private flushQueued = false;
  private readonly flushSoon = () => {
    this.flushQueued = false;
    this.flush();
  };
  /** writeServer and writeClient as values, made once: writeShaped takes one per exchange. */
  protected readonly toServerWriter = (b: Buffer) => this.writeServer(b);
  protected readonly toClientWriter = (b: Buffer) => this.writeClient(b);
  /** performance.now() at the start of the data event being handled, else -1 (see clock()). */
  protected stamp = -1;
  readonly id: number;
  readonly openedAt = performance.now();

  constructor(
    protected readonly core: ProxyCore,
    protected readonly client: net.Socket,
    protected readonly server: net.Socket,
    /** When the upstream socket reads into a reused buffer (reused-reads.ts). */
    protected readonly reads?: ReusedReads,
    /** When the client socket does. */
    protected readonly clientReads?: ReusedReads,
  ) {
    this.protocol = core.protocol;
    this.session = this.protocol.createSession(core.shared);
    this.offsets = framesOffsets(this.session) ? this.session : undefined;
    this.id = core.nextConnectionId();
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('error', (err) => {
      this.passReset(err, server);
      this.destroy();
    });
    let connected = false;
    // Reached once bytes can flow: after the handshake when the server speaks TLS.
    server.once((server as { encrypted?: boolean }).encrypted ? 'secureConnect' : 'connect', () => {
      connected = true;
      core.upstreamReached();
    });
    server.on('error', (err) => {
      if (!connected) core.upstreamFailed(err);
      else this.passReset(err, client);
      this.destroy();
    });
    client.on('close', () => this.destroy());
    server.on('close', () => this.destroy());
  }

  abstract destroy(): void;

  /**
   * A reset from one side reaches the other as a reset, as with no proxy between them: a client
   * library tells a peer that crashed (ECONNRESET) from one that closed, and may retry
   * differently (Toxiproxy closes instead). The bytes that came before it go first.
   */
  private passReset(err: Error, other: net.Socket): void {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' || this.closed) return;
    this.flush();
    other.resetAndDestroy();
  }

  // ---- shaping and writing ----------------------------------------------------------------

  protected writeShaped(data: Buffer, plan: ReplyPlan, write: (b: Buffer) => void): Promise<void> | undefined {
    if (plan === NO_PLAN) {
      write(data);
      return undefined;
    }
    let bytes = data;
    if (plan.corrupt && bytes.length) {
      const mid = bytes.length >> 1;
      bytes = Buffer.concat([bytes.subarray(0, mid), randomBytes(plan.corrupt, this.core.random), bytes.subarray(mid)]);
      plan.corrupt = 0;
    }
    if (!plan.throttle && !plan.slice) {
      write(bytes);
      return undefined;
    }
    return this.paced(bytes, plan, write);
  }

  private async paced(data: Buffer, plan: ReplyPlan, write: (b: Buffer) => void): Promise<void> {
    let offset = 0;
    while (offset < data.length && !this.closed) {
      let size: number;
      let pause: number;
      if (plan.slice) {
        const v = plan.slice.sizeVariation;
        size = Math.max(1, Math.round(plan.slice.averageSize + (this.core.random() * 2 - 1) * v));
        pause = plan.slice.delayMs;
      } else {
        // Bandwidth: 100 ms worth of bytes per write, as Toxiproxy does.
        size = Math.max(1, Math.floor(plan.throttle! / 10));
        pause = 0;
      }
      const piece = data.subarray(offset, offset + size);
      offset += piece.length;
      // How long the piece takes at the throttle's rate.
      const takes = plan.throttle ? (piece.length / plan.throttle) * 1000 : 0;
      if (plan.link) {
        // The piece waits for its turn on the shared link, then holds the link for its time.
        const now = performance.now();
        const start = Math.max(now, plan.link.busyUntil);
        plan.link.busyUntil = start + takes;
        if (start > now) await this.sleep(start - now);
        if (this.closed) return;
      }
      write(piece);
      pause = Math.max(pause, takes);
      // Bandwidth also owes the pause after its last piece; slices only pause between pieces.
      if (pause > 0 && (plan.throttle || offset < data.length)) await this.sleep(pause);
    }
  }

  protected writeServer(data: Buffer): void {
    this.toServer.add(data);
    this.flushLater();
  }

  protected writeClient(data: Buffer): void {
    this.toClient.add(data);
    this.flushLater();
  }

  /**
   * An injected reply: while a server chunk read into reused memory is handled, put in front of
   * the chunk's replies still to come (from `serverNext` on), in its memory (Outbox.insertBefore).
   */
  protected writeInjected(bytes: Buffer): void {
    const chunk = this.serverChunk;
    if (chunk !== undefined) {
      const memory = this.reads!.handledMemory();
      if (memory !== undefined && this.serverNext >= 0 && this.toClient.insertBefore(bytes, chunk, memory, HEADROOM, this.serverNext)) return;
    }
    this.writeClient(bytes);
  }

  /** writeServer and writeClient of bytes [from, to) of `buf`, with no view made of them. */
  protected forwardRange(buf: Buffer, from: number, to: number): void {
    this.toServer.addRange(buf, from, to);
    this.flushLater();
  }

  /** Bytes [from, to) of `buf`, a chunk of the connection's own, were not forwarded (Outbox.closeGap). */
  protected notForwarded(buf: Buffer, from: number, to: number): void {
    this.toServer.closeGap(buf, from, to);
  }

  protected deliverRange(buf: Buffer, from: number, to: number): void {
    this.toClient.addRange(buf, from, to);
    this.flushLater();
  }

  /** Outside a data handler (timers, hooks that waited), the writes of one tick go out together. */
  private flushLater(): void {
    if (this.handling || this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushSoon);
  }

  /** Write what the outboxes hold: one write per side. Also before any end(), so no byte is left behind. */
  protected flush(): void {
    if (!this.toServer.empty && !this.limited(this.toServer.take()!, 'upstream', this.server)) this.client.pause();
    if (!this.toClient.empty && !this.limited(this.toClient.take()!, 'downstream', this.client)) this.server.pause();
  }

  private limited(data: Buffer, stream: Stream, target: net.Socket): boolean {
    if (this.closed) return true;
    if (!this.limitSet) return target.write(data);
    const budget = this.limits[stream];
    if (budget === Infinity) return target.write(data);
    if (data.length < budget) {
      this.limits[stream] = budget - data.length;
      return target.write(data);
    }
    if (budget > 0) target.write(data.subarray(0, budget));
    this.limits[stream] = 0;
    target.end(() => this.destroy());
    return true;
  }

  // ---- helpers ----------------------------------------------------------------------------

  /**
   * The time for latency figures: the exchanges of one chunk are forwarded (or answered) by one
   * write, so they share the clock read at the start of its data event, one read per chunk.
   */
  protected clock(): number {
    return this.stamp >= 0 ? this.stamp : performance.now();
  }

  protected later(ms: number, fn: () => void): void {
    // A plugin may still ask for more than a timer holds: wait the most it can, then check again.
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, Math.min(ms, MAX_TIMER_MS));
    this.timers.add(t);
  }

  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(performance.now() + ms, resolve));
  }

  /**
   * Run `fn` at `deadline` (performance.now() time) within ~0.1 ms: a timer gets close (they fire
   * up to a millisecond late), then the event loop's check phase finishes the wait without
   * blocking I/O. Delay accuracy is a promise of the proxy, so it is worth the few wake-ups.
   */
  protected at(deadline: number, fn: () => void): void {
    const check = () => {
      if (this.closed) return;
      const left = deadline - performance.now();
      if (left <= 0.05) fn();
      else if (left > 2) this.later(left - 1.5, check);
      else setImmediate(check);
    };
    check();
  }
}
