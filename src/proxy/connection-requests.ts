/**
 * A connection's request side: the client's bytes framed into requests, handled strictly in
 * order (each starts an exchange, may wait for its hooks or its delay), forwarded to the server,
 * and the server's end once the client has ended and every request has gone.
 */
import { performance } from 'node:perf_hooks';
import type { Segment } from './protocol.js';
import { Frames, WHOLE } from './frames.js';
import type { MixEntry } from './mix.js';
import { ConnectionFaults } from './connection-faults.js';
import { hasReplyPlan, NO_PLAN, type Exchange } from './exchange.js';
import { messageOf } from './proxy-errors.js';

export abstract class ConnectionRequests extends ConnectionFaults {
  /**
   * Some of the chunk being handled went where it may outlive the handler: a Segment queued, or
   * waiting for its hooks or its delay. A chunk whose requests were all forwarded, or answered
   * at once (a hook gets a copy of its request), may have its memory read into again
   * (reused-reads.ts).
   */
  private chunkHeld = false;
  /**
   * The last chunk was held: the next is likely held too (a mix with hooks), and gets its own
   * memory at once, the size of its bytes, rather than a 64 KiB read buffer being left to its
   * holders at every read (external memory that makes V8 collect far more often).
   */
  private lastHeld = false;

  protected onClientData(read: Buffer): void {
    this.core.counters.bytes.upstream += read.length;
    if (this.dropUpstream) return;
    const copied = this.clientReads !== undefined && this.lastHeld;
    const chunk = copied ? Buffer.from(read) : read;
    this.handling = true;
    this.stamp = performance.now();
    try {
      const framed = this.frame(chunk, 'client');
      if (!this.requestsBusy && this.requests.length === 0) {
        // Fast path: nothing queued, handle the chunk's messages in one pass until one must wait.
        const waits = framed instanceof Frames ? this.framedRequests(framed) : this.eachRequest(framed);
        if (!waits && this.clientEnded) this.maybeEndServer();
        return;
      }
      this.chunkHeld = true;
      for (const s of framed instanceof Frames ? framed.segments() : framed) this.requests.push(s);
      if (!this.requestsBusy) this.pumpRequests();
    } finally {
      this.repliesAfterChunk();
      this.handling = false;
      this.stamp = -1;
      this.flush();
      // A write the kernel did not take whole, or bytes the framer holds, point into the chunk too.
      if (this.clientReads !== undefined) {
        this.lastHeld = this.chunkHeld || this.server.writableLength > 0 || this.session.buffered() > 0;
        this.clientReads.kept = this.lastHeld && !copied;
      }
      this.chunkHeld = false;
    }
  }

  /** Handle the segments in turn until one must wait, the rest queued behind it: true then. */
  private eachRequest(segments: Segment[]): boolean {
    this.chunkHeld = true;
    for (let i = 0; i < segments.length; i++) {
      const wait = this.handleRequest(segments[i]);
      if (wait) {
        for (let j = i + 1; j < segments.length; j++) this.requests.push(segments[j]);
        this.waitThen(wait, () => this.pumpRequests());
        return true;
      }
    }
    return false;
  }

  /**
   * The same for messages framed into offsets: a whole request whose drawn behavior has no hook
   * (no toxic active) is forwarded as a range of the chunk, with no Segment made for it.
   */
  private framedRequests(f: Frames): boolean {
    const { starts, ends, flags } = f;
    const plain = this.core.toxics.length === 0 && this.protocol.framesReplies && !(this.core.hostHeader && this.protocol.rewriteHost);
    for (let i = 0; i < f.count; i++) {
      let wait: Promise<void> | undefined;
      if (plain && flags[i] === WHOLE && !this.dropUpstream && !this.closed) {
        const entry = this.drawEntry();
        if (!entry.behavior.onExchange) {
          this.forwardUntouched(f.bufOf(i), starts[i], ends[i]);
          continue;
        }
        const buf = f.bufOf(i);
        const fixed = entry.fixed;
        const error = fixed !== undefined && fixed.length === 1 && fixed[0].type === 'error' ? fixed[0] : undefined;
        if (error === undefined) {
          wait = this.handleRequest(f.segment(i), entry);
        } else {
          // One kind and one view of the request for all that follows: a tenth of the exchanges at 10:error.
          const kind = this.errorKind(error.kind);
          const request = buf.subarray(starts[i], ends[i]);
          // An error the server would not give this request (a read to a read-only replica): it goes as nothing drawn.
          if (!this.refusedAs(kind, f.labels[i], request, undefined, error.message)) {
            this.forwardUntouched(buf, starts[i], ends[i]);
            continue;
          }
          if (this.standInFor(kind, request, true, undefined, error.message)) wait = this.handleRequest(f.segment(i), entry);
          else this.answerFixedError(entry, kind, error.message, request, f.labels[i]);
        }
        // Withheld (an injected error), amid a chunk read into memory of the connection's own:
        // hooks got copies of their requests, so the bytes before it may move up (Outbox.closeGap).
        if (wait === undefined && this.clientReads !== undefined && i < f.count - 1) this.notForwarded(buf, starts[i], ends[i]);
      } else {
        wait = this.handleRequest(f.segment(i));
      }
      if (wait) {
        this.chunkHeld = true;
        for (const s of f.segments(i + 1)) this.requests.push(s);
        this.waitThen(wait, () => this.pumpRequests());
        return true;
      }
    }
    return false;
  }

