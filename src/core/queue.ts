/**
 * The job queue: a narrow interface (queue-types.ts) and one implementation, `LogQueue`, over any totally ordered
 * append-only log of records: the journal file (the embedded default, `JournalQueue`) or a Redis
 * stream (team mode, see redis-queue.ts). Every process reading the same log sees the same jobs;
 * a claim is an appended record, and the fold decides which claim won, so two engines never run
 * the same job and never overfill a node, whatever the backend.
 */
import { randomBytes } from 'node:crypto';
import { FileLog } from './file-log.js';
import { isTerminal, QueueState, type Job, type JobOutcome, type JobSpec, type JournalRecord, type NodeClaim } from './jobs.js';
import { currentOwner, isOwnerAlive, type Owner } from './owner.js';
import { nothingToCancel, QueueError, resolveJobId, short, type ClaimRecord, type JobFileTexts, type JobQueue, type LastSeen, type LostJobs, type RecordLog } from './queue-types.js';

export { QueueError, short } from './queue-types.js';
export type { JobQueue, LostJobs, Presence, RecordLog, SharedLine } from './queue-types.js';

export function newJobId(): string {
  return randomBytes(8).toString('hex');
}

const MAX_REASON = 1000;

export class LogQueue implements JobQueue {
  private readonly state = new QueueState();
  private listeners = new Set<() => void>();
  private unwatchLog?: () => void;
  private syncing?: Promise<void>;
  private resync = false;
  private cached?: readonly Readonly<Job>[];
  private readonly frozen = new Map<string, Readonly<Job>>();
  /** Jobs changed since the last `takeChanged`, and the ids of the queued ones (see `queued`). */
  private readonly changedIds = new Set<string>();
  private readonly queuedIds = new Set<string>();
  private queuedCache?: readonly Readonly<Job>[];
  /** Claims whose append failed without telling whether it landed: claim id -> the jobs it tried. */
  private readonly unsureClaims = new Map<string, string[]>();

  constructor(
    private readonly log: RecordLog,
    protected readonly owner: Owner = currentOwner(),
    private readonly lostJobs: LostJobs = 'interrupt',
    /** This engine's jobs directory, named in its claims when other machines read them. */
    private readonly resultsRoot?: string,
  ) {}

  async open(): Promise<void> {
    await this.log.open();
    await this.sync();
  }

  async close(): Promise<void> {
    this.stopWatching();
    this.listeners.clear();
    await this.log.close();
  }

  async enqueue(spec: Omit<JobSpec, 'id'> & { id?: string }, files?: JobFileTexts): Promise<Job> {
    const job: JobSpec = { ...spec, id: spec.id ?? newJobId(), name: clip(spec.name, 200) };
    await this.append({ t: 'enqueued', at: Date.now(), by: this.owner, job }, files);
    return this.mustGet(job.id);
  }

  async cancel(idOrPrefix: string, cause?: string): Promise<Job> {
    const id = this.resolve(idOrPrefix);
    const j = this.mustGet(id);
    if (isTerminal(j.status)) throw new QueueError(nothingToCancel(id, j.status));
    await this.append({ t: 'cancel', at: Date.now(), id, by: this.owner, ...(cause === undefined ? {} : { cause }) });
    return this.mustGet(id);
  }

  async retry(idOrPrefix: string, o: { id?: string; origin?: string; files?: JobFileTexts } = {}): Promise<Job> {
    const id = this.resolve(idOrPrefix);
    const j = this.mustGet(id);
    if (!isTerminal(j.status)) throw new QueueError(`job ${short(id)} is still ${j.status}; cancel it first or wait for it`);
    return this.enqueue({
      id: o.id,
      name: j.name,
      source: j.source,
      runner: j.runner,
      nodes: j.nodes,
      nodeTags: j.nodeTags,
      ...(j.files === false ? { files: false as const } : {}),
      ...(j.proxies ? { proxies: j.proxies } : {}),
      origin: o.origin,
      retryOf: id,
    }, o.files);
  }

