/**
 * The quiet requests of a memcache connection still waiting, oldest first: a request the server
 * answers only when it fails or hits (binary GETQ, SETQ, ...; a text meta command with `q`).
 * Which of them a reply is for, the replies after it say; each protocol matches its own way.
 */
export interface Quiet {
  ordinal: number;
}

export class QuietRequests<Q extends Quiet> {
  private readonly list: Q[] = [];
  private head = 0;

  /** The oldest waiting, if any. */
  get oldest(): Q | undefined {
    return this.list[this.head];
  }

  push(q: Q): void {
    this.list.push(q);
  }

  /** Those waiting, oldest first. */
  *waiting(): Iterable<Q> {
    for (let i = this.head; i < this.list.length; i++) yield this.list[i];
  }

  /** The oldest has its reply, or none. */
  shift(): void {
    const q = this.list;
    if (++this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      // A client that never lets its quiet requests run out (SETQ after SETQ): drop those done.
      q.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Request `ordinal` will get no reply of the server's (skipped, or sent as something else). */
  forget(ordinal: number): void {
    // Almost always one of the latest: the request a fault just met.
    for (let i = this.list.length - 1; i >= this.head; i--) {
      if (this.list[i].ordinal !== ordinal) continue;
      this.list.splice(i, 1);
      if (this.head === this.list.length) this.list.length = this.head = 0;
      return;
    }
  }
}
