import { describe, expect, it } from 'vitest';
import { copyOf } from '../src/proxy/frames.js';
import { Outbox } from '../src/proxy/outbox.js';

describe('Outbox', () => {
  it('hands back a chunk forwarded whole as the chunk itself, with no copy', () => {
    const o = new Outbox();
    const chunk = Buffer.from('abcdefgh');
    o.addRange(chunk, 0, 3);
    o.addRange(chunk, 3, 8);
    expect(o.take()).toBe(chunk);
    expect(o.empty).toBe(true);
    expect(o.take()).toBeUndefined();
  });

  it('joins adjacent views of one memory without a copy, and gathers the rest in order', () => {
    const o = new Outbox();
    const mem = Buffer.from('0123456789');
    o.add(mem.subarray(0, 4));
    o.add(mem.subarray(4, 6));
    const joined = o.take()!;
    expect(joined.toString()).toBe('012345');
    // A view of the same memory, not a copy: a write into it shows.
    mem[0] = 0x78;
    expect(joined.toString()).toBe('x12345');
    // Adjacent views gathered as one run, then a piece from elsewhere: the run reaches past its first view.
    o.add(mem.subarray(6, 8));
    o.add(mem.subarray(8, 10));
    o.add(Buffer.from('!'));
    expect(o.take()!.toString()).toBe('6789!');

    // A pipeline with an injected reply amid it, twice over: runs of one take do not leak into the next.
    const chunk = Buffer.from('+A\r\n+B\r\n+C\r\n');
    for (let round = 0; round < 2; round++) {
      o.addRange(chunk, 0, 4);
      o.add(Buffer.from('-ERR x\r\n'));
      o.addRange(chunk, 4, 8);
      o.addRange(chunk, 8, 12);
      o.add(Buffer.from('-ERR y\r\n'));
      expect(o.take()!.toString()).toBe('+A\r\n-ERR x\r\n+B\r\n+C\r\n-ERR y\r\n');
    }
    o.addRange(chunk, 4, 8);
    expect(o.take()!.toString()).toBe('+B\r\n');
  });

  it('closes a gap in a chunk by moving the run before it, so the chunk still goes out as one view', () => {
    const o = new Outbox();
    const chunk = Buffer.from('AAA-gap-BBBCC');
    o.addRange(chunk, 0, 3);
    o.closeGap(chunk, 3, 8);
    o.addRange(chunk, 8, 11);
    o.addRange(chunk, 11, 13);
    const out = o.take()!;
    expect(out.toString()).toBe('AAABBBCC');
    expect(out.buffer).toBe(chunk.buffer);

    // Not at the run's end (bytes were forwarded past it, or it is another buffer): nothing moves.
    const other = Buffer.from('xxyyzz');
    o.addRange(other, 0, 4);
    o.closeGap(other, 2, 4);
    o.closeGap(chunk, 4, 6);
    expect(other.toString()).toBe('xxyyzz');
    expect(o.take()!.toString()).toBe('xxyy');
  });

  it('puts bytes before a byte of a chunk, moving the run back into free memory before the chunk, and refuses when it cannot', () => {
    const memory = Buffer.alloc(16, '.');
    memory.write('+A\r\n+B\r\n', 6);
    const chunk = memory.subarray(6, 14);
    const o = new Outbox();
    o.addRange(chunk, 0, 4);
    expect(o.insertBefore(Buffer.from('-E\r\n'), chunk, memory, 6, 4)).toBe(true);
    o.addRange(chunk, 4, 8);
    const out = o.take()!;
    expect(out.toString()).toBe('+A\r\n-E\r\n+B\r\n');
    expect(out.buffer).toBe(memory.buffer);

    // Short of room before the chunk, or a run that is not the chunk's alone: the caller adds the bytes.
    o.addRange(chunk, 0, 4);
    expect(o.insertBefore(Buffer.from('-LONGER\r\n'), chunk, memory, 6, 4)).toBe(false);
    o.add(Buffer.from('!'));
    o.addRange(chunk, 4, 8);
    expect(o.insertBefore(Buffer.from('-E\r\n'), chunk, memory, 6, 8)).toBe(false);
    o.take();

    // No run yet: the bytes go right before `pos`, and the chunk's rest joins them.
    memory.write('+A\r\n+B\r\n', 6);
    expect(o.insertBefore(Buffer.from('-E\r\n'), chunk, memory, 6, 0)).toBe(true);
    o.addRange(chunk, 0, 8);
    expect(o.take()!.toString()).toBe('-E\r\n+A\r\n+B\r\n');
    // Nor when the run does not end at `pos`.
    o.addRange(chunk, 0, 4);
    expect(o.insertBefore(Buffer.from('-E\r\n'), chunk, memory, 6, 6)).toBe(false);
    o.take();
  });

  it('skips empty ranges', () => {
    const o = new Outbox();
    o.addRange(Buffer.from('abc'), 1, 1);
    expect(o.empty).toBe(true);
  });
});

describe('copyOf', () => {
  it('copies short and long ranges into memory of their own', () => {
    for (const n of [0, 1, 14, 64, 65, 1000]) {
      const src = Buffer.from(Array.from({ length: n + 6 }, (_, i) => i % 251));
      const c = copyOf(src, 3, 3 + n);
      expect(c.equals(src.subarray(3, 3 + n))).toBe(true);
      src.fill(0);
      if (n) expect(c.equals(src.subarray(3, 3 + n))).toBe(false);
    }
  });
});
