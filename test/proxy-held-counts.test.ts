import { describe, expect, it } from 'vitest';
import { Exchange } from '../src/proxy/exchange.js';
import { HeldCounts } from '../src/proxy/held-counts.js';
import type { FramerSession } from '../src/proxy/protocol.js';

/** The counts made, in order. */
function counter(): { made: string[]; count: (name: string) => void } {
  const made: string[] = [];
  return { made, count: (name: string) => made.push(name) };
}

/** A session whose errors are all given (no errorFate), or whose fate for each ordinal is asked of `fate`. */
function session(fate?: (ordinal: number) => 'given' | 'withdrawn' | 'held'): FramerSession {
  return (fate ? { errorFate: fate } : {}) as unknown as FramerSession;
}

describe('HeldCounts', () => {
  it('counts a held error once as given, and nothing twice when delivered again', () => {
    const h = new HeldCounts();
    const c = counter();
    const ex = new Exchange(1, 0, false, 0);
    h.hold(ex, 'error', true);
    h.delivered(ex, session(), c, true);
    h.delivered(ex, session(), c, true);
    h.lost(ex, c);
    h.ended(c);
    expect(c.made).toEqual(['error']);
  });

  it('counts a lost error as dummy when it acted alone, as nothing when another behavior acted', () => {
    const h = new HeldCounts();
    const c = counter();
    const alone = new Exchange(1, 0, false, 0);
    const withOthers = new Exchange(2, 1, false, 0);
    h.hold(alone, 'error', true);
    h.hold(withOthers, ['error', 'other_error'], false);
    h.lost(alone, c);
    h.lost(withOthers, c);
    expect(c.made).toEqual(['dummy']);
    const given = new Exchange(3, 2, false, 0);
    h.hold(given, ['error', 'other_error'], false);
    h.delivered(given, session(), c, true);
    expect(c.made).toEqual(['dummy', 'error', 'other_error']);
  });

  it('leaves one the session still holds to the end when the client is gone, and counts withdrawn ones as not given', () => {
    const h = new HeldCounts();
    const c = counter();
    const held = new Exchange(1, 0, false, 0);
    const withdrawn = new Exchange(2, 1, false, 0);
    const s = session((o) => (o === 0 ? 'held' : 'withdrawn'));
    h.hold(held, 'error', true);
    h.hold(withdrawn, 'error', true);
    h.delivered(held, s, c, false);
    h.delivered(withdrawn, s, c, false);
    expect(c.made).toEqual(['dummy']);
    h.ended(c);
    expect(c.made).toEqual(['dummy', 'dummy']);
  });

  it('keeps every count of a long connection where one error stays held while others, on renewed exchanges, come and go', () => {
    const h = new HeldCounts();
    const c = counter();
    // The first error waits behind a reply that never comes (a blocked command) until the end.
    const stuck = new Exchange(1, 0, false, 0);
    h.hold(stuck, 'stuck_error', true);
    // The others reuse three exchanges, as a connection renews its spares: each is held again once settled.
    const spares = [new Exchange(2, 1, false, 0), new Exchange(3, 2, false, 0), new Exchange(4, 3, false, 0)];
    const rounds = 1000;
    for (let i = 0; i < rounds; i++) {
      const ex = spares[i % 3];
      ex.renew(10 + i, 4 + i, 0);
      h.hold(ex, 'error', true);
      // The last two stay held to the end; before them, one in seven is lost (the server ended), the rest given.
      if (i >= rounds - 2) continue;
      if (i % 7 === 6) h.lost(ex, c);
      else h.delivered(ex, session(), c, true);
    }
    const lost = Array.from({ length: rounds - 2 }, (_, i) => i).filter((i) => i % 7 === 6).length;
    expect(c.made.filter((n) => n === 'error').length).toBe(rounds - 2 - lost);
    expect(c.made.filter((n) => n === 'dummy').length).toBe(lost);
    h.ended(c);
    // The stuck one and the last two, once each, as not given.
    expect(c.made.filter((n) => n === 'dummy').length).toBe(lost + 3);
    expect(c.made.length).toBe(rounds + 1);
    h.ended(c);
    expect(c.made.length).toBe(rounds + 1);
  });
});
