/**
 * A connection's reply side: the server's bytes framed into replies and delivered to the client
 * in request order, with injected (error) replies and held (delayed, shaped) ones among them;
 * the end of the server's stream. The framing guard that falls back to pass-through, and what
 * becomes of the replies waiting then, is the layer above (connection-framing.ts).
 */
import { performance } from 'node:perf_hooks';
import type { Segment } from './protocol.js';
import { ConnectionIO } from './connection-io.js';
import { copyOf, Frames, PASS, START, END } from './frames.js';
import { NO_CHUNKS, NO_PLAN, type Exchange } from './exchange.js';

/**
 * How long an injected reply waits for the server's replies behind it (repliesAfterChunk): it
 * goes with the server's next bytes, so this bound only matters when they are slow to come (a
 * blocking command behind it). 1 ms was less than a loaded server's turn: the reply then went
 * alone in ~40 % of the waits, and the client's next requests split into smaller batches.
 */
const INJECTED_WAIT_MS = 5;

/** Spare exchanges a connection keeps: a pipeline's depth of them, more are left to the GC. */
const MAX_SPARES = 64;

export abstract class ConnectionReplies extends ConnectionIO {
  /** Delivered reusable exchanges, for forwardUntouched and answerFixedError to renew. */
  protected readonly spares: Exchange[] = [];
  /** Set while an injected reply waits for the server's replies behind it. */
  private injectedTimer?: NodeJS.Timeout;

  /**
   * The server ended with a reply owed that never came (the reply's place of every injected one
   * behind it, its own stand-in's included): those are not sent (pumpReplies).
   */
  private replyLost = false;

  /** The chunk's messages, or its bytes to pass through once framing stopped (connection-framing.ts). */
  protected abstract frame(chunk: Buffer, side: 'client' | 'server'): Segment[] | Frames;
  /** Server bytes after framing stopped, owed to the exchanges still waiting (connection-framing.ts). */
  protected abstract unframedReply(data: Buffer): void;
  /** Framing stopped and an injected reply lost its place: the connection ends (connection-framing.ts). */
  protected abstract orderLost(): boolean;
  /** An injected reply went to the client: a count that waited for it is made (connection-faults.ts). */
  protected abstract injectedDelivered(ex: Exchange): void;
  /** An injected reply will never go: its count, which waited for it, is made as nothing done (connection-faults.ts). */
  protected abstract injectedLost(ex: Exchange): void;

  protected onServerData(chunk: Buffer): void {
    this.core.counters.bytes.downstream += chunk.length;
    if (this.dropDownstream) return;
    this.handling = true;
    this.stamp = performance.now();
    try {
      const framed = this.frame(chunk, 'server');
      if (framed instanceof Frames) {
        if (this.reads !== undefined && framed.buf === chunk) this.serverChunk = chunk;
        this.framedReplies(framed);
      } else {
        for (let i = 0; i < framed.length; i++) this.handleReply(framed[i]);
      }
      this.pumpReplies();
      // The run at the head whose requests got their replies in this chunk, timed together
      // (untouchedPiece, handleReply) once no byte of them is held any more.
      const head = this.awaiting.first();
      if (head !== undefined && head.membersEnded > head.membersTimed && head.chunks.length === 0) this.timed(head, head.membersEnded);
    } finally {
      this.handling = false;
      this.stamp = -1;
      this.serverChunk = undefined;
      this.flush();
      // A write the kernel did not take whole, or bytes the framer holds, still point into the chunk.
      if (this.reads !== undefined) this.reads.kept = this.client.writableLength > 0 || this.session.buffered() > 0;
    }
  }

  /** Reply bytes held past their chunk's handler: a copy when the chunk's memory is reused (reused-reads.ts). */
  private kept(data: Buffer): Buffer {
    return this.reads === undefined ? data : copyOf(data, 0, data.length);
  }