  list(): readonly Readonly<Job>[] {
    if (!this.cached) {
      // Copy only the jobs that changed: unchanged ones keep their identity (cheap for views).
      for (const id of this.state.takeTouched()) {
        const j = this.state.jobs.get(id);
        if (j) this.frozen.set(id, Object.freeze({ ...j, nodesTaken: Object.freeze([...j.nodesTaken]) as string[], procs: Object.freeze([...j.procs]) as Job['procs'] }));
        else this.frozen.delete(id); // purged
        this.changedIds.add(id);
        if (j?.status === 'queued') this.queuedIds.add(id);
        else this.queuedIds.delete(id);
      }
      this.cached = Object.freeze([...this.frozen.values()]);
      // A queued job that changed is a new frozen object too: the list is made again.
      this.queuedCache = undefined;
    }
    return this.cached;
  }

  queued(): readonly Readonly<Job>[] {
    this.list();
    // Enqueue order, as in list() (a requeued job keeps its place).
    this.queuedCache ??= Object.freeze([...this.queuedIds].map((id) => this.frozen.get(id)!).sort((a, b) => a.seq - b.seq));
    return this.queuedCache;
  }

  takeChanged(): Readonly<Job>[] {
    this.list();
    const ids = [...this.changedIds];
    this.changedIds.clear();
    return ids.flatMap((id) => this.frozen.get(id) ?? []).sort((a, b) => a.seq - b.seq);
  }

  get(id: string): Readonly<Job> | undefined {
    this.list();
    return this.frozen.get(id);
  }

  resolve(idOrPrefix: string): string {
    return resolveJobId(idOrPrefix, this.state.jobs);
  }

  async claim(id: string, nodes: NodeClaim[]): Promise<string | undefined> {
    return (await this.claimFirst([id], nodes))?.claim;
  }

  async claimFirst(ids: readonly string[], nodes: NodeClaim[]): Promise<{ id: string; claim: string } | undefined> {
    return this.appendClaims(ids, nodes, async (records) => {
      if (this.log.appendClaim) return this.log.appendClaim(records);
      // No gate: the fold decides once the record is read back, so only the first is tried.
      await this.log.append(records[0]);
      return 0;
    });
  }

  async finishAndClaim(id: string, claim: string, outcome: JobOutcome, next: readonly string[], nodes: NodeClaim[]): Promise<{ id: string; claim: string } | undefined> {
    if (!next.length || !this.log.appendFinishClaim || outcome.lost || outcome.requeue) return void (await this.finish(id, claim, outcome));
    return this.appendClaims(next, nodes, (records) => this.log.appendFinishClaim!(this.finishRecord(id, claim, outcome), records));
  }

  /** Claim records of one claim for these jobs, appended by `append` (the index taken, -1: none); what the fold decided. */
  private async appendClaims(ids: readonly string[], nodes: NodeClaim[], append: (records: ClaimRecord[]) => Promise<number>): Promise<{ id: string; claim: string } | undefined> {
    const claim = randomBytes(8).toString('hex');
    const records = ids.map((id) => ({ t: 'claimed' as const, at: Date.now(), id, claim, owner: this.owner, nodes, results: this.resultsRoot, lost: this.lostJobs }));
    let taken: string | undefined;
    try {
      taken = ids[await append(records)];
    } catch (e) {
      // The record may have landed with only the reply lost (a shared backend dropping):
      // should it turn up, the job was never started, and must not stay `running` for ever.
      // Not for a log whose failed append never lands: nothing would settle it, and a failing disk
      // refused a claim a second for as long as it failed.
      if (this.log.failedAppendMayLand) this.unsureClaims.set(claim, [...ids]);
      throw e;
    }
    // Reading up to our record also brings in anything appended before it: what decides.
    await this.sync();
    if (taken === undefined) return undefined;
    if (this.state.jobs.get(taken)?.claim === claim) return { id: taken, claim };
    void this.log.releaseClaim?.(taken, claim).catch(() => {});
    return undefined;
  }

