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

interface Held {
  /** One behavior's name (no list made for it), or several. */
  names: string | readonly string[];
  /** No other behavior acted on the exchange: not given, it counts as `dummy`. */
  alone: boolean;
}

export class HeldCounts {
  private readonly byExchange = new Map<Exchange, Held>();

  /** Behaviors `names` acted on `ex` with its error alone; `alone`: no other behavior did. */
  hold(ex: Exchange, names: string | readonly string[], alone: boolean): void {
    this.byExchange.set(ex, { names, alone });
  }

  /**
   * `ex`'s injected reply went to the client: the error it held was given, unless the session
   * withdrew it (the reply then the server's own). One the session still holds is given if the
   * client is there to read it (`read`); if not, the connection's end counts it.
   */
  delivered(ex: Exchange, session: FramerSession, core: Counter, read: boolean): void {
    if (!this.byExchange.has(ex)) return;
    const fate = session.errorFate?.(ex.ordinal) ?? 'given';
    if (fate !== 'held') this.settle(ex, fate === 'given', core);
    else if (read) this.settle(ex, true, core);
  }

  /** `ex`'s injected reply will never go (the server ended before its place came): not given. */
  lost(ex: Exchange, core: Counter): void {
    if (this.byExchange.has(ex)) this.settle(ex, false, core);
  }

  /** The connection ends before those replies went: none reached the client. */
  ended(core: Counter): void {
    for (const ex of this.byExchange.keys()) this.settle(ex, false, core);
  }

  private settle(ex: Exchange, given: boolean, core: Counter): void {
    const held = this.byExchange.get(ex)!;
    this.byExchange.delete(ex);
    if (!given) {
      if (held.alone) core.count('dummy');
    } else if (typeof held.names === 'string') core.count(held.names);
    else for (const name of held.names) core.count(name);
  }
}

/** Whether every action that acts is an error: withdrawn, it leaves the behavior nothing done. */
export function onlyErrors(list: readonly Action[]): boolean {
  for (let i = 0; i < list.length; i++) if (list[i].type !== 'error' && list[i].type !== 'forward') return false;
  return true;
}
