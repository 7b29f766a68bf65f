/**
 * One proxied connection: client socket <-> upstream socket, with the protocol framer in the
 * middle. Requests are handled strictly in order (a behavior is drawn for each), replies are
 * delivered to the client in request order, whether they come from the server or are injected.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { draw, type Mix, type MixEntry } from './mix.js';
import { MAX_TIMER_MS, type Action, type Behavior, type ConnectionContext, type ExchangeContext, type HookResult, type Stream } from './plugin.js';
import { FramingError, type ErrorReply, type FramerSession, type Protocol, type Segment } from './protocol.js';
import { Outbox } from './outbox.js';
import { randomBytes } from './protocols/tcp.js';
import type { ProxyCore } from './proxy-core.js';

type Outcome = Action[] | 'failed';

interface ReplyPlan {
  delayMs: number;
  throttle?: number;
  slice?: { averageSize: number; sizeVariation: number; delayMs: number };
  corrupt?: number;
}

const NO_PLAN: ReplyPlan = { delayMs: 0 };
/** Shared by every exchange that holds no reply bytes (most): replaced, never pushed to. */
const NO_CHUNKS: Buffer[] = [];
const NO_ENTRIES: MixEntry[] = [];
const NO_OUTCOMES: Outcome[] = [];

/** A class, so that each exchange is one small object of one shape. */
class Exchange {
  behavior: string;
  /** Request bytes are not forwarded. */
  skip = false;
  request = NO_PLAN;
  reply = NO_PLAN;
  /** Bytes the proxy sends instead of the server's reply. */
  injected?: ErrorReply = undefined;
  /** The request must reach the server, but its reply is swallowed and `injected` sent instead. */
  replace = false;
  /** Forward the request, then close both sides (Vaurien's abort). */
  abort = false;
  /** When the request's first bytes reached the proxy: the client's clock starts here. */
  startedAt: number;
  /** The exchange's time went to the stats (once, when the client got its reply). */
  timed = false;
  /** Reply bytes waiting for their turn or their delay. */
  chunks = NO_CHUNKS;
  replyStarted = false;
  replyEnded = false;
  releaseAt = 0;

  constructor(
    readonly id: number,
    readonly ordinal: number,
    entry: MixEntry,
    readonly noReply: boolean,
    startedAt: number,
  ) {
    this.behavior = entry.behavior.name;
    this.startedAt = startedAt;
  }

  hold(data: Buffer): void {
    if (this.chunks === NO_CHUNKS) this.chunks = [data];
    else this.chunks.push(data);
  }
}
const HOOK_TIMEOUT_MS = 5000;

export class Connection {
  private readonly session: FramerSession;
  private readonly protocol: Protocol;
  private raw = false;
  private ordinal = 0;
  private exchangeCount = 0;
  private pinned?: MixEntry;
  /** Whether each toxic acts on this connection (its toxicity, drawn once per toxic version). */
  private toxicDraws = new WeakMap<MixEntry, boolean>();
  /** Segments from the client not handled yet (held while an exchange waits). */
  private requests: Segment[] = [];
  private requestsBusy = false;
  private current?: Exchange;
  /** Forwarded exchanges waiting for their reply from the server, oldest first. */
  private awaiting: Exchange[] = [];
  /** Exchanges whose reply the client has still to receive, in request order. */
  private replies: Exchange[] = [];
  private repliesBusy = false;
  /** For protocols without reply framing: the exchange the server's bytes are attributed to. */
  private attributed?: Exchange;
  private dropUpstream = false;
  private dropDownstream = false;
  private limits: Record<Stream, number> = { upstream: Infinity, downstream: Infinity };
  private slowCloseMs = 0;
  private clientEnded = false;
  private serverEnded = false;
  private closed = false;
  private timers = new Set<NodeJS.Timeout>();
  /** Bytes of this tick for each side, written once per data event (or per tick for timers). */
  private readonly toServer = new Outbox();
  private readonly toClient = new Outbox();
  /** Inside a socket's data handler, which flushes the outboxes when it is done. */
  private handling = false;
  private flushQueued = false;
  private readonly flushSoon = () => {
    this.flushQueued = false;
    this.flush();
  };
  /** writeServer and writeClient as values, made once: writeShaped takes one per exchange. */
  private readonly toServerWriter = (b: Buffer) => this.writeServer(b);
  private readonly toClientWriter = (b: Buffer) => this.writeClient(b);
  /** performance.now() at the start of the data event being handled, else -1 (see clock()). */
  private stamp = -1;
  /** "address:port" of the client, read once (each read is a call into the socket). */
  private clientAddress?: string;
  readonly id: number;
  readonly openedAt = performance.now();