  /** A claim whose reply was lost waits for a read of the log to be settled (see settleUnsureClaims). */
  protected get unsettled(): boolean {
    return this.unsureClaims.size > 0;
  }

  private settleUnsureClaims(): void {
    for (const [claim, ids] of this.unsureClaims) {
      const won = ids.find((id) => this.state.jobs.get(id)?.claim === claim && this.state.jobs.get(id)?.status === 'running');
      if (won === undefined && !this.state.rejectedClaims.has(claim)) continue; // not seen yet
      this.unsureClaims.delete(claim);
      if (won === undefined) for (const id of ids) void this.log.releaseClaim?.(id, claim).catch(() => {});
      else {
        void this.finish(won, claim, { status: 'interrupted', failure: 'infrastructure', reason: 'its start was cut off by a lost connection to the queue' }).catch(() => {
          this.unsureClaims.set(claim, [won]);
        });
      }
    }
  }

  async recordProcess(id: string, claim: string, node: string, pgid: number): Promise<void> {
    await this.append({ t: 'proc', at: Date.now(), id, claim, node, pgid });
  }

  async finish(id: string, claim: string, outcome: JobOutcome): Promise<void> {
    await this.append(this.finishRecord(id, claim, outcome));
  }

  private finishRecord(id: string, claim: string, outcome: JobOutcome): JournalRecord {
    const { at, lost, requeue, ...rest } = outcome;
    if (requeue) return { t: 'requeued', at: at ?? Date.now(), id, claim, reason: rest.reason ?? 'put back in the queue' };
    // Stopped by a lost lease: what a dead engine's job becomes (recoverInterrupted), whoever
    // records it first; a requeue frees the job's gate, so the next claim may be anyone's.
    const job = this.state.jobs.get(id);
    if (lost && job && (job.onLost ?? this.lostJobs) === 'requeue' && !job.cancelRequested) return { t: 'requeued', at: at ?? Date.now(), id, claim, reason: rest.reason ?? 'its engine lost its lease' };
    return { t: 'finished', at: at ?? Date.now(), id, claim, ...rest, reason: rest.reason === undefined ? undefined : clip(rest.reason, MAX_REASON) };
  }

  async setNodeEnabled(name: string, enabled: boolean): Promise<void> {
    await this.append({ t: 'node', at: Date.now(), name, enabled, by: this.owner });
  }

  nodeEnabled(name: string): boolean | undefined {
    return this.state.nodeEnabled.get(name);
  }

  nodeUse(name: string): number {
    return this.state.nodeUse.get(name) ?? 0;
  }

  /** Whether an owner process is alive: true/false, or undefined when it cannot be told. */
  protected async liveness(): Promise<(o: Owner) => boolean | undefined> {
    return isOwnerAlive;
  }

