/**
 * The counts of behaviors whose one act on an exchange is an injected error that may yet not
 * reach the client: the session may withdraw it (FramerSession.errorFate: PostgreSQL's, held for
 * an Execute that may never come), or the server end before its place among the server's
 * replies came (ConnectionReplies.pumpReplies: the reply to its stand-in, or to a request ahead
 * of it), the client then seeing the server's close. A behavior is counted as it acts, and a
 * count cannot be taken back from where it went (a statsd ping is out): these wait until the
 * error's fate is known, then count the behaviors if it was given, `dummy` if it was not and
 * nothing else acted, as the client saw. Made by a connection with its first such error: no
 * other exchange pays for it.
 */
import type { Action } from './plugin.js';
import type { Exchange } from './exchange.js';
import type { FramerSession } from './protocol.js';
import type { ProxyCore } from './proxy-core.js';

type Counter = Pick<ProxyCore, 'count'>;

/** Past this many settled exchanges left in the list, it is cut down to those still held. */
const SLACK = 32;

export class HeldCounts {
  /**
   * The exchanges held, in the order they were, their names on the exchange itself
   * (Exchange.heldNames): a Map of them cost a hash lookup at each hold, delivery and settling,
   * and an object per hold, at every injected error of a pipeline (a twentieth of its cost).
   * Settled ones stay in their slot until no exchange is held, or SLACK of them have piled up
   * behind one that stays held, and are then overwritten (no call to set the array's length);
   * an exchange renewed and held again takes a new slot (Exchange.heldSlot says which is its own).
   */
  private readonly list: Exchange[] = [];
  private used = 0;
  private open = 0;

  /** Behaviors `names` acted on `ex` with its error alone; `alone`: no other behavior did. */
  hold(ex: Exchange, names: string | readonly string[], alone: boolean): void {
    // Held again before it was settled (a Map's set replaced its entry): the names are replaced, its slot kept.
    if (ex.heldNames === undefined) {
      if (this.used - this.open >= SLACK) this.compact();
      this.open++;
      ex.heldSlot = this.used;
      this.list[this.used++] = ex;
    }
    ex.heldNames = names;
    ex.heldAlone = alone;
  }

  /**
   * `ex`'s injected reply went to the client: the error it held was given, unless the session
   * withdrew it (the reply then the server's own). One the session still holds is given if the
   * client is there to read it (`read`); if not, the connection's end counts it.
   */
  delivered(ex: Exchange, session: FramerSession, core: Counter, read: boolean): void {
    if (ex.heldNames === undefined) return;
    const fate = session.errorFate?.(ex.ordinal) ?? 'given';
    if (fate !== 'held') this.settle(ex, fate === 'given', core);
    else if (read) this.settle(ex, true, core);
  }

  /** `ex`'s injected reply will never go (the server ended before its place came): not given. */
  lost(ex: Exchange, core: Counter): void {
    if (ex.heldNames !== undefined) this.settle(ex, false, core);
  }

  /** The connection ends before those replies went: none reached the client. */
  ended(core: Counter): void {
    for (let i = 0; i < this.used; i++) {
      const ex = this.list[i];
      if (ex.heldNames !== undefined && ex.heldSlot === i) this.settle(ex, false, core);
    }
  }

  private settle(ex: Exchange, given: boolean, core: Counter): void {
    const names = ex.heldNames!;
    ex.heldNames = undefined;
    if (--this.open === 0) this.used = 0;
    if (!given) {
      if (ex.heldAlone) core.count('dummy');
    } else if (typeof names === 'string') core.count(names);
    else for (const name of names) core.count(name);
  }

  /** Only the exchanges still held, in their order; a slot left by one settled and held again is not its own (heldSlot). */
  private compact(): void {
    let n = 0;
    for (let i = 0; i < this.used; i++) {
      const ex = this.list[i];
      if (ex.heldNames === undefined || ex.heldSlot !== i) continue;
      ex.heldSlot = n;
      this.list[n++] = ex;
    }
    this.used = n;
  }
}

/** Whether every action that acts is an error: withdrawn, it leaves the behavior nothing done. */
export function onlyErrors(list: readonly Action[]): boolean {
  for (let i = 0; i < list.length; i++) if (list[i].type !== 'error' && list[i].type !== 'forward') return false;
  return true;
}
