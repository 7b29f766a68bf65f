/**
 * One exchange (a request and its reply) as a connection tracks it, and the plan the behaviors'
 * actions make for each of its two streams.
 */
import type { Action, SharedLink } from './plugin.js';
import type { ErrorReply } from './protocol.js';

/** A hook's actions, or 'failed' when it threw. */
export type Outcome = Action[] | 'failed';

export interface ReplyPlan {
  delayMs: number;
  throttle?: number;
  /** The link the throttle's rate is shared on, if the connections share one. */
  link?: SharedLink;
  slice?: { averageSize: number; sizeVariation: number; delayMs: number };
  corrupt?: number;
}

export const NO_PLAN: ReplyPlan = { delayMs: 0 };
/** Shared by every exchange that holds no reply bytes (most): replaced, never pushed to. */
export const NO_CHUNKS: Buffer[] = [];

/**
 * A class, so that each exchange is one small object of one shape. Its fields are set by renew
 * alone (the constructor calls it), so a renewed exchange is one just made.
 */
export class Exchange {
  declare id: number;
  declare ordinal: number;
  /** When the request's first bytes reached the proxy: the client's clock starts here. */
  declare startedAt: number;
  /** Request bytes are not forwarded. */
  declare skip: boolean;
  declare request: ReplyPlan;
  declare reply: ReplyPlan;
  /** Bytes the proxy sends instead of the server's reply. */
  declare injected: ErrorReply | undefined;
  /** The request must reach the server, but its reply is swallowed and `injected` sent instead. */
  declare replace: boolean;
  /** With replace: bytes the server is sent instead of the request (Protocol.standIn, FramerSession.insteadOf). */
  declare standIn: Buffer | undefined;
  /** Forward the request, then close both sides (Vaurien's abort). */
  declare abort: boolean;
  /**
   * The requests this exchange stands for: one, or a run of untouched ones (forwardUntouched),
   * the whole requests of one client chunk forwarded in a row, which share their start time and
   * take their replies in turn, each counted and timed as its own exchange. A pipeline's chunk
   * then costs one exchange in the queues, not one per request.
   */
  declare members: number;
  /** Of those, the requests whose reply has ended, and those whose time went to the stats. */
  declare membersEnded: number;
  declare membersTimed: number;
  /** Reply bytes waiting for their turn or their delay. */
  declare chunks: Buffer[];
  declare replyStarted: boolean;
  declare replyEnded: boolean;
  declare releaseAt: number;
  /** Made by forwardUntouched: a run of untouched requests, which the next such request may join. */
  untouched = false;
  /** Nothing but the connection's queues refers to it: once delivered, it may be renewed (see renew). */
  reusable = false;
  /**
   * The behaviors whose count waits for its injected error's fate (held-counts.ts): one name (no
   * list made for it), or several; undefined when none waits. Not renewed: it is cleared when
   * the count is made, and a count still waiting is made at the connection's end.
   */
  heldNames: string | readonly string[] | undefined = undefined;
  /** With heldNames: no other behavior acted on the exchange; not given, it counts as `dummy`. */
  heldAlone = false;
  /** With heldNames: its place in the held list (held-counts.ts). */
  heldSlot = -1;

  constructor(
    id: number,
    ordinal: number,
    readonly noReply: boolean,
    startedAt: number,
  ) {
    this.renew(id, ordinal, startedAt);
  }

  /**
   * Every field as a new exchange has it. A connection keeps a few delivered untouched exchanges
   * and renews them for the next untouched requests, so that a pipeline of untouched requests
   * allocates no exchange, and storing one into the queues (a young object into a long-lived
   * array) costs no write barrier.
   */
  renew(id: number, ordinal: number, startedAt: number): void {
    this.id = id;
    this.ordinal = ordinal;
    this.startedAt = startedAt;
    this.skip = false;
    this.request = NO_PLAN;
    this.reply = NO_PLAN;
    this.injected = undefined;
    this.replace = false;
    this.standIn = undefined;
    this.abort = false;
    this.members = 1;
    this.membersEnded = 0;
    this.membersTimed = 0;
    this.chunks = NO_CHUNKS;
    this.replyStarted = false;
    this.replyEnded = false;
    this.releaseAt = 0;
  }

  hold(data: Buffer): void {
    if (this.chunks === NO_CHUNKS) this.chunks = [data];
    else this.chunks.push(data);
  }
}

export function hasReplyPlan(p: ReplyPlan): boolean {
  return p.delayMs > 0 || !!p.throttle || !!p.slice || !!p.corrupt;
}