  async recoverInterrupted(seen?: (job: Readonly<Job>) => Promise<LastSeen>): Promise<Readonly<Job>[]> {
    await this.sync();
    const alive = await this.liveness();
    const dead = [...this.state.jobs.values()].filter((j) => j.status === 'running' && j.owner && j.claim && alive(j.owner) === false);
    // Returned as found: a requeue's record clears the claim and the processes by which the
    // caller finds what the dead engine left running (see killLeftovers).
    const found = dead.map((j) => this.mustGet(j.id));
    for (const j of dead) {
      const why = `the marteau-tui process running it (pid ${j.owner!.pid} on ${j.owner!.host}) stopped without finishing it`;
      const last = await seen?.(j);
      // It reached its end, and only the record of it was lost (its engine killed right then, or
      // its disk full): that end, verdict and all.
      if (last?.ended) await this.recordOrShow(this.finishRecord(j.id, j.claim!, last.ended));
      // A job a user asked to stop is not run again.
      else if ((j.onLost ?? this.lostJobs) === 'requeue' && !j.cancelRequested) await this.recordOrShow({ t: 'requeued', at: Date.now(), id: j.id, claim: j.claim!, reason: why });
      else {
        // Found dead hours later, it did not run for hours: it ended when it was last seen at work.
        const at = last?.at !== undefined && last.at > (j.startedAt ?? 0) && last.at < Date.now() ? Math.floor(last.at) : undefined;
        await this.recordOrShow(this.finishRecord(j.id, j.claim!, { status: 'interrupted', reason: why, failure: 'infrastructure', at }));
      }
    }
    // A --ci run's jobs are its own; if it died before starting one, nobody else will. (Ended
    // through a claim, which a read-only log cannot take: there they stay queued.)
    const orphans = [...this.state.jobs.values()].filter((j) => j.status === 'queued' && j.origin === 'ci' && alive(j.enqueuedBy) === false && !this.readOnly());
    for (const j of orphans) {
      const claim = await this.claim(j.id, []);
      if (claim) {
        await this.finish(j.id, claim, {
          status: 'interrupted',
          reason: `the --ci process that queued it (pid ${j.enqueuedBy.pid}) stopped before it started`,
          failure: 'infrastructure',
        });
      }
    }
    return [...found, ...orphans.map((j) => this.mustGet(j.id))];
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    this.unwatchLog ??= this.log.watch(
      () => this.sync(),
      (id) => this.state.jobs.get(id)?.status === 'queued',
      () => this.notify(),
    );
    return () => {
      this.listeners.delete(listener);
      if (!this.listeners.size) this.stopWatching();
    };
  }

  setBusy(busy: boolean): void {
    this.log.setBusy?.(busy);
  }

  readOnly(): string | undefined {
    return this.log.readOnly?.();
  }

  /** Read what was appended since last time. Calls coalesce: one read at a time, one more if asked meanwhile. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.resync = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.resync = false;
          const records = await this.log.readNew();
          let changed = false;
          for (const r of records) changed = this.state.apply(r) || changed;
          if (changed) {
            this.cached = undefined;
            this.notify();
          }
          if (this.unsureClaims.size) this.settleUnsureClaims();
        } while (this.resync);
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  /** Tell the listeners something changed (records, or a backend's own state such as `online`). */
  protected notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /**
   * A record of what recovery found, appended; on a log that cannot be written (a read-only
   * state dir), applied to this process's view only, so a listing shows what the next writer
   * will record rather than a dead engine's job `running` for ever.
   */
  private async recordOrShow(r: JournalRecord): Promise<void> {
    if (!this.readOnly()) return this.append(r);
    if (!this.state.apply(r)) return;
    this.cached = undefined;
    this.notify();
  }

  private async append(r: JournalRecord, files?: JobFileTexts): Promise<void> {
    await this.log.append(r, files);
    // Our own record is now in the log; reading up to it also brings in anything another
    // process appended before it, which is what decides a claim race.
    await this.sync();
  }

  private mustGet(id: string): Job {
    const j = this.state.jobs.get(id);
    if (!j) throw new QueueError(`no job ${id}`);
    return this.get(id) as Job;
  }

  private stopWatching(): void {
    this.unwatchLog?.();
    this.unwatchLog = undefined;
  }
}

/** The embedded default: the queue on the journal file in the state dir. */
export class JournalQueue extends LogQueue {
  private readonly fileLog: FileLog;

  constructor(readonly file: string, owner: Owner = currentOwner(), lostJobs?: LostJobs) {
    const log = new FileLog(file);
    super(log, owner, lostJobs);
    this.fileLog = log;
  }

  /** Damaged lines skipped so far. */
  get corruptLines(): number {
    return this.fileLog.damagedLines.length;
  }

  /** Their line numbers in the journal file, from 1. */
  get damagedLines(): readonly number[] {
    return this.fileLog.damagedLines;
  }

  onUnsynced(warn: (message: string) => void): void {
    this.fileLog.warn = warn;
  }
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
