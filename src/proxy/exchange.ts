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

  constructor(
    readonly id: number,
    readonly ordinal: number,
    readonly noReply: boolean,
    startedAt: number,
  ) {
    this.startedAt = startedAt;
  }

  hold(data: Buffer): void {
    if (this.chunks === NO_CHUNKS) this.chunks = [data];
    else this.chunks.push(data);
  }
}

export function hasReplyPlan(p: ReplyPlan): boolean {
  return p.delayMs > 0 || !!p.throttle || !!p.slice || !!p.corrupt;
}
