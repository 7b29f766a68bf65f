/**
 * The engine's running half: the queue, the node pool, the scheduler and the jobs this process
 * runs, from start to stop, and what a change in the queue (from here or another process)
 * announces. The Engine (engine.ts) adds on top what users call and what views read. A base
 * class rather than a member, so that the actions read the live jobs and the flags they set
 * directly, as one object, with nothing to keep in step between two.
 */
import type { NodeConfig } from '../config/nodes.js';
import { defaultExecutorFactory } from '../exec/factory.js';
import type { Proxy } from '../proxy/proxy.js';
import type { EngineCore, EngineOptions, JobSummary, Kit, LiveJob, UnrecordedEnd } from './engine-types.js';
import { StartTelling } from './engine-starts.js';
import { resultDirOf, runSummary } from './engine-views.js';
import { EventBus } from './events.js';
import { JobFiles } from './job-files.js';
import { summaryLine, type AbortWhy } from './job-outcome.js';
import { runJob } from './job-run.js';
import { isTerminal, type Job } from './jobs.js';
import { NameRelease } from './name-release.js';
import { NodePool } from './node-pool.js';
import { nodesReloader } from './nodes-reload.js';
import { PresencePublisher } from './presence-publish.js';
import { JournalQueue, short, type JobQueue } from './queue.js';
import { checkJournal, openQueue, queueOf, reapDead } from './queue-open.js';
import { RedisQueue } from './redis-queue.js';
import { Scheduler } from './scheduler.js';
import { shareWithTeam } from './team-share.js';
import { Watchdog } from './watchdog.js';
import { StateDir } from './state-dir.js';
import { FailingJournal, isDiskFailing, isDiskFull, SpaceWatch } from './state-space.js';

/** How often an engine running jobs on the journal looks for jobs of engines that died. */
const REAP_MS = 2000;

export abstract class EngineRuntime {
  readonly events = new EventBus();
  readonly state: StateDir;
  readonly queue: JobQueue;
  readonly pool: NodePool;
  protected loadedKit?: Kit;
  private kitLoading?: Promise<Kit>;
  protected readonly scheduler: Scheduler;
  protected readonly live = new Map<string, LiveJob>();
  protected readonly own = new Set<string>();
  /** What a job that ended here leaves for views: its summary, report, seed and fault timeline. */
  private readonly summaries = new Map<string, JobSummary>();
  protected readonly unrecorded = new Map<string, UnrecordedEnd>();
  private recordingLate = false;
  private readonly seen = new Map<string, Job['status']>();
  private readonly starts = new StartTelling((id) => this.scheduler.claiming(id), (e) => this.events.emit(e));
  private unwatch?: () => void;
  private stopSharing?: () => void;
  private started = false;
  protected stopping = false;
  /** Kills the process groups of the jobs run here should this process die or lose its lease. */
  private readonly watchdog: Watchdog;
  private leaseTimer?: NodeJS.Timeout;
  private reapTimer?: NodeJS.Timeout;
  private reaping = false;
  private readonly files: JobFiles;
  /** Shows the control centers beside this process the proxies it runs (the state dir's journal only). */
  private readonly presence?: PresencePublisher;
  /** Holds starts while the state dir's disk is full. */
  private readonly space: SpaceWatch;
  /** Set while the journal's disk fails its writes. */
  private readonly failing = new FailingJournal(() => void this.recordLate());
  /** Node names dropped from the nodes file, given back to the team once their jobs end. */
  private readonly names?: NameRelease;
  /** What the parts (enqueue, running a job, its end) share with the engine. */
  protected readonly core: EngineCore;

