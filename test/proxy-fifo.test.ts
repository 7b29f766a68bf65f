import { describe, expect, it } from 'vitest';
import { Fifo } from '../src/proxy/fifo.js';

const items = (f: Fifo<number>): number[] => {
  const out: number[] = [];
  while (f.length) out.push(f.shift()!);
  return out;
};

describe('Fifo', () => {
  it('keeps order across wrap-around and growth', () => {
    const f = new Fifo<number>();
    for (let i = 0; i < 10; i++) f.push(i);
    for (let i = 0; i < 8; i++) expect(f.shift()).toBe(i);
    for (let i = 10; i < 40; i++) f.push(i);
    expect(f.first()).toBe(8);
    expect(f.last()).toBe(39);
    expect([f.at(0), f.at(7), f.at(31), f.at(32)]).toEqual([8, 15, 39, undefined]);
    expect(items(f)).toEqual(Array.from({ length: 32 }, (_, i) => i + 8));
    expect(f.shift()).toBeUndefined();
  });

  it('deletes an item anywhere, the others keeping their order, even across the ring end', () => {
    const f = new Fifo<number>();
    for (let i = 0; i < 12; i++) f.push(i);
    for (let i = 0; i < 10; i++) f.shift();
    for (let i = 12; i < 20; i++) f.push(i); // 10..19, wrapped past slot 15
    expect(f.delete(15)).toBe(true);
    expect(f.delete(10)).toBe(true);
    expect(f.delete(19)).toBe(true);
    expect(f.delete(42)).toBe(false);
    expect(f.length).toBe(7);
    f.push(20);
    expect(items(f)).toEqual([11, 12, 13, 14, 16, 17, 18, 20]);
  });
});
