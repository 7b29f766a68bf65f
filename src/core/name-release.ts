/**
 * Team mode: node names a worker dropped from its nodes file, given back to the team once no job
 * of this worker runs on them, so another worker whose file has the name takes it at its next
 * read of its file. Not before: two workers would then run jobs on one node name (its max_jobs
 * counted twice). Tried again at each change of the queue (a job's end) and each probe cycle,
 * which also retries a release the queue could not take (offline).
 */
export interface NameReleaseDeps {
  /** In the nodes in force (back in the file): claimed again, not to release. */
  inPool: (name: string) => boolean;
  /** A job runs there, or one may be on its way to: a scheduling pass picked nodes before the file changed. */
  busy: (name: string) => boolean;
  release: (names: readonly string[]) => Promise<void>;
}

export class NameRelease {
  private readonly pending = new Set<string>();
  private releasing = false;

  constructor(private readonly d: NameReleaseDeps) {}

  /** Names removed from the file: released now if idle, else once their jobs end. */
  drop(names: readonly string[]): void {
    for (const n of names) this.pending.add(n);
    void this.settle();
  }

  /**
   * Names about to be claimed again (back in the file): not released behind the claim, which
   * would free a name the pool is taking. Returns those that were to be released (dropped again
   * should the claim fail).
   */
  keep(names: readonly string[]): string[] {
    const kept = names.filter((n) => this.pending.has(n));
    for (const n of kept) this.pending.delete(n);
    return kept;
  }

  async settle(): Promise<void> {
    if (this.releasing || !this.pending.size) return;
    for (const n of this.pending) if (this.d.inPool(n)) this.pending.delete(n);
    const idle = [...this.pending].filter((n) => !this.d.busy(n));
    if (!idle.length) return;
    this.releasing = true;
    try {
      await this.d.release(idle);
      for (const n of idle) this.pending.delete(n);
    } catch {
      // The queue offline: its return is a change of the queue, which settles again.
    } finally {
      this.releasing = false;
    }
  }
}
