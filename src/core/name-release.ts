/**
 * Team mode: node names a worker dropped from its nodes file, given back to the team once no job
 * of this worker runs on them, so another worker whose file has the name takes it at its next
 * read of its file. Not before: two workers would then run jobs on one node name (its max_jobs
 * counted twice). Tried again at each change of the queue (a job's end) and each probe cycle,
 * which also retries a release the queue could not take (offline). Each release is said, with
 * what it waited for: a name another worker then takes is no surprise to this one's user.
 */
export interface NameReleaseDeps {
  /** In the nodes in force (back in the file): claimed again, not to release. */
  inPool: (name: string) => boolean;
  /** A job of this worker runs there. */
  runs: (name: string) => boolean;
  /** A scheduling pass under way, which may have picked nodes before the file changed. */
  picking: () => boolean;
  release: (names: readonly string[]) => Promise<void>;
  /** Tells the user a name was given back, and when: where the nodes file's reads are said. */
  said: (line: string) => void;
}

/** Why a release came later than the name's removal: the words of its line. */
const WAITED = { job: "this worker's jobs there have ended", queue: 'the queue is back online' } as const;

export class NameRelease {
  /** The names to release, each with what its release waited for so far. */
  private readonly pending = new Map<string, Set<keyof typeof WAITED>>();
  private releasing = false;

  constructor(private readonly d: NameReleaseDeps) {}

  /** Names removed from the file: released now if idle, else once their jobs end. */
  drop(names: readonly string[]): void {
    for (const n of names) if (!this.pending.has(n)) this.pending.set(n, new Set());
    void this.settle();
  }

  /**
   * Names about to be claimed again (back in the file): not released behind the claim, which
   * would free a name the pool is taking. Returns those that were to be released (dropped again
   * should the claim fail). A release already on its way is ahead of the claim on the
   * connection both go by, which Redis serves in order (no offline queue holds it back; one
   * unanswered when the connection drops is sent again before anything new): the claim takes
   * the name after it. So settle() must send a release as it decides it, with no await between.
   */
  keep(names: readonly string[]): string[] {
    const kept = names.filter((n) => this.pending.has(n));
    for (const n of kept) this.pending.delete(n);
    return kept;
  }

  async settle(): Promise<void> {
    if (this.releasing || !this.pending.size) return;
    for (const n of this.pending.keys()) if (this.d.inPool(n)) this.pending.delete(n);
    for (const [n, waited] of this.pending) if (this.d.runs(n)) waited.add('job');
    const idle = this.d.picking() ? [] : [...this.pending.keys()].filter((n) => !this.d.runs(n));
    if (!idle.length) return;
    this.releasing = true;
    try {
      await this.d.release(idle);
      this.tell(idle);
      for (const n of idle) this.pending.delete(n);
    } catch {
      // The queue offline: its return is a change of the queue, which settles again.
      for (const n of idle) this.pending.get(n)?.add('queue');
    } finally {
      this.releasing = false;
    }
  }

  /** One line per cause, the names it gave back: at once, or now that what it waited for came. */
  private tell(names: readonly string[]): void {
    const by = new Map<string, string[]>();
    for (const n of names) {
      const waited = [...(this.pending.get(n) ?? [])].sort().map((w) => WAITED[w]);
      const when = waited.length ? `now that ${waited.join(' and ')}` : 'at once';
      by.set(when, [...(by.get(when) ?? []), n]);
    }
    for (const [when, ns] of by) this.d.said(`${ns.length > 1 ? 'nodes' : 'node'} ${ns.join(', ')} given back to the team ${when} (removed from the nodes file)`);
  }
}