  /** The replies of one chunk, framed into offsets: an untouched one costs no Segment. */
  private framedReplies(f: Frames): void {
    const { starts, ends, flags } = f;
    for (let i = 0; i < f.count; i++) {
      const fl = flags[i];
      let ex0: Exchange | undefined;
      if ((fl & PASS) === 0) {
        ex0 = this.nextUntouched();
        // Behind an injected reply: that one goes first, then this one is next in line.
        const next = this.awaiting.first();
        if (ex0 === undefined && next !== undefined && this.injectedAhead(next)) {
          this.serverNext = f.bufOf(i) === this.serverChunk ? starts[i] : -1;
          this.pumpReplies();
          ex0 = this.nextUntouched();
        }
      }
      if (ex0 === undefined) {
        // Injected replies ahead of it may go first (handleReply): in front of its bytes, not
        // where an earlier reply left serverNext (the last chunk's end: insertBefore then wrote
        // them over this one). A reply to a request still being sent (Postgres' Flush) belongs
        // to no awaiting exchange, so the branch above does not set it for this one.
        this.serverNext = f.bufOf(i) === this.serverChunk ? starts[i] : -1;
        this.handleReply(f.segment(i));
      } else {
        this.deliverRange(f.bufOf(i), starts[i], ends[i]);
        this.untouchedPiece(ex0, (fl & START) !== 0, (fl & END) !== 0);
      }
    }
    // Injected replies due after the chunk's last reply go after it (onServerData's pumpReplies).
    const last = f.count - 1;
    this.serverNext = last >= 0 && f.bufOf(last) === this.serverChunk ? ends[last] : -1;
  }

  /**
   * The common case: the oldest exchange, when the reply bytes coming are its own, next in line
   * for the client and untouched (they go straight out).
   */
  private nextUntouched(): Exchange | undefined {
    const ex0 = this.awaiting.first();
    if (ex0 === undefined || ex0 !== this.replies.first() || this.repliesBusy) return undefined;
    return ex0.reply === NO_PLAN && ex0.chunks.length === 0 && !ex0.replace ? ex0 : undefined;
  }

  /** Injected replies wait at the head of the queue, ahead of `ex`'s. */
  private injectedAhead(ex: Exchange | undefined): boolean {
    const head = this.replies.first();
    return head !== ex && head !== undefined && head.injected !== undefined && !this.repliesBusy;
  }

  private untouchedPiece(ex: Exchange, start: boolean, end: boolean): void {
    if (start) ex.replyStarted = true;
    // One request of a run has its reply: the run stays at the head for the next one's, and the
    // replies its requests got in this chunk are timed together at the chunk's end (onServerData).
    if (!end || ++ex.membersEnded < ex.members) return;
    this.awaiting.shift();
    this.replies.shift();
    ex.replyEnded = true;
    this.delivered(ex);
    this.spare(ex);
  }

  /** Out of the queues: when held nowhere else, the next reused exchange (Exchange.renew). */
  private spare(ex: Exchange): void {
    if (ex.reusable && this.spares.length < MAX_SPARES) this.spares.push(ex);
  }

