/** Bytes a framer holds between chunks (a line split across them): a list with its total length. */

const EMPTY = Buffer.alloc(0);

export class Held {
  parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }
  /** The held bytes followed by `tail`, and empty afterwards. */
  take(tail: Buffer = EMPTY): Buffer {
    const parts = this.parts;
    const all = parts.length === 0 ? tail : parts.length === 1 && tail.length === 0 ? parts[0] : Buffer.concat([...parts, tail]);
    this.parts = [];
    this.length = 0;
    return all;
  }
  /** The first `n` held bytes (or fewer), without taking them. */
  head(n: number): Buffer {
    const first = this.parts[0];
    if (first === undefined) return EMPTY;
    if (first.length >= n || this.parts.length === 1) return first.subarray(0, n);
    return Buffer.concat(this.parts).subarray(0, n);
  }
  /**
   * What is held now, to give back with `restore` (no copy: `take` swaps the array and `push`
   * only appends, so the first `count` parts of `parts` stay as they are).
   */
  mark(): { parts: Buffer[]; count: number } {
    return { parts: this.parts, count: this.parts.length };
  }
  /** Holds again what `mark` saw, followed by `extra`. */
  restore(m: { parts: Buffer[]; count: number }, extra: Buffer): void {
    this.parts = m.parts.slice(0, m.count);
    this.length = 0;
    for (const p of this.parts) this.length += p.length;
    this.push(extra);
  }
}
