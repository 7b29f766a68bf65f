/**
 * The job queue: a narrow interface (a Redis implementation can come later) and its
 * implementation on the shared journal file. Every process on the same state dir sees the same
 * jobs; a claim is an appended record, and the fold decides which claim won, so two engines
 * never run the same job and never overfill a node.
 */
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { Journal, MAX_RECORD_BYTES, RecordTooLargeError } from './journal.js';
import { isTerminal, QueueState, type Job, type JobOutcome, type JobSpec, type JournalRecord, type NodeClaim } from './jobs.js';
import { currentOwner, isOwnerAlive, type Owner } from './owner.js';

export interface JobQueue {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Add a job; its id may be given (the engine writes the config snapshot under it first). */
  enqueue(spec: Omit<JobSpec, 'id'> & { id?: string }): Promise<Job>;
  /** Cancel a queued job now, or ask the engine running it to stop. */
  cancel(id: string): Promise<Job>;
  /** A new queued job with the same spec (`retryOf` points at the old one). */
  retry(id: string, newId?: string): Promise<Job>;
  /** All jobs, oldest first, history included. Frozen: a new array when anything changed. */
  list(): readonly Readonly<Job>[];
  get(id: string): Readonly<Job> | undefined;
  /** A full id from a unique prefix (like git). Throws QueueError otherwise. */
  resolve(idOrPrefix: string): string;
  /** Take a queued job onto nodes; undefined when another process got it (or the nodes) first. */
  claim(id: string, nodes: NodeClaim[]): Promise<string | undefined>;
  /** Remember a process group started for a running job (crash clean-up). */
  recordProcess(id: string, claim: string, node: string, pgid: number): Promise<void>;
  finish(id: string, claim: string, outcome: JobOutcome): Promise<void>;
  setNodeEnabled(name: string, enabled: boolean): Promise<void>;
  nodeEnabled(name: string): boolean | undefined;
  /** Running jobs per node across all processes. */
  nodeUse(name: string): number;
  /** Mark running jobs whose owner process is dead as interrupted; returns them. */
  recoverInterrupted(): Promise<Readonly<Job>[]>;
  /** Called after changes, whoever made them (this process or another). */
  watch(listener: () => void): () => void;
  /** Pick up records appended by other processes now. */
  sync(): Promise<void>;
}

export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueError';
  }
}

export function newJobId(): string {
  return randomBytes(8).toString('hex');
}

const POLL_MS = 300;
const MAX_REASON = 1000;

export class JournalQueue implements JobQueue {
  private readonly journal: Journal<JournalRecord>;
  private readonly state = new QueueState();
  private offset = 0;
  private listeners = new Set<() => void>();
  private watcher?: FSWatcher;
  private poller?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private resync = false;
  private cached?: readonly Readonly<Job>[];
  private readonly frozen = new Map<string, Readonly<Job>>();
  corruptLines = 0;

  constructor(readonly file: string, private readonly owner: Owner = currentOwner()) {
    this.journal = new Journal<JournalRecord>(file);
  }

  async open(): Promise<void> {
    await this.journal.open();
    await this.sync();
  }

  async close(): Promise<void> {
    this.stopWatching();
    this.listeners.clear();
    await this.journal.close();
  }

  async enqueue(spec: Omit<JobSpec, 'id'> & { id?: string }): Promise<Job> {
    const job: JobSpec = { ...spec, id: spec.id ?? newJobId(), name: clip(spec.name, 200) };
    await this.append({ t: 'enqueued', at: Date.now(), by: this.owner, job });
    return this.mustGet(job.id);
  }

  async cancel(idOrPrefix: string): Promise<Job> {
    const id = this.resolve(idOrPrefix);
    const j = this.mustGet(id);
    if (isTerminal(j.status)) throw new QueueError(`job ${short(id)} is already ${j.status}`);
    await this.append({ t: 'cancel', at: Date.now(), id, by: this.owner });
    return this.mustGet(id);
  }

  async retry(idOrPrefix: string, newId?: string): Promise<Job> {
    const id = this.resolve(idOrPrefix);
    const j = this.mustGet(id);
    if (!isTerminal(j.status)) throw new QueueError(`job ${short(id)} is still ${j.status}; cancel it first or wait for it`);
    return this.enqueue({
      id: newId,
      name: j.name,
      source: j.source,
      runner: j.runner,
      nodes: j.nodes,
      nodeTags: j.nodeTags,
      origin: j.origin,
      retryOf: id,
    });
  }

