import { describe, expect, it } from 'vitest';
import { PendingReplies } from '../src/proxy/protocols/pending-replies.js';

/** The ordinals and tags still waiting, oldest first, taken off as their replies come. */
function drain(p: PendingReplies<number>): [number, number][] {
  const out: [number, number][] = [];
  while (p.waiting) {
    out.push([p.headOrdinal, p.headTag]);
    p.shift();
  }
  return out;
}

describe('PendingReplies', () => {
  it('finds each waiting request, and none that is not there, wherever it lies', () => {
    const p = new PendingReplies<number>();
    // Rising ordinals with gaps (requests that wait for no reply), some already answered.
    const ordinals = [3, 4, 7, 8, 9, 12, 20, 21, 22, 40];
    for (const o of ordinals) p.push(o, o % 3);
    p.shift();
    p.shift();
    const left = ordinals.slice(2);
    for (const o of left) expect(p.tagAt(p.indexOf(o))).toBe(o % 3);
    for (const o of [0, 3, 4, 5, 10, 23, 41]) expect(p.indexOf(o)).toBe(-1);
  });

  it('takes a request out from near the oldest, the newest and the middle, the others keeping their order and tags', () => {
    for (const victim of [5, 6, 9, 12, 14]) {
      const p = new PendingReplies<number>();
      for (let o = 5; o < 15; o++) p.push(o, o * 2);
      p.remove(p.indexOf(victim));
      expect(p.indexOf(victim)).toBe(-1);
      // Still found where they are after the removal, then served in order.
      for (let o = 5; o < 15; o++) if (o !== victim) expect(p.tagAt(p.indexOf(o))).toBe(o * 2);
      const expected = Array.from({ length: 10 }, (_, i) => 5 + i).filter((o) => o !== victim).map((o) => [o, o * 2]);
      expect(drain(p)).toEqual(expected);
    }
  });

  it('stays right through a long run of pushes, replies and removals (a pipeline with a tenth of its requests withheld)', () => {
    const p = new PendingReplies<number>();
    const model: [number, number][] = [];
    let next = 0;
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 2000; round++) {
      for (let k = 0; k < 16; k++) {
        const o = next++;
        p.push(o, o & 7);
        model.push([o, o & 7]);
      }
      // About a tenth of the chunk withheld, anywhere among the waiting.
      for (let k = 0; k < 16; k++) {
        if (rnd() >= 0.1 || model.length === 0) continue;
        const [o] = model[Math.floor(rnd() * model.length)];
        p.remove(p.indexOf(o));
        model.splice(model.findIndex(([m]) => m === o), 1);
      }
      // Most of the waiting get their reply.
      const replies = Math.floor(rnd() * model.length) + (round % 50 === 49 ? model.length : 0);
      for (let k = 0; k < replies && model.length; k++) {
        expect([p.headOrdinal, p.headTag]).toEqual(model[0]);
        p.shift();
        model.shift();
      }
      expect(p.waiting).toBe(model.length > 0);
    }
    expect(drain(p)).toEqual(model);
  });
});
