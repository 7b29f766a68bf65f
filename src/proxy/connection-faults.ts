/**
 * A connection's fault actions: the behavior drawn for each exchange (and the active toxics), and
 * the actions their hooks return (connection-hooks.ts) turned into the exchange's plan (delays,
 * shaping, an injected error, a close, a reset, a drop).
 */
import { draw, type MixEntry } from './mix.js';
import type { Action } from './plugin.js';
import type { ErrorReply, Segment } from './protocol.js';
import { ConnectionHooks } from './connection-hooks.js';
import { Exchange, hasReplyPlan, NO_CHUNKS, NO_PLAN, type Outcome, type ReplyPlan } from './exchange.js';
import { hasErrorKind } from './protocols/index.js';
import { HeldCounts, onlyErrors } from './held-counts.js';

const NO_ENTRIES: MixEntry[] = [];
const NO_OUTCOMES: Outcome[] = [];
/** What a hook that threw amounts to: its exchange gets an error. */
const FAILED: readonly Action[] = [{ type: 'error' }];

export abstract class ConnectionFaults extends ConnectionHooks {
  private ordinal = 0;
  private exchangeCount = 0;
  protected pinned?: MixEntry;
  /** The counts that wait for an injected error's fate, made with the first (held-counts.ts). */
  private heldCounts?: HeldCounts;

  /**
   * Draw the exchange's behavior from the mix, add the proxy's active toxics (which all apply,
   * like Toxiproxy's chain), run their hooks and turn the actions into a plan.
   */
  protected startExchange(seg: Segment, drawn?: MixEntry): Promise<void> | undefined {
    const entry = drawn ?? this.drawEntry();
    const ex = new Exchange(++this.exchangeCount, this.ordinal++, seg.noReply === true, this.clock());
    this.current = ex;
    this.core.counters.exchanges++;
    if (seg.mustForward) this.sessionStandIn(ex);
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
        // Nothing acts: what plan() would do with no outcomes, without its loops.
        this.core.count('dummy');
        if (this.protocol.framesReplies) this.replies.push(ex);
        return undefined;
      }
      const r = this.exchangeHook(entry, ex, seg);
      if (r instanceof Promise) return r.then((o) => this.planOne(ex, seg, entry, o));
      this.planOne(ex, seg, entry, r);
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

  /** The behavior of the next exchange: the connection's pinned one, or a draw from the mix. */
  protected drawEntry(): MixEntry {
    return this.pinned ?? draw(this.core.mix, this.core.random);
  }

  /**
   * A whole request, bytes [from, to) of `buf`, whose drawn behavior has no hook (no toxic
   * active, replies framed): what startExchange, sendRequest and requestSent do for it, with no
   * Segment and no plan. When the chunk's request before it went the same way, and nothing was
   * queued since, it joins that one's exchange as one more of its members.
   */
  protected forwardUntouched(buf: Buffer, from: number, to: number): void {
    const id = ++this.exchangeCount;
    const ordinal = this.ordinal++;
    this.core.counters.exchanges++;
    this.core.count('dummy');
    this.forwardRange(buf, from, to);
    const last = this.replies.last();
    if (last !== undefined && last.startedAt === this.stamp && last.untouched && !last.replyStarted && last.chunks === NO_CHUNKS && last === this.awaiting.last()) {
      last.members++;
    } else {
      const ex = this.reusedExchange(id, ordinal, true);
      this.replies.push(ex);
      this.awaiting.push(ex);
    }
    // No reply can come any more: do not let this request hold the client's close.
    if (this.serverEnded) this.pumpReplies();
  }

  /**
   * A whole request whose drawn behavior's fixed actions are one error of `kind` (a kind of the
   * protocol's, errorKind) (no toxic active, replies framed): what startExchange, planOne and
   * requestSent do for it, with no Segment and no plan, in a reused exchange (a tenth of the
   * exchanges at 10:error).
   */
  protected answerFixedError(entry: MixEntry, kind: string, message: string | undefined, request: Buffer, label: string | undefined): void {
    const ex = this.reusedExchange(++this.exchangeCount, this.ordinal++, false);
    this.core.counters.exchanges++;
    ex.injected = this.encodeError(kind, label, request, ex.ordinal, message);
    // Behind a reply still to come, it waits for its place, which a server's end may take (errorHeld).
    if (this.awaiting.length > 0) (this.heldCounts ??= new HeldCounts()).hold(ex, entry.behavior.name, true);
    else this.core.count(entry.behavior.name);
    this.session.errored?.(ex.ordinal);
    this.skip(ex);
    if (ex.injected.close) this.dropUpstream = true;
    this.replies.push(ex);
  }