  list(): readonly Readonly<Job>[] {
    if (!this.cached) {
      // Copy only the jobs that changed: unchanged ones keep their identity (cheap for views).
      for (const id of this.state.takeTouched()) {
        const j = this.state.jobs.get(id);
        if (j) this.frozen.set(id, Object.freeze({ ...j, nodesTaken: Object.freeze([...j.nodesTaken]) as string[], procs: Object.freeze([...j.procs]) as Job['procs'] }));
      }
      this.cached = Object.freeze([...this.frozen.values()]);
    }
    return this.cached;
  }

  get(id: string): Readonly<Job> | undefined {
    this.list();
    return this.frozen.get(id);
  }

  resolve(idOrPrefix: string): string {
    const p = idOrPrefix.trim().toLowerCase();
    if (!/^[0-9a-f]{4,64}$/.test(p)) throw new QueueError(`"${idOrPrefix}" is not a job id (4 or more hex digits, see \`marteau-tui queue\`)`);
    if (this.state.jobs.has(p)) return p;
    const matches = [...this.state.jobs.keys()].filter((k) => k.startsWith(p));
    if (matches.length === 1) return matches[0];
    if (!matches.length) throw new QueueError(`no job ${p} in the queue (see \`marteau-tui queue --all\`)`);
    throw new QueueError(`${p} matches ${matches.length} jobs (${matches.slice(0, 3).map(short).join(', ')}…); give more digits`);
  }

  async claim(id: string, nodes: NodeClaim[]): Promise<string | undefined> {
    const claim = randomBytes(8).toString('hex');
    await this.append({ t: 'claimed', at: Date.now(), id, claim, owner: this.owner, nodes });
    return this.state.jobs.get(id)?.claim === claim ? claim : undefined;
  }

  async recordProcess(id: string, claim: string, node: string, pgid: number): Promise<void> {
    await this.append({ t: 'proc', at: Date.now(), id, claim, node, pgid });
  }

  async finish(id: string, claim: string, outcome: JobOutcome): Promise<void> {
    await this.append({ t: 'finished', at: Date.now(), id, claim, ...outcome, reason: outcome.reason === undefined ? undefined : clip(outcome.reason, MAX_REASON) });
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

  async recoverInterrupted(): Promise<Readonly<Job>[]> {
    await this.sync();
    const dead = [...this.state.jobs.values()].filter((j) => j.status === 'running' && j.owner && j.claim && isOwnerAlive(j.owner) === false);
    for (const j of dead) {
      await this.finish(j.id, j.claim!, {
        status: 'interrupted',
        reason: `the marteau-tui process running it (pid ${j.owner!.pid}) stopped without finishing it`,
        failure: 'infrastructure',
      });
    }
    // A --ci run's jobs are its own; if it died before starting one, nobody else will.
    const orphans = [...this.state.jobs.values()].filter((j) => j.status === 'queued' && j.origin === 'ci' && isOwnerAlive(j.enqueuedBy) === false);
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
    return [...dead, ...orphans].map((j) => this.mustGet(j.id));
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    this.startWatching();
    return () => {
      this.listeners.delete(listener);
      if (!this.listeners.size) this.stopWatching();
    };
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
          const { records, offset, corrupt } = await this.journal.read(this.offset);
          this.offset = offset;
          this.corruptLines += corrupt;
          let changed = false;
          for (const r of records) changed = this.state.apply(r) || changed;
          if (changed) {
            this.cached = undefined;
            for (const l of [...this.listeners]) l();
          }
        } while (this.resync);
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private async append(r: JournalRecord): Promise<void> {
    try {
      await this.journal.append(r);
    } catch (e) {
      if (e instanceof RecordTooLargeError) {
        throw new QueueError(`this job's description is too long to record (over ${MAX_RECORD_BYTES} bytes): shorten its name or path`);
      }
      throw e;
    }
    // Our own record is now in the file; reading up to it also brings in anything another
    // process appended before it, which is what decides a claim race.
    await this.sync();
  }

  private mustGet(id: string): Job {
    const j = this.state.jobs.get(id);
    if (!j) throw new QueueError(`no job ${id}`);
    return this.get(id) as Job;
  }

  private startWatching(): void {
    if (this.poller) return;
    // fs.watch is fast but may miss events (network filesystems, some containers); the poll is
    // the safety net. Both only trigger a cheap read of the new bytes.
    try {
      this.watcher = watch(this.file, { persistent: false }, () => void this.sync().catch(() => {}));
      this.watcher.on('error', () => {});
    } catch {
      this.watcher = undefined;
    }
    this.poller = setInterval(() => void this.sync().catch(() => {}), POLL_MS);
    this.poller.unref();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poller);
    this.poller = undefined;
  }
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function short(id: string): string {
  return id.slice(0, 8);
}