  constructor(
    private readonly core: ProxyCore,
    private readonly client: net.Socket,
    private readonly server: net.Socket,
  ) {
    this.protocol = core.protocol;
    this.session = this.protocol.createSession();
    this.id = core.nextConnectionId();
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('error', () => this.destroy());
    let connected = false;
    server.once('connect', () => { connected = true; });
    server.on('error', (err) => {
      if (!connected) core.upstreamFailed(err);
      this.destroy();
    });
    client.on('close', () => this.destroy());
    server.on('close', () => this.destroy());
  }

  /**
   * Draw for the connection itself (pinning, connection-level hooks), then start moving bytes.
   * Data handlers are attached only now, so no exchange starts before the connection draw.
   */
  async accept(mix: Mix): Promise<void> {
    const entry = draw(mix, this.core.random);
    if (this.core.pin === 'connection') this.pinned = entry;
    for (const source of [entry, ...this.activeToxics()]) {
      const hook = source.behavior.onConnection;
      if (!hook) continue;
      const outcome = await this.callHook(source, () => hook(this.connectionContext(source), source.options));
      for (const a of outcome === 'failed' ? [] : outcome) {
        if (a.type === 'reset' || a.type === 'close') {
          this.core.count(source.behavior.name);
          this.core.counters.connections.refused++;
          this.client.resetAndDestroy();
          this.destroy();
          return;
        }
        this.applyConnectionAction(a);
      }
    }
    if (this.closed) return;
    const { client, server } = this;
    client.on('data', (c: Buffer) => this.onClientData(c));
    server.on('data', (c: Buffer) => this.onServerData(c));
    client.on('end', () => { this.clientEnded = true; this.maybeEndServer(); });
    server.on('end', () => this.upstreamEnded());
    client.on('drain', () => server.resume());
    server.on('drain', () => client.resume());
  }

  /** Bytes written to the server (upstream) and to the client (downstream) so far. */
  sentBytes(): { upstream: number; downstream: number } {
    return { upstream: this.server.bytesWritten, downstream: this.client.bytesWritten };
  }

  /** In-flight work: exchanges whose reply the client is still waiting for. */
  busy(): boolean {
    const unanswered = this.attributed !== undefined && !this.attributed.replyStarted;
    return this.replies.length > 0 || this.requests.length > 0 || this.current !== undefined || unanswered;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.client.destroy();
    this.server.destroy();
    this.requests = [];
    this.replies = [];
    this.awaiting = [];
    this.core.connectionClosed(this);
  }