  /** A delivered exchange renewed (or a new one) that nothing but the queues will refer to. */
  private reusedExchange(id: number, ordinal: number, untouched: boolean): Exchange {
    const spare = this.spares.pop();
    const ex = spare ?? new Exchange(id, ordinal, false, this.clock());
    if (spare !== undefined) spare.renew(id, ordinal, this.clock());
    ex.untouched = untouched;
    ex.reusable = true;
    return ex;
  }

  private plan(ex: Exchange, seg: Segment, sources: readonly MixEntry[], outcomes: readonly Outcome[]): void {
    let actions: Action[] | undefined;
    const lists = outcomes.map((o) => this.acting(o === 'failed' ? FAILED : o, seg, ex.ordinal));
    for (const list of lists) if (list) (actions ??= []).push(...list);
    this.planned(ex, seg, actions);
    const held = this.errorHeld(ex);
    let names: string[] | undefined;
    let others = false;
    for (let i = 0; i < lists.length; i++) {
      const list = lists[i];
      if (!list) continue;
      const name = outcomes[i] === 'failed' ? 'plugin_error' : sources[i].behavior.name;
      if (held && onlyErrors(list)) (names ??= []).push(name);
      else {
        this.core.count(name);
        others = true;
      }
    }
    if (names) (this.heldCounts ??= new HeldCounts()).hold(ex, names, !others);
  }

  /** plan() for the one behavior drawn (no toxic): its actions as they are, with no list made. */
  private planOne(ex: Exchange, seg: Segment, source: MixEntry, o: Outcome): void {
    const list = this.acting(o === 'failed' ? FAILED : o, seg, ex.ordinal);
    this.planned(ex, seg, list);
    if (!list) return;
    const name = o === 'failed' ? 'plugin_error' : source.behavior.name;
    if (this.errorHeld(ex) && onlyErrors(list)) (this.heldCounts ??= new HeldCounts()).hold(ex, [name], true);
    else this.core.count(name);
  }

  /**
   * Whether `ex`'s injected error may yet not reach the client: the behaviors that did nothing
   * else wait to be counted (held-counts.ts). The session may withdraw it (FramerSession.errorFate),
   * or the server end before its place among the server's replies comes (pumpReplies): the
   * reply to its stand-in, or to a request ahead of it.
   */
  private errorHeld(ex: Exchange): boolean {
    if (ex.injected === undefined) return false;
    return ex.replace || this.awaiting.length > 0 || this.session.errorFate?.(ex.ordinal) === 'held';
  }

  protected injectedDelivered(ex: Exchange): void {
    this.heldCounts?.delivered(ex, this.session, this.core, !this.clientEnded);
  }

  protected injectedLost(ex: Exchange): void {
    this.heldCounts?.lost(ex, this.core);
  }

  /** The connection ends: the counts still waiting are made (held-counts.ts). */
  protected heldAtEnd(): void {
    this.heldCounts?.ended(this.core);
  }

  /**
   * The actions that act on the request, if any: an error the server would not give it
   * (Protocol.refuses: a write to a read-only redis replica, not a read) is left out, and a
   * behavior left with nothing to do is not counted, as the client sees nothing of it.
   */
  private acting(list: readonly Action[], seg: Segment, ordinal: number): readonly Action[] | undefined {
    if (!acts(list)) return undefined;
    if (this.protocol.refuses === undefined) return list;
    let kept: Action[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const a = list[i];
      if (a.type === 'error' && !this.refused(a.kind, seg.label, seg.data, ordinal, a.message)) kept ??= list.slice(0, i);
      else kept?.push(a);
    }
    if (kept === undefined) return list;
    return acts(kept) ? kept : undefined;
  }

  /**
   * Whether the server, in the state the error `kind` stands for, refuses the request
   * (Protocol.refuses); `ordinal`, its place (by default the next exchange's, a request not yet
   * started); `message`, the behavior's text for the error.
   */
  refused(kind: string | undefined, label: string | undefined, request: Buffer, ordinal = this.ordinal, message?: string): boolean {
    return this.refusedAs(this.errorKind(kind), label, request, ordinal, message);
  }

  /** refused() for a kind of the protocol's (errorKind). */
  protected refusedAs(kind: string, label: string | undefined, request: Buffer, ordinal = this.ordinal, message?: string): boolean {
    return this.protocol.refuses?.(kind, label, request, this.session, ordinal, message) ?? true;
  }

  private planned(ex: Exchange, seg: Segment, actions: readonly Action[] | undefined): void {
    if (actions) this.applyActions(ex, seg, actions);
    else this.core.count('dummy');
    // A reply slot keeps the client's replies in request order. Without reply framing, forwarded
    // exchanges take one later (requestSent), and only when their reply is shaped.
    const expectsServerReply = this.protocol.framesReplies && !ex.skip && !ex.noReply;
    if (ex.injected || expectsServerReply) this.replies.push(ex);
  }