  constructor(private readonly options: EngineOptions) {
    this.state = new StateDir(options.stateDir);
    this.space = new SpaceWatch(this.state.root, () => {
      this.log(undefined, `state dir ${this.state.root} has room again: jobs start again`, 'info');
      void this.recordLate().then(() => this.scheduler.kick());
    });
    const q = options.nodes.queue;
    this.queue = options.queue ?? queueOf(options.nodes, this.state, options.run !== 'all', RedisQueue);
    // With `requeue`, a job of an engine judged dead runs again elsewhere: its old copy must not.
    const lease = q?.lostJobs === 'requeue' ? this.queue.lease?.bind(this.queue) : undefined;
    this.watchdog = new Watchdog(lease ? { ttlMs: lease().ttlMs, lastBeat: () => lease().lastBeat } : undefined, (words) => this.log(undefined, words, 'warn'));
    const claimNames = options.run === 'all' ? this.queue.claimNodeNames?.bind(this.queue) : undefined;
    const release = claimNames && this.queue.releaseNodeNames?.bind(this.queue);
    this.names = release && new NameRelease({ inPool: (n) => !!this.pool.node(n), runs: (n) => this.queue.nodeUse(n) > 0, picking: () => this.scheduler.passing, release, said: (line) => this.log(undefined, line, 'info') });
    const reread = options.rereadNodes ? nodesReloader({ pool: () => this.pool, log: (line, level) => this.log(undefined, line, level), claimNames, names: this.names }) : undefined;
    this.pool = new NodePool(options.nodes, this.queue, options.executorFactory ?? defaultExecutorFactory, this.events, reread);
    this.scheduler = new Scheduler({
      queue: this.queue,
      pool: this.pool,
      // A --ci run's jobs are left to it: it streams their output and owes their exit code.
      mayRun: (j) => !this.stopping && !this.space.held && (this.own.has(j.id) ? options.run !== 'none' : options.run === 'all' && j.origin !== 'ci'),
      start: (job, claim, nodes) => this.launch(job, claim, nodes),
      claimed: (ids) => this.starts.settled(ids),
      unplaceable: (job, reason, failure) => this.failUnplaceable(job, reason, failure),
      // A shared queue's job may go to any worker, except a --ci run's (left to that run): a
      // lone engine, or the --ci run itself, is the only one that could run it, so it fails.
      othersMayRun: (j) => this.queue.lease !== undefined && j.origin !== 'ci',
      leave: (job, reason, fix) => {
        // A node to fix is a person's to do: a warning, which the control center's messages show.
        this.log(undefined, `leaves job ${short(job.id)} queued: ${reason}`, fix ? 'warn' : 'info');
        this.changed();
      },
      waits: (job, reason) => this.log(job.id, reason, 'info'),
      nodeWaitMs: options.nodeWaitMs,
      reportBusy: options.run === 'all',
      failed: (e) => this.writeFailed(e),
      wrote: () => this.journalWrites(),
    });
    this.files = new JobFiles(this.state, this.queue);
    if (this.runsJobs && this.queue instanceof JournalQueue) this.presence = new PresencePublisher(this.state.root, this.live, (line) => this.log(undefined, line, 'warn'));
    this.core = {
      options,
      events: this.events,
      state: this.state,
      queue: this.queue,
      pool: this.pool,
      files: this.files,
      watchdog: this.watchdog,
      live: this.live,
      own: this.own,
      summaries: this.summaries,
      presence: this.presence,
      waitReason: (id) => this.scheduler.waitReason(id),
      unrecorded: this.unrecorded,
      kit: () => this.kit(),
      kick: () => void this.scheduler.kick(),
      finish: (id, claim, nodes, outcome) => this.scheduler.finish(id, claim, nodes, outcome),
      changed: () => this.changed(),
      stopping: () => this.stopping,
      stateDirFull: (why) => {
        if (this.space.hold()) this.log(undefined, `${why}: no job starts here until there is room (checked every 5 s); the queued jobs wait`, 'warn');
      },
      journalFailed: (e) => {
        if (this.failing.failed(e)) this.log(undefined, `${this.failing.failure}: the disk failed: check it (dmesg), or give another --state-dir; no job starts here until it can be written again (tried every second), the queued jobs wait`, 'warn');
      },
      log: (jobId, line, level) => this.log(jobId, line, level),
    };
  }

  /** Something views show changed: the Engine keeps the snapshot and who reads it. */
  protected abstract changed(): void;

  /** The heavy half, loaded once. */
  private kit(): Promise<Kit> {
    const { runners } = this.options;
    this.kitLoading ??= Promise.all([import('./engine-kit.js'), typeof runners === 'function' ? runners() : runners]).then(([m, registry]) => {
      this.loadedKit = { m, runners: registry, behaviors: this.options.behaviors ?? m.defaults.behaviors };
      return this.loadedKit;
    });
    return this.kitLoading;
  }

  /**
   * Starts held until the state dir's disk has room again (see SpaceWatch), or none can start:
   * the journal's disk fails its writes (see journalFailure).
   */
  get startsHeld(): boolean {
    return this.space.held || this.failing.failure !== undefined;
  }

  /** The journal's failed write, in words, while its disk fails them. */
  get journalFailure(): string | undefined {
    return this.failing.failure;
  }