  protected handleReply(seg: Segment): void {
    const ex0 = seg.passthrough ? undefined : this.nextUntouched();
    if (ex0 !== undefined) {
      this.writeClient(seg.data);
      this.untouchedPiece(ex0, seg.start, seg.end);
      return;
    }
    if (seg.passthrough) {
      if (this.raw && this.protocol.framesReplies && !this.serverEnded) {
        this.unframedReply(seg.data);
        return;
      }
      const ex = this.protocol.framesReplies ? this.awaiting.first() : this.attributed;
      if (ex && !this.protocol.framesReplies) this.firstReplyByte(ex);
      if (ex && this.replies.includes(ex)) ex.hold(this.kept(seg.data));
      else if (this.replies.length) this.holdLast(seg.data);
      else {
        this.writeClient(seg.data);
        if (ex && !this.protocol.framesReplies) this.delivered(ex);
      }
      return;
    }
    // A server may answer before the request has ended (Postgres Flush paging): the reply then
    // belongs to the request still being sent.
    const inFlight = this.current && !this.current.skip && !this.current.noReply ? this.current : undefined;
    const ex = this.awaiting.first() ?? inFlight;
    if (!ex) {
      // A reply with no request: pass it on rather than lose it.
      this.writeClient(seg.data);
      return;
    }
    if (seg.start) this.firstReplyByte(ex);
    // Injected replies ahead of this one go out first, so this one need not be held behind them.
    if (this.injectedAhead(ex)) this.pumpReplies();
    if (!ex.replace) {
      if (this.replies.first() === ex && ex.chunks.length === 0 && ex.reply === NO_PLAN && !this.repliesBusy) {
        this.writeClient(seg.data);
      } else {
        ex.hold(this.kept(seg.data));
      }
    }
    // One request of a run has its reply, sent or held in turn: timed once it went (onServerData, pumpReplies).
    if (seg.end && ++ex.membersEnded < ex.members) return;
    if (seg.end) {
      if (this.awaiting.first() === ex) this.awaiting.shift();
      ex.replyEnded = true;
      if (this.replies.first() === ex && ex.chunks.length === 0 && !ex.replace && !this.repliesBusy) {
        this.replies.shift();
        this.delivered(ex);
      }
    }
  }

  /**
   * Passthrough bytes that came behind every reply queued: held by the last one, or, when that is
   * an injected reply the server answers no more (withheld, or its stand-in's reply in), added
   * after its bytes (Postgres: the ReadyForQuery to the Sync of a request that drew an error).
   */
  protected holdLast(data: Buffer): void {
    const last = this.replies.last()!;
    const injected = last.injected;
    if (injected !== undefined && (last.skip || last.replyEnded)) last.injected = { bytes: Buffer.concat([injected.bytes, data]), close: injected.close };
    else last.hold(this.kept(data));
  }

  private firstReplyByte(ex: Exchange): void {
    if (ex.replyStarted) return;
    ex.replyStarted = true;
    if (ex.reply.delayMs > 0) ex.releaseAt = performance.now() + ex.reply.delayMs;
  }

  /**
   * The client has its reply (its last byte; for protocols without reply framing, its first):
   * the exchange's time is what the client waited, injected delays and error replies included.
   */
  protected delivered(ex: Exchange): void {
    this.timed(ex, ex.members);
  }

  /** The exchange's first `members` requests have their reply: the time of those not yet timed to the stats. */
  private timed(ex: Exchange, members: number): void {
    if (ex.membersTimed >= members) return;
    this.core.recordLatency(this.clock() - ex.startedAt, members - ex.membersTimed);
    ex.membersTimed = members;
  }

