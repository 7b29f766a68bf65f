/**
 * The requests of a connection that wait for their reply, oldest first: each one's ordinal and
 * a small number saying what its reply is like, in two arrays of numbers used from `head` to
 * `end` and reused once empty. A framer of pipelined requests then makes no object per request
 * (and no write barrier to queue one).
 */
export class PendingReplies<Tag extends number> {
  private readonly ordinals: number[] = [];
  private readonly tags: Tag[] = [];
  private head = 0;
  private end = 0;

  /** Some request waits. */
  get waiting(): boolean {
    return this.head < this.end;
  }

  /** The oldest waiting request's tag; only while one waits. */
  get headTag(): Tag {
    return this.tags[this.head];
  }

  /** The oldest waiting request's ordinal; only while one waits. */
  get headOrdinal(): number {
    return this.ordinals[this.head];
  }

  push(ordinal: number, tag: Tag): void {
    this.ordinals[this.end] = ordinal;
    this.tags[this.end] = tag;
    this.end++;
  }

  /** The oldest request has its reply (none waits: nothing to do). */
  shift(): void {
    if (this.head === this.end) return;
    this.head++;
    if (this.head === this.end) {
      this.head = this.end = 0;
    } else if (this.head > 1024 && this.head * 2 > this.end) {
      this.ordinals.copyWithin(0, this.head, this.end);
      this.tags.copyWithin(0, this.head, this.end);
      this.end -= this.head;
      this.head = 0;
    }
  }

  /**
   * Where the request `ordinal` waits, or -1: a binary search, the ordinals rising from the oldest
   * (dropFrom relies on it too). A request skipped by a fault (the usual caller) lies amid its
   * chunk's, a pipeline's depth of them behind it: a search from the newest went through half of them.
   */
  indexOf(ordinal: number): number {
    const ordinals = this.ordinals;
    let lo = this.head;
    let hi = this.end - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const o = ordinals[mid];
      if (o === ordinal) return mid;
      if (o < ordinal) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  tagAt(i: number): Tag {
    return this.tags[i];
  }

  setTag(i: number, tag: Tag): void {
    this.tags[i] = tag;
  }

  /** The requests from `ordinal` on no longer wait (their bytes pass through unframed). */
  dropFrom(ordinal: number): void {
    while (this.end > this.head && this.ordinals[this.end - 1] >= ordinal) this.end--;
    if (this.head === this.end) this.head = this.end = 0;
  }

  /** The newest waiting request before `before` whose tag is not `tag`, its ordinal, or -1. */
  lastNot(tag: Tag, before: number): number {
    for (let i = this.end - 1; i >= this.head; i--) if (this.ordinals[i] < before && this.tags[i] !== tag) return this.ordinals[i];
    return -1;
  }

  /** The request at `i` no longer waits (it never reached the server). */
  remove(i: number): void {
    // A few places to close up, rarely more than a chunk's requests: a loop, not two copyWithin
    // calls (a third of an injected error's cost on a pipeline), on the side with fewer.
    const { ordinals, tags } = this;
    if (i - this.head < this.end - 1 - i) {
      for (let j = i; j > this.head; j--) {
        ordinals[j] = ordinals[j - 1];
        tags[j] = tags[j - 1];
      }
      this.head++;
    } else {
      for (let j = i + 1; j < this.end; j++) {
        ordinals[j - 1] = ordinals[j];
        tags[j - 1] = tags[j];
      }
      this.end--;
    }
    if (this.head === this.end) this.head = this.end = 0;
  }
}