  private applyActions(ex: Exchange, seg: Segment, actions: readonly Action[]): void {
    // Made on the first action that shapes a stream: an error reply (the common fault) needs neither.
    let request: ReplyPlan | undefined;
    let reply: ReplyPlan | undefined;
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      switch (a.type) {
        case 'forward':
          break;
        case 'delay':
        case 'throttle':
        case 'slice':
        case 'corrupt':
          if (a.stream === 'upstream') shape((request ??= { delayMs: 0 }), a);
          else shape((reply ??= { delayMs: 0 }), a);
          break;
        case 'error': {
          // A mustForward request goes as it is unless the protocol has it replaced (a redis block's EXEC by DISCARD).
          const kind = this.errorKind(a.kind);
          const standIn = ex.standIn ?? this.standInFor(kind, seg.data, seg.end, ex.ordinal, a.message);
          ex.injected = this.encodeError(kind, seg.label, seg.data, ex.ordinal, a.message, standIn);
          if (standIn) ex.standIn = standIn;
          this.session.errored?.(ex.ordinal, standIn);
          if (seg.mustForward || standIn) ex.replace = true;
          else {
            this.skip(ex);
            if (ex.injected.close) this.dropUpstream = true;
          }
          break;
        }
        case 'close':
          this.skip(ex);
          // The requests forwarded before it still go (the chunk's flush), none after it.
          this.dropUpstream = true;
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
    ex.request = request && hasReplyPlan(request) ? request : NO_PLAN;
    ex.reply = reply && hasReplyPlan(reply) ? reply : NO_PLAN;
    // The client expects nothing back for a noReply request, not even an error.
    if (ex.noReply) ex.injected = undefined;
  }

  /** What the session says goes in the request's place (FramerSession.insteadOf), if anything. */
  private sessionStandIn(ex: Exchange): void {
    const instead = this.session.insteadOf?.(ex.ordinal);
    if (instead === undefined) return;
    ex.standIn = instead.standIn;
    ex.injected = instead.reply;
    ex.replace = true;
  }

  private skip(ex: Exchange): void {
    if (ex.skip) return;
    ex.skip = true;
    this.session.skipped?.(ex.ordinal);
  }

  protected applyConnectionAction(a: Action): void {
    if (a.type === 'limit') {
      this.limits[a.stream] = Math.min(this.limits[a.stream], a.bytes);
      this.limitSet = true;
    } else if (a.type === 'slowClose') this.slowCloseMs = Math.max(this.slowCloseMs, a.ms);
  }

  /** The reply of an error of `kind`, a kind of the protocol's (errorKind). */
  private encodeError(kind: string, label: string | undefined, request: Buffer, ordinal: number, message?: string, standIn?: Buffer): ErrorReply {
    return this.protocol.encodeError(kind, { label, request, random: this.core.random, message, session: this.session, standIn, ordinal });
  }

  /** Mixes and toxics have their kinds checked (Behavior.check); a plugin's act.error(kind) is not. */
  protected errorKind(kind: string | undefined): string {
    return kind && hasErrorKind(this.protocol, kind) ? kind : this.protocol.defaultError;
  }

  /**
   * What the server gets in place of a request that draws the error `kind`, a kind of the
   * protocol's (errorKind) (a COMMIT's ROLLBACK),
   * if anything: `request` is its first segment, all of it when `whole`; `ordinal`, its place
   * (by default the next exchange's, a request not yet started); `message`, the behavior's text
   * for the error. Not for an error that closes the connection: the server ends the transaction itself.
   */
  protected standInFor(kind: string, request: Buffer, whole: boolean, ordinal = this.ordinal, message?: string): Buffer | undefined {
    if (this.protocol.standIn === undefined || this.protocol.errorKinds[kind]?.fatal) return undefined;
    return this.protocol.standIn(request, whole, this.session, ordinal, kind, message);
  }
}

type ShapeAction = Extract<Action, { type: 'delay' | 'throttle' | 'slice' | 'corrupt' }>;

/** A shaping action's part of its stream's plan. */
function shape(p: ReplyPlan, a: ShapeAction): void {
  if (a.type === 'delay') p.delayMs += a.ms;
  else if (a.type === 'throttle') {
    p.throttle = a.bytesPerSecond;
    p.link = a.link;
  }
  else if (a.type === 'slice') p.slice = a;
  else p.corrupt = a.bytes;
}

/** Whether any action does more than forward. */
function acts(list: readonly Action[]): boolean {
  for (let i = 0; i < list.length; i++) if (list[i].type !== 'forward') return true;
  return false;
}