  get runsJobs(): boolean {
    return (this.options.run ?? 'none') !== 'none';
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.options.preload ?? true) await this.kit();
    const readOnly = await openQueue(this.core, this.runsJobs);
    if (this.options.run === 'all' && this.queue.claimNodeNames) {
      await this.queue.claimNodeNames(this.pool.list().map((n) => n.name)).catch(async (e: unknown) => {
        await this.queue.close();
        throw e;
      });
    }
    for (const j of this.queue.list()) this.seen.set(j.id, j.status);
    await checkJournal(this.core, readOnly);
    // Jobs whose engine died (kill -9, crash, reboot): interrupted, what they left here stopped.
    await this.reap();
    // And again while this one runs: another engine on the state dir killed meanwhile would
    // otherwise keep its job `running` and its nodes taken for as long as this one lives. (A
    // shared queue does it on its heartbeat.)
    if (this.runsJobs && this.queue instanceof JournalQueue) {
      this.reapTimer = setInterval(() => void this.reap().catch(() => {}), REAP_MS);
      this.reapTimer.unref();
    }
    this.pool.onChange(() => {
      this.changed();
      void this.scheduler.kick().then(() => this.names?.settle());
    });
    // Deferred and coalesced: a burst of records (or a claim being launched) is seen once,
    // after the code that appended them has finished its step.
    let pending = false;
    this.unwatch = this.queue.watch(() => {
      if (pending) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        this.onQueueChange();
      });
    });
    this.onQueueChange();
    this.stopSharing = shareWithTeam(this.core, this.runsJobs);
    this.presence?.start();
    if (this.options.probe ?? this.runsJobs) this.pool.start();
    if (this.runsJobs) void this.scheduler.kick();
    // Only `requeue` starts a lost worker's jobs again elsewhere: with `interrupt` nothing needs
    // the lease held here, and a timer waking every worker 4 times a second is CPU the jobs share.
    if (this.runsJobs && this.queue.lease && this.options.nodes.queue?.lostJobs === 'requeue') this.holdLease();
  }

  /**
   * Pass each heartbeat on to the watchdog, and stop the jobs before the lease may run out (the
   * others may then start them again): lost jobs, recorded as `lost_jobs: requeue` says. A tenth
   * of the lease early (two ticks of 5 s): the watchdog SIGKILLs them when it runs out, and a job
   * it kills first reads as its command failing ("killed by SIGKILL"), not as lost.
   */
  private holdLease(): void {
    this.leaseTimer = setInterval(() => {
      const { lastBeat, ttlMs } = this.queue.lease!();
      this.watchdog.beat(lastBeat);
      if (Date.now() >= lastBeat + ttlMs - ttlMs / 10) for (const l of this.live.values()) l.abort.abort('lease' satisfies AbortWhy);
    }, 250);
    this.leaseTimer.unref();
  }

  /** Stop scheduling; running jobs are stopped and recorded as interrupted. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.scheduler.stop();
    this.pool.stop();
    for (const l of this.live.values()) l.abort.abort('shutdown' satisfies AbortWhy);
    await Promise.all([...this.live.values()].map((l) => l.done));
    clearInterval(this.leaseTimer);
    clearInterval(this.reapTimer);
    this.space.stop();
    this.failing.stop();
    this.watchdog.close();
    this.stopSharing?.();
    await this.presence?.stop();
    this.unwatch?.();
    await this.queue.close();
  }

  /**
   * A write of the scheduler (a claim) the state dir's disk refused: full, starts wait for room;
   * failing, it is said once. (A shared queue offline is said by the queue's state.)
   */
  private writeFailed(e: unknown): void {
    if (isDiskFull(e)) {
      const { code, path: file } = e as NodeJS.ErrnoException;
      this.core.stateDirFull(`the state dir ${this.state.root} is full (${code} writing ${file})`);
    } else if (isDiskFailing(e)) {
      this.core.journalFailed(e);
    }
  }

  /** A write to the journal went through: one failing before is said to be mended. */
  private journalWrites(): void {
    const file = this.failing.file;
    if (this.failing.wrote()) this.log(undefined, `${file} can be written again: jobs start again`, 'info');
  }

  private async reap(): Promise<void> {
    if (this.reaping) return;
    this.reaping = true;
    try {
      await reapDead(this.core);
    } finally {
      this.reaping = false;
    }
  }

  /**
   * A job as it ended here: one whose end the queue never got (offline, or the journal's disk
   * full or failing) ended all the same, and a summary or exit code says how, not the `running`
   * the queue still shows.
   */
  asEnded<J extends Readonly<Job>>(j: J): J {
    const end = this.unrecorded.get(j.id);
    if (!end || isTerminal(j.status)) return j;
    return Object.freeze({ ...j, ...end, durationMs: j.startedAt !== undefined ? end.endedAt - j.startedAt : undefined });
  }

  /** The proxies of the jobs this process runs now. */
  liveProxies(): Proxy[] {
    return [...this.live.values()].flatMap((l) => [...(l.proxies?.proxies.values() ?? [])]);
  }

  // ---- queue changes (from this process or others) ----

  private onQueueChange(): void {
    for (const j of this.queue.takeChanged()) {
      const before = this.seen.get(j.id);
      if (before === j.status) {
        if (j.status === 'running' && j.cancelRequested) this.live.get(j.id)?.abort.abort('cancel' satisfies AbortWhy);
        continue;
      }
      this.seen.set(j.id, j.status);
      const at = Date.now();
      if (before === undefined) this.events.emit({ type: 'job.enqueued', at, job: j });
      if (j.status === 'running') this.starts.running({ type: 'job.started', at, job: j });
      else this.starts.tell(j.id);
      if (isTerminal(j.status) && !this.live.has(j.id)) this.emitFinished(j);
      if (j.status === 'running' && j.cancelRequested) this.live.get(j.id)?.abort.abort('cancel' satisfies AbortWhy);
    }
    this.changed();
    // After the pass: one under way may have picked a node just dropped from the file.
    if (this.runsJobs) void this.scheduler.kick().then(() => this.names?.settle());
    if (this.unrecorded.size && this.queue.online?.() !== false) void this.recordLate();
  }

  /**
   * The ends given up while the shared queue was offline, recorded now it is back: else the jobs
   * would show `running`, their nodes taken, for as long as this engine lives.
   */
  private async recordLate(): Promise<void> {
    if (this.recordingLate) return;
    this.recordingLate = true;
    try {
      for (const [id, { claim, endedAt, ...outcome }] of [...this.unrecorded]) {
        await this.queue.finish(id, claim, { ...outcome, at: endedAt });
        this.journalWrites();
        this.unrecorded.delete(id);
        this.log(id, `the job's end (${outcome.status}) is recorded in the queue`, 'info');
      }
    } catch (e) {
      // Offline again: the next change (the queue back) tries again. Full again: so does the
      // room. Failing still: so does the failing journal's timer.
      if (isDiskFull(e)) this.space.hold();
    } finally {
      this.recordingLate = false;
    }
  }

  private emitFinished(j: Readonly<Job>): void {
    const s = runSummary(this.core, j);
    this.events.emit({
      type: 'job.finished',
      at: Date.now(),
      job: j,
      summary: s?.summary ?? summaryLine(j),
      resultDir: resultDirOf(this.state, this.queue, j.id),
      bell: s?.bell ?? false,
      report: s?.report,
    });
  }

  private async failUnplaceable(job: Readonly<Job>, reason: string, failure: 'config' | 'infrastructure'): Promise<void> {
    const claim = await this.queue.claim(job.id, []);
    if (!claim) return;
    await this.queue.finish(job.id, claim, { status: 'failed', failure, reason });
  }

  // ---- running a job ----

  private launch(job: Readonly<Job>, claim: string, nodes: NodeConfig[]): void {
    this.own.add(job.id);
    const live: LiveJob = { abort: new AbortController(), claim, lines: [], timeline: [], done: Promise.resolve() };
    this.live.set(job.id, live);
    live.done = runJob(this.core, job, claim, nodes, live)
      .catch((e: Error) => this.log(job.id, `internal error: ${e.stack ?? e.message}`, 'error'))
      .finally(() => {
        this.live.delete(job.id);
        // Its end kept here when the queue did not take it: announced as it ended all the same.
        const found = this.queue.get(job.id);
        const j = found && this.asEnded(found);
        if (j && isTerminal(j.status)) {
          // Seen here, so a queue change handled after this (its end recorded late, too) does not
          // announce it again.
          this.seen.set(j.id, j.status);
          this.emitFinished(j);
        }
        this.changed();
        void this.scheduler.kick();
      });
  }

  private log(jobId: string | undefined, line: string, level: 'info' | 'warn' | 'error'): void {
    this.events.emit({ type: 'log.line', at: Date.now(), jobId, stream: 'engine', level, line });
  }
}