  private pumpRequests(): void {
    this.requestsBusy = true;
    while (this.requests.length && !this.closed) {
      const wait = this.handleRequest(this.requests.shift()!);
      if (wait) {
        this.waitThen(wait, () => this.pumpRequests());
        return;
      }
    }
    this.requestsBusy = false;
    this.maybeEndServer();
  }

  private waitThen(wait: Promise<void>, next: () => void): void {
    this.requestsBusy = true;
    wait.then(
      () => { if (!this.closed) next(); },
      (err) => { this.core.log('error', `connection ${this.id}: ${messageOf(err)}`); this.destroy(); },
    );
  }

  /** `drawn`: the behavior already drawn for this request. */
  private handleRequest(seg: Segment, drawn?: MixEntry): Promise<void> | undefined {
    if (this.dropUpstream || this.closed) return undefined;
    if (seg.passthrough) {
      this.writeServer(seg.data);
      return undefined;
    }
    if (seg.start) {
      const started = this.startExchange(seg, drawn);
      if (started) return started.then(() => this.continueRequest(seg, true));
      return this.continueRequest(seg, true);
    }
    return this.continueRequest(seg, false);
  }

  private continueRequest(seg: Segment, first: boolean): Promise<void> | undefined {
    const ex = this.current;
    if (!ex || this.closed || this.dropUpstream) return undefined;
    if (first && ex.request.delayMs > 0) {
      return this.sleep(ex.request.delayMs).then(() => this.sendRequest(ex, seg));
    }
    return this.sendRequest(ex, seg);
  }

  private sendRequest(ex: Exchange, seg: Segment): Promise<void> | undefined {
    if (this.closed) return undefined;
    let wait: Promise<void> | undefined;
    // A stand-in goes in place of the request's first segment; the rest of it goes nowhere.
    if (!ex.skip && (ex.standIn === undefined || seg.start)) {
      const host = seg.start ? this.core.hostHeader : undefined;
      const data = ex.standIn ?? (host && this.protocol.rewriteHost ? this.protocol.rewriteHost(seg.data, host) : seg.data);
      if (ex.request === NO_PLAN) this.writeServer(data);
      else wait = this.writeShaped(data, ex.request, this.toServerWriter);
    }
    if (!seg.end) return wait;
    if (wait) return wait.then(() => this.requestSent(ex));
    this.requestSent(ex);
    return undefined;
  }

  private requestSent(ex: Exchange): void {
    this.current = undefined;
    if (ex.abort) {
      // Let the request reach the server, then cut both sides before any reply.
      this.dropUpstream = true;
      this.flush();
      this.server.end(() => this.destroy());
      this.client.destroy();
      return;
    }
    if (ex.skip || ex.noReply) {
      // Inside a client chunk, the chunk's end decides when it goes (repliesAfterChunk).
      if (ex.injected && !this.handling) this.pumpReplies();
      return;
    }
    if (this.protocol.framesReplies) {
      if (!ex.replyEnded) this.awaiting.push(ex);
    } else {
      const previous = this.attributed;
      if (previous) {
        previous.replyEnded = true;
        this.pumpReplies();
      }
      this.attributed = ex;
      if (hasReplyPlan(ex.reply)) this.replies.push(ex);
    }
    // No reply can come any more: do not let this request hold the client's close.
    if (this.serverEnded) this.pumpReplies();
  }

  protected maybeEndServer(): void {
    if (!this.clientEnded || this.requestsBusy || this.requests.length || this.closed) return;
    this.later(this.slowCloseMs, () => {
      this.flush();
      this.server.end();
    });
  }
}