  // ---- client -> server -------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    this.core.counters.bytes.upstream += chunk.length;
    if (this.dropUpstream) return;
    this.handling = true;
    this.stamp = performance.now();
    try {
      const segments = this.frame(chunk, 'client');
      if (!this.requestsBusy && this.requests.length === 0) {
        // Fast path: nothing queued, handle the chunk's segments in one pass until one must wait.
        for (let i = 0; i < segments.length; i++) {
          const wait = this.handleRequest(segments[i]);
          if (wait) {
            for (let j = i + 1; j < segments.length; j++) this.requests.push(segments[j]);
            this.waitThen(wait, () => this.pumpRequests());
            return;
          }
        }
        if (this.clientEnded) this.maybeEndServer();
        return;
      }
      for (const s of segments) this.requests.push(s);
      if (!this.requestsBusy) this.pumpRequests();
    } finally {
      this.handling = false;
      this.stamp = -1;
      this.flush();
    }
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
      (err) => { this.core.log('error', `connection ${this.id}: ${String(err?.message ?? err)}`); this.destroy(); },
    );
  }

  private handleRequest(seg: Segment): Promise<void> | undefined {
    if (this.dropUpstream || this.closed) return undefined;
    if (seg.passthrough) {
      this.writeServer(seg.data);
      return undefined;
    }
    if (seg.start) {
      const started = this.startExchange(seg);
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
    if (!ex.skip) {
      const host = seg.start ? this.core.hostHeader : undefined;
      const data = host && this.protocol.rewriteHost ? this.protocol.rewriteHost(seg.data, host) : seg.data;
      wait = this.writeShaped(data, ex.request, this.toServerWriter);
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
      this.flush();
      this.server.end(() => this.destroy());
      this.client.destroy();
      return;
    }
    if (ex.skip || ex.noReply) {
      if (ex.injected) this.pumpReplies();
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

  /**
   * Draw the exchange's behavior from the mix, add the proxy's active toxics (which all apply,
   * like Toxiproxy's chain), run their hooks and turn the actions into a plan.
   */
  private startExchange(seg: Segment): Promise<void> | undefined {
    const entry = this.pinned ?? draw(this.core.mix, this.core.random);
    const ex = new Exchange(++this.exchangeCount, this.ordinal++, entry, seg.noReply === true, this.clock());
    this.current = ex;
    this.core.counters.exchanges++;
    // A request the server never answers (memcache noreply, COM_QUIT, Terminate) is never faulted:
    // withholding it would lose data silently (e.g. MySQL long data) and count errors no client saw.
    if (ex.noReply) {
      this.plan(ex, seg, NO_ENTRIES, NO_OUTCOMES);
      return undefined;
    }
    const toxics = this.activeToxics();
    if (toxics.length === 0) {
      // The common case, without a list: one drawn behavior, a hook or none.
      if (!entry.behavior.onExchange) {
        this.plan(ex, seg, NO_ENTRIES, NO_OUTCOMES);
        return undefined;
      }
      const r = this.exchangeHook(entry, ex, seg);
      if (r instanceof Promise) return r.then((o) => this.plan(ex, seg, [entry], [o]));
      this.plan(ex, seg, [entry], [r]);
      return undefined;
    }
    const sources = [entry, ...toxics].filter((e) => e.behavior.onExchange);
    const results = sources.map((e) => this.exchangeHook(e, ex, seg));
    if (results.some((r) => r instanceof Promise)) {
      return Promise.all(results).then((rs) => this.plan(ex, seg, sources, rs));
    }
    this.plan(ex, seg, sources, results as Outcome[]);
    return undefined;
  }

  private exchangeHook(e: MixEntry, ex: Exchange, seg: Segment): Outcome | Promise<Outcome> {
    try {
      return this.settle(e, e.behavior.onExchange!(this.exchangeContext(e, ex, seg), e.options));
    } catch (err) {
      return this.hookFailed(e, err);
    }
  }

  /** A hook's actions, or 'failed' when it threw: isolated to this exchange, which gets an error. */
  private callHook(e: MixEntry, call: () => HookResult | Promise<HookResult>): Outcome | Promise<Outcome> {
    try {
      return this.settle(e, call());
    } catch (err) {
      return this.hookFailed(e, err);
    }
  }

  private settle(e: MixEntry, r: HookResult | Promise<HookResult>): Outcome | Promise<Outcome> {
    if (!(r instanceof Promise)) return toActions(r);
    // A hook that never settles would stall its exchange (and the pipeline behind it) forever.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hook did not settle within ${HOOK_TIMEOUT_MS} ms`)), HOOK_TIMEOUT_MS);
    });
    return Promise.race([r, deadline]).then(toActions, (err) => this.hookFailed(e, err)).finally(() => clearTimeout(timer));
  }

  private hookFailed(e: MixEntry, err: unknown): Outcome {
    this.pluginFailed(e.behavior, err);
    return 'failed';
  }

  /** Toxics in force on this connection: toxicity is drawn per connection (as Toxiproxy does) and again when a toxic changes. */
  private activeToxics(): readonly MixEntry[] {
    const toxics = this.core.toxics;
    if (toxics.length === 0) return toxics;
    return toxics.filter((t) => {
      let d = this.toxicDraws.get(t);
      if (d === undefined) {
        d = this.core.random() * 100 < t.percent;
        this.toxicDraws.set(t, d);
      }
      return d;
    });
  }

  private plan(ex: Exchange, seg: Segment, sources: readonly MixEntry[], outcomes: readonly Outcome[]): void {
    ex.behavior = 'dummy';
    let actions: Action[] | undefined;
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i];
      const name = o === 'failed' ? 'plugin_error' : sources[i].behavior.name;
      const list: Action[] = o === 'failed' ? [{ type: 'error' }] : o;
      if (list.some((a) => a.type !== 'forward')) {
        if (ex.behavior === 'dummy') ex.behavior = name;
        this.core.count(name);
        (actions ??= []).push(...list);
      }
    }
    if (ex.behavior === 'dummy') this.core.count('dummy');
    if (actions) this.applyActions(ex, seg, actions);
    // A reply slot keeps the client's replies in request order. Without reply framing, forwarded
    // exchanges take one later (requestSent), and only when their reply is shaped.
    const expectsServerReply = this.protocol.framesReplies && !ex.skip && !ex.noReply;
    if (ex.injected || expectsServerReply) this.replies.push(ex);
  }

  private applyActions(ex: Exchange, seg: Segment, actions: Action[]): void {
    const request: ReplyPlan = { delayMs: 0 };
    const reply: ReplyPlan = { delayMs: 0 };
    for (const a of actions) {
      switch (a.type) {
        case 'forward':
          break;
        case 'delay':
          (a.stream === 'upstream' ? request : reply).delayMs += a.ms;
          break;
        case 'throttle':
          (a.stream === 'upstream' ? request : reply).throttle = a.bytesPerSecond;
          break;
        case 'slice':
          (a.stream === 'upstream' ? request : reply).slice = a;
          break;
        case 'corrupt':
          (a.stream === 'upstream' ? request : reply).corrupt = a.bytes;
          break;
        case 'error':
          ex.injected = this.encodeError(a.kind, seg, a.message);
          if (seg.mustForward) ex.replace = true;
          else this.skip(ex);
          break;
        case 'close':
          this.skip(ex);
          this.later(0, () => this.destroy());
          break;
        case 'reset':
          this.skip(ex);
          this.later(a.afterMs ?? 0, () => {
            this.client.resetAndDestroy();
            this.destroy();
          });
          break;
        case 'drop':
          if (a.stream === 'upstream') {
            this.skip(ex);
            this.dropUpstream = true;
          } else {
            this.dropDownstream = true;
          }
          if (a.closeAfterMs) this.later(a.closeAfterMs, () => this.destroy());
          break;
        case 'abort':
          ex.abort = true;
          break;
        default:
          this.applyConnectionAction(a);
      }
    }
    ex.request = hasReplyPlan(request) ? request : NO_PLAN;
    ex.reply = hasReplyPlan(reply) ? reply : NO_PLAN;
    // The client expects nothing back for a noReply request, not even an error.
    if (ex.noReply) ex.injected = undefined;
  }

  private skip(ex: Exchange): void {
    if (ex.skip) return;
    ex.skip = true;
    this.session.skipped?.(ex.ordinal);
  }

  private applyConnectionAction(a: Action): void {
    if (a.type === 'limit') this.limits[a.stream] = Math.min(this.limits[a.stream], a.bytes);
    else if (a.type === 'slowClose') this.slowCloseMs = Math.max(this.slowCloseMs, a.ms);
  }

  private encodeError(kind: string | undefined, seg: Segment, message?: string): ErrorReply {
    const k = kind && kind in this.protocol.errorKinds ? kind : this.protocol.defaultError;
    return this.protocol.encodeError(k, { label: seg.label, request: seg.data, random: this.core.random, message });
  }

  // ---- server -> client -------------------------------------------------------------------

  private onServerData(chunk: Buffer): void {
    this.core.counters.bytes.downstream += chunk.length;
    if (this.dropDownstream) return;
    this.handling = true;
    this.stamp = performance.now();
    try {
      const segments = this.frame(chunk, 'server');
      for (let i = 0; i < segments.length; i++) this.handleReply(segments[i]);
      this.pumpReplies();
    } finally {
      this.handling = false;
      this.stamp = -1;
      this.flush();
    }
  }

  private handleReply(seg: Segment): void {
    if (seg.passthrough) {
      const ex = this.protocol.framesReplies ? this.awaiting[0] : this.attributed;
      if (ex && !this.protocol.framesReplies) this.firstReplyByte(ex);
      if (ex && this.replies.includes(ex)) ex.hold(seg.data);
      else if (this.replies.length) this.replies[this.replies.length - 1].hold(seg.data);
      else {
        this.writeClient(seg.data);
        if (ex && !this.protocol.framesReplies) this.delivered(ex);
      }
      return;
    }
    // A server may answer before the request has ended (Postgres Flush paging): the reply then
    // belongs to the request still being sent.
    const inFlight = this.current && !this.current.skip && !this.current.noReply ? this.current : undefined;
    const ex = this.awaiting[0] ?? inFlight;
    if (!ex) {
      // A reply with no request: pass it on rather than lose it.
      this.writeClient(seg.data);
      return;
    }
    if (seg.start) this.firstReplyByte(ex);
    // Injected replies ahead of this one go out first, so this one need not be held behind them.
    if (this.replies[0] !== ex && this.replies[0]?.injected && !this.repliesBusy) this.pumpReplies();
    if (!ex.replace) {
      if (this.replies[0] === ex && ex.chunks.length === 0 && ex.reply === NO_PLAN && !this.repliesBusy) {
        this.writeClient(seg.data);
      } else {
        ex.hold(seg.data);
      }
    }
    if (seg.end) {
      if (this.awaiting[0] === ex) this.awaiting.shift();
      ex.replyEnded = true;
      if (this.replies[0] === ex && ex.chunks.length === 0 && !ex.replace && !this.repliesBusy) {
        this.replies.shift();
        this.delivered(ex);
      }
    }
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
  private delivered(ex: Exchange): void {
    if (ex.timed) return;
    ex.timed = true;
    this.core.recordLatency(this.clock() - ex.startedAt);
  }

  /** Deliver replies in order: injected ones, delayed ones, shaped ones. */
  private pumpReplies(): void {
    if (this.repliesBusy) return;
    while (this.replies.length && !this.closed) {
      const ex = this.replies[0];
      if (ex.injected && !ex.replace) {
        if (!ex.replyStarted) {
          ex.replyStarted = true;
          ex.releaseAt = performance.now() + ex.reply.delayMs;
        }
      }
      if (ex.releaseAt && ex.releaseAt > performance.now()) {
        this.repliesBusy = true;
        this.at(ex.releaseAt, () => { this.repliesBusy = false; this.pumpReplies(); });
        return;
      }
      const ended = ex.replyEnded || this.serverEnded;
      if (ex.injected && (!ex.replace || ended)) {
        this.replies.shift();
        this.writeClient(ex.injected.bytes);
        this.delivered(ex);
        if (ex.injected.close) {
          this.flush();
          this.client.end();
          this.later(50, () => this.destroy());
          return;
        }
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
      if (!ended) return;
      this.replies.shift();
      this.delivered(ex);
    }
    this.maybeEndClient();
  }

  // ---- shaping and writing ----------------------------------------------------------------

  private writeShaped(data: Buffer, plan: ReplyPlan, write: (b: Buffer) => void): Promise<void> | undefined {
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
      write(piece);
      if (plan.throttle) pause = Math.max(pause, (piece.length / plan.throttle) * 1000);
      // Bandwidth also owes the pause after its last piece; slices only pause between pieces.
      if (pause > 0 && (plan.throttle || offset < data.length)) await this.sleep(pause);
    }
  }

  private writeServer(data: Buffer): void {
    this.toServer.add(data);
    this.flushLater();
  }

  private writeClient(data: Buffer): void {
    this.toClient.add(data);
    this.flushLater();
  }

  /** Outside a data handler (timers, hooks that waited), the writes of one tick go out together. */
  private flushLater(): void {
    if (this.handling || this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushSoon);
  }

  /** Write what the outboxes hold: one write per side. Also before any end(), so no byte is left behind. */
  private flush(): void {
    if (!this.toServer.empty && !this.limited(this.toServer.take()!, 'upstream', this.server)) this.client.pause();
    if (!this.toClient.empty && !this.limited(this.toClient.take()!, 'downstream', this.client)) this.server.pause();
  }

  private limited(data: Buffer, stream: Stream, target: net.Socket): boolean {
    if (this.closed) return true;
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

  // ---- framing guard ----------------------------------------------------------------------

  private frame(chunk: Buffer, side: 'client' | 'server'): Segment[] {
    if (this.raw) return [{ data: chunk, start: true, end: true, passthrough: true }];
    try {
      const segs = side === 'client' ? this.session.fromClient(chunk) : this.session.fromServer(chunk);
      if (this.session.buffered() > this.core.maxBuffer) {
        return this.fallback(side, `more than ${this.core.maxBuffer} bytes held for one message`, segs);
      }
      return segs;
    } catch (err) {
      if (!(err instanceof FramingError)) {
        this.core.log('error', `${this.protocol.name} framer bug on connection ${this.id}: ${String((err as Error)?.stack ?? err)}`);
      }
      return this.fallback(side, (err as Error).message, []);
    }
  }

  /** Give up framing this connection: pass everything through untouched from now on. */
  private fallback(side: 'client' | 'server', reason: string, emitted: Segment[]): Segment[] {
    this.raw = true;
    this.core.counters.fallbacks++;
    this.core.log('warn', `${this.protocol.name} connection ${this.id}: framing stopped (${reason}); passing bytes through untouched`);
    const held = this.session.drain();
    const mine = side === 'client' ? held.client : held.server;
    const other = side === 'client' ? held.server : held.client;
    if (other.length) {
      if (side === 'client') this.handleReply({ data: other, start: true, end: true, passthrough: true });
      else this.requests.push({ data: other, start: true, end: true, passthrough: true });
    }
    const out = [...emitted];
    if (mine.length) out.push({ data: mine, start: true, end: true, passthrough: true });
    return out;
  }

  // ---- closing ----------------------------------------------------------------------------

  private maybeEndServer(): void {
    if (!this.clientEnded || this.requestsBusy || this.requests.length || this.closed) return;
    this.later(this.slowCloseMs, () => {
      this.flush();
      this.server.end();
    });
  }

  /**
   * The server will send nothing more (a FIN, e.g. from a killed backend): replies still awaited
   * never come. Deliver what did come, then end the client as Toxiproxy does, rather than turn a
   * dead backend into a hang.
   */
  private upstreamEnded(): void {
    this.serverEnded = true;
    if (!this.raw) {
      // A partial reply the framer holds belongs to the client now: there is no rest to wait for.
      this.raw = true;
      const held = this.session.drain();
      if (held.server.length) this.handleReply({ data: held.server, start: true, end: true, passthrough: true });
      if (held.client.length) this.writeServer(held.client);
    }
    this.awaiting = [];
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

  // ---- helpers ----------------------------------------------------------------------------

  /**
   * The time for latency figures: the exchanges of one chunk are forwarded (or answered) by one
   * write, so they share the clock read at the start of its data event, one read per chunk.
   */
  private clock(): number {
    return this.stamp >= 0 ? this.stamp : performance.now();
  }

  private later(ms: number, fn: () => void): void {
    // A plugin may still ask for more than a timer holds: wait the most it can, then check again.
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, Math.min(ms, MAX_TIMER_MS));
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(performance.now() + ms, resolve));
  }

  /**
   * Run `fn` at `deadline` (performance.now() time) within ~0.1 ms: a timer gets close (they fire
   * up to a millisecond late), then the event loop's check phase finishes the wait without
   * blocking I/O. Delay accuracy is a promise of the proxy, so it is worth the few wake-ups.
   */
  private at(deadline: number, fn: () => void): void {
    const check = () => {
      if (this.closed) return;
      const left = deadline - performance.now();
      if (left <= 0.05) fn();
      else if (left > 2) this.later(left - 1.5, check);
      else setImmediate(check);
    };
    check();
  }

  private pluginFailed(b: Behavior, err: unknown): void {
    this.core.log('error', `behavior "${b.name}" failed on connection ${this.id}: ${String((err as Error)?.message ?? err)}`);
  }

  private connectionContext(entry: MixEntry): ConnectionContext {
    return {
      proxy: this.core.info,
      connectionId: this.id,
      client: this.clientName(),
      random: this.core.random,
      state: entry.state,
    };
  }

  private clientName(): string {
    return (this.clientAddress ??= `${this.client.remoteAddress}:${this.client.remotePort}`);
  }

  private exchangeContext(entry: MixEntry, ex: Exchange, seg: Segment): ExchangeContext {
    return Object.assign(this.connectionContext(entry), { exchangeId: ex.id, label: seg.label, request: seg.data });
  }
}

function toActions(r: HookResult): Action[] {
  if (!r) return [];
  return Array.isArray(r) ? r : [r];
}

function hasReplyPlan(p: ReplyPlan): boolean {
  return p.delayMs > 0 || !!p.throttle || !!p.slice || !!p.corrupt;
}