  /** Deliver replies in order: injected ones, delayed ones, shaped ones. */
  protected pumpReplies(): void {
    if (this.repliesBusy) return;
    if (this.raw && this.orderLost()) return;
    while (this.replies.length && !this.closed) {
      const ex = this.replies.first()!;
      if (ex.injected && !ex.replace && !ex.replyStarted) {
        ex.replyStarted = true;
        if (ex.reply.delayMs > 0) ex.releaseAt = performance.now() + ex.reply.delayMs;
      }
      if (ex.releaseAt && ex.releaseAt > performance.now()) {
        this.repliesBusy = true;
        this.at(ex.releaseAt, () => { this.repliesBusy = false; this.pumpReplies(); });
        return;
      }
      const ended = ex.replyEnded || this.serverEnded;
      if (ex.injected && this.serverEnded && (this.replyLost || (ex.replace && !ex.replyEnded))) {
        // Its place never came: a client of the server itself sees the server's last bytes, then its close.
        this.injectedLost(ex);
        ex.injected = undefined;
      }
      if (ex.injected && (!ex.replace || ended)) {
        this.replies.shift();
        if (this.injectedTimer !== undefined) this.endInjectedWait();
        // Passthrough bytes that came ahead of its reply go before it: the server's answers to
        // the messages its stand-in ran before the one that fails (Postgres' Parse and Bind).
        const held = ex.chunks;
        if (held.length) ex.chunks = NO_CHUNKS;
        this.writeInjected(held.length ? Buffer.concat([...held, ex.injected.bytes]) : ex.injected.bytes);
        this.delivered(ex);
        this.injectedDelivered(ex);
        if (ex.injected.close) {
          this.flush();
          this.client.end();
          this.later(50, () => this.destroy());
          return;
        }
        this.spare(ex);
        continue;
      }
      if (ex.chunks.length) {
        const data = ex.chunks.length === 1 ? ex.chunks[0] : Buffer.concat(ex.chunks);
        ex.chunks = NO_CHUNKS;
        const wait = this.writeShaped(data, ex.reply, this.toClientWriter);
        if (!this.protocol.framesReplies) this.delivered(ex);
        if (wait) {
          this.repliesBusy = true;
          wait.then(() => { this.repliesBusy = false; this.pumpReplies(); }, () => this.destroy());
          return;
        }
      }
      if (!ended) {
        // A run's requests whose replies just went out from where they were held.
        this.timed(ex, ex.membersEnded);
        return;
      }
      this.replies.shift();
      if (!ex.replyEnded && this.protocol.framesReplies) this.replyLost = true;
      this.delivered(ex);
    }
    this.maybeEndClient();
  }

  /**
   * After a client chunk, an injected reply at the head of the queue: while the server owes
   * replies to requests of the chunk behind it, it waits for them (at most INJECTED_WAIT_MS), so
   * that the client gets them in one write as a server sends a pipeline's replies, not one write
   * per error (a tenth of the chunks at 10 % error, each one more syscall on every hop).
   */
  protected repliesAfterChunk(): void {
    // Framing stopped: an error drawn behind a reply still to come ends the connection now (orderLost).
    if (this.raw) return this.pumpReplies();
    const head = this.replies.first();
    if (head === undefined || head.injected === undefined || this.repliesBusy) return;
    if (this.awaiting.length === 0 || head.injected.close) {
      this.pumpReplies();
    } else if (this.injectedTimer === undefined) {
      this.injectedTimer = setTimeout(this.injectedDue, INJECTED_WAIT_MS);
      this.timers.add(this.injectedTimer);
    }
  }

  /**
   * The waiting reply goes out with the server's: its timer goes too, rather than wake the
   * process later for nothing (a tenth of the chunks at 10 % error).
   */
  private endInjectedWait(): void {
    const t = this.injectedTimer!;
    clearTimeout(t);
    this.timers.delete(t);
    this.injectedTimer = undefined;
  }

  private readonly injectedDue = () => {
    this.endInjectedWait();
    if (!this.closed) this.pumpReplies();
  };

  /**
   * The server will send nothing more (a FIN, e.g. from a killed backend): replies still awaited
   * never come. Deliver what did come, then end the client as Toxiproxy does, rather than turn a
   * dead backend into a hang.
   */
  protected upstreamEnded(): void {
    this.serverEnded = true;
    if (!this.raw || this.serverFramed) {
      this.serverFramed = false;
      // A partial reply the framer holds belongs to the client now: there is no rest to wait for.
      this.raw = true;
      const held = this.session.drain();
      if (held.server.length) this.handleReply({ data: held.server, start: true, end: true, passthrough: true });
      if (held.client.length) this.writeServer(held.client);
    }
    this.awaiting.clear();
    this.pumpReplies();
  }

  private maybeEndClient(): void {
    if (!this.serverEnded || this.replies.length || this.repliesBusy || this.closed) return;
    this.later(this.slowCloseMs, () => {
      this.flush();
      this.client.end();
      if (this.clientEnded) this.destroy();
    });
  }
}
