/**
 * One exchange (a request and its reply) as a connection tracks it, and the plan the behaviors'
 * actions make for each of its two streams.
 */
import type { Action } from './plugin.js';
import type { ErrorReply } from './protocol.js';

/** A hook's actions, or 'failed' when it threw. */
export type Outcome = Action[] | 'failed';

export interface ReplyPlan {
  delayMs: number;
  throttle?: number;
  slice?: { averageSize: number; sizeVariation: number; delayMs: number };
  corrupt?: number;
}

export const NO_PLAN: ReplyPlan = { delayMs: 0 };
/** Shared by every exchange that holds no reply bytes (most): replaced, never pushed to. */
export const NO_CHUNKS: Buffer[] = [];

/** A class, so that each exchange is one small object of one shape. */
export class Exchange {
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

  /** Made by forwardUntouched: nothing but the connection's queues refers to it (see renew). */
  untouched = false;

  constructor(
    public id: number,
    public ordinal: number,
    readonly noReply: boolean,
    startedAt: number,
  ) {
    this.startedAt = startedAt;
  }

  /**
   * An untouched exchange, delivered, made new for the next untouched request: every field as
   * the constructor leaves it. A connection keeps a few such spares, so that a pipeline of
   * untouched requests allocates no exchange, and storing one into the queues (a young object
   * into a long-lived array) costs no write barrier.
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
    this.abort = false;
    this.timed = false;
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
