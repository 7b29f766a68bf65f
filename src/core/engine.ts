/**
 * The engine: one object that owns the queue, the node pool, the scheduler and the jobs this
 * process runs. Every user action is one method (enqueue, cancel, retry, setNodeEnabled,
 * setMix) used alike by the TUI, `--ci`, the CLI subcommands and the control API. Views read
 * `getSnapshot()` (immutable; a new object only when something changed) and `subscribe()`,
 * which is exactly what React's useSyncExternalStore wants, and/or listen to `events`.
 */
import type { NodeConfig } from '../config/nodes.js';
import { defaultExecutorFactory } from '../exec/factory.js';
import type { MixSpec } from '../proxy/mix.js';
import type { Proxy, ProxyStats } from '../proxy/proxy.js';
import type { ChaosPlayer } from './chaos-player.js';
import { enqueue, enqueueAll, replay, retry, type EnqueueOptions, type RequeueOptions } from './enqueue.js';
import type { EngineCore, EngineOptions, EngineSnapshot, JobSummary, Kit, LiveJob } from './engine-types.js';
import { JobViews, nodeViews, resultDirOf } from './engine-views.js';
import { EventBus } from './events.js';
import { ENQUEUE_FILES, JobFiles, ORPHAN_AGE_MS } from './job-files.js';
import { summaryLine, type AbortWhy } from './job-outcome.js';
import { runJob } from './job-run.js';
import { isTerminal, type Job, type JobOutcome } from './jobs.js';
import { killLeftovers } from './leftovers.js';
import { NodePool } from './node-pool.js';
import { JournalQueue, short, type JobQueue } from './queue.js';
import { RedisQueue } from './redis-queue.js';
import { Scheduler } from './scheduler.js';
import { chaosPlayerOf, jobOfProxy } from './live-proxies.js';
import { shareWithTeam } from './team-share.js';
import { Watchdog } from './watchdog.js';
import { StateDir } from './state-dir.js';

export type { EngineOptions, EngineSnapshot, JobView } from './engine-types.js';

export class Engine {
  readonly events = new EventBus();
  readonly state: StateDir;
  readonly queue: JobQueue;
  readonly pool: NodePool;
  private loadedKit?: Kit;
  private kitLoading?: Promise<Kit>;
  private readonly scheduler: Scheduler;
  private readonly live = new Map<string, LiveJob>();
  private readonly own = new Set<string>();
  /** What a job that ended here leaves for views: its summary, report, seed and fault timeline. */
  private readonly summaries = new Map<string, JobSummary>();
  private readonly unrecorded = new Map<string, JobOutcome & { endedAt: number }>();
  private readonly seen = new Map<string, Job['status']>();
  private readonly subscribers = new Set<() => void>();
  private snapshot?: EngineSnapshot;
  private version = 0;
  private unwatch?: () => void;
  private stopSharing?: () => void;
  private started = false;
  private stopping = false;
  /** Set once interrupt() has asked for its cancels: waitFor then stops waiting on the queue. */
  private interrupted = false;
  /** Kills the process groups of the jobs run here should this process die or lose its lease. */
  private readonly watchdog: Watchdog;
  private leaseTimer?: NodeJS.Timeout;
  private readonly files: JobFiles;
  /** What the parts (enqueue, running a job, its end) share with this facade. */
  private readonly core: EngineCore;
  private readonly views: JobViews;

  constructor(private readonly options: EngineOptions) {
    this.state = new StateDir(options.stateDir);
    const q = options.nodes.queue;
    this.queue =
      options.queue ??
      (q?.url ? new RedisQueue({ url: q.url, lostJobs: q.lostJobs, resultsRoot: this.state.jobsDir, readPresence: options.run !== 'all' }) : new JournalQueue(this.state.journalFile, undefined, q?.lostJobs));
    // With `requeue`, a job of an engine judged dead runs again elsewhere: its old copy must not.
    this.watchdog = new Watchdog(q?.lostJobs === 'requeue' && this.queue.lease ? this.queue.lease().ttlMs : 0);
    this.pool = new NodePool(options.nodes, this.queue, options.executorFactory ?? defaultExecutorFactory, this.events);
    this.scheduler = new Scheduler({
      queue: this.queue,
      pool: this.pool,
      // A --ci run's jobs are left to it: it streams their output and owes their exit code.
      mayRun: (j) => !this.stopping && (this.own.has(j.id) ? options.run !== 'none' : options.run === 'all' && j.origin !== 'ci'),
      start: (job, claim, nodes) => this.launch(job, claim, nodes),
      unplaceable: (job, reason) => this.failUnplaceable(job, reason),
      // A shared queue's job may go to any worker, except a --ci run's (left to that run): a
      // lone engine, or the --ci run itself, is the only one that could run it, so it fails.
      othersMayRun: (j) => this.queue.lease !== undefined && j.origin !== 'ci',
      leave: (job, reason) => this.log(undefined, `leaves job ${short(job.id)} queued: ${reason}`, 'info'),
      nodeWaitMs: options.nodeWaitMs,
      reportBusy: options.run === 'all',
    });
    this.files = new JobFiles(this.state, this.queue);
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
      unrecorded: this.unrecorded,
      kit: () => this.kit(),
      kick: () => void this.scheduler.kick(),
      finish: (id, claim, nodes, outcome) => this.scheduler.finish(id, claim, nodes, outcome),
      changed: () => this.changed(),
      stopping: () => this.stopping,
      log: (jobId, line, level) => this.log(jobId, line, level),
    };
    this.views = new JobViews(this.core);
  }

  /** The heavy half, loaded once. */
  private kit(): Promise<Kit> {
    const { runners } = this.options;
    this.kitLoading ??= Promise.all([import('./engine-kit.js'), typeof runners === 'function' ? runners() : runners]).then(([m, registry]) => {
      this.loadedKit = { m, runners: registry, behaviors: this.options.behaviors ?? m.defaults.behaviors };
      return this.loadedKit;
    });
    return this.kitLoading;
  }

  get runsJobs(): boolean {
    return (this.options.run ?? 'none') !== 'none';
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.options.preload ?? true) await this.kit();
    await this.state.ensure();
    await this.queue.open();
    if (this.options.run === 'all' && this.queue.claimNodeNames) {
      await this.queue.claimNodeNames(this.pool.list().map((n) => n.name)).catch(async (e: unknown) => {
        await this.queue.close();
        throw e;
      });
    }
    for (const j of this.queue.list()) this.seen.set(j.id, j.status);
    if (this.queue instanceof JournalQueue && this.queue.damagedLines.length) {
      const lines = this.queue.damagedLines;
      const shown = `${lines.slice(0, 10).join(', ')}${lines.length > 10 ? `, ... (${lines.length} in all)` : ''}`;
      this.log(undefined, `journal ${this.state.journalFile}: skipped damaged line${lines.length > 1 ? 's' : ''} ${shown} (torn by a crash or edited by hand); the jobs they recorded are not listed`, 'warn');
    } else if (this.queue instanceof JournalQueue) {
      // With damaged lines, a directory without a record may be a job they recorded: kept.
      const known = new Set(this.queue.list().map((j) => j.id));
      for (const dir of await this.state.removeOrphans(known, ENQUEUE_FILES, ORPHAN_AGE_MS)) {
        this.log(undefined, `removed ${dir}: its enqueue was cut off before the journal recorded it`, 'info');
      }
    }
    // Jobs whose engine died (kill -9, crash, reboot): interrupted, what they left here stopped.
    for (const j of await this.queue.recoverInterrupted()) await killLeftovers(this.core, j);
    this.pool.onChange(() => {
      this.changed();
      void this.scheduler.kick();
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
    this.stopSharing = shareWithTeam(this.core, this.runsJobs, () => this.liveProxies().map((p) => p.stats()));
    if (this.options.probe ?? this.runsJobs) this.pool.start();
    if (this.runsJobs) void this.scheduler.kick();
    // Only `requeue` starts a lost worker's jobs again elsewhere: with `interrupt` nothing needs
    // the lease held here, and a timer waking every worker 4 times a second is CPU the jobs share.
    if (this.runsJobs && this.queue.lease && this.options.nodes.queue?.lostJobs === 'requeue') this.holdLease();
  }

  /**
   * Pass each heartbeat on to the watchdog, and stop the jobs once the lease may have run out
   * (the others may be starting them again), recorded as interrupted by a lost lease.
   */
  private holdLease(): void {
    this.leaseTimer = setInterval(() => {
      const { lastBeat, ttlMs } = this.queue.lease!();
      this.watchdog.beat(lastBeat);
      if (Date.now() >= lastBeat + ttlMs) for (const l of this.live.values()) l.abort.abort('lease' satisfies AbortWhy);
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
    this.watchdog.close();
    this.stopSharing?.();
    this.unwatch?.();
    await this.queue.close();
  }

  // ---- user actions ----

  /** Validate a project's config and queue it. `target`: a directory, a config file or a git URL. */
  enqueue(target: string, o: EnqueueOptions = {}): Promise<Readonly<Job>> {
    return enqueue(this.core, target, o);
  }

  /** Queue every target (a directory: each of its configs) or, when one is bad, none (throws NotQueued). */
  enqueueAll(targets: readonly string[], o: EnqueueOptions = {}): Promise<Readonly<Job>[]> {
    return enqueueAll(this.core, targets, o);
  }

  /**
   * A `--ci` run's signal: no more starts, its jobs cancelled. A job the queue cannot be told
   * about (a shared queue offline) is stopped here all the same, and the wait for the queue to
   * record a job's end is cut short (see recordFinish): the run must not outlive a SIGTERM.
   */
  async interrupt(ids: readonly string[], cause?: string): Promise<void> {
    this.stopping = true;
    await Promise.all(
      ids.map((id) =>
        this.queue.cancel(id, cause).then(
          () => {},
          () => {
            const live = this.live.get(id);
            if (!live || live.abort.signal.aborted) return;
            live.cancelCause = cause ?? 'by a user';
            live.abort.abort('cancel' satisfies AbortWhy);
          },
        ),
      ),
    );
    this.interrupted = true;
    this.changed();
  }

  /** `cause`: who asks, in words ("by SIGTERM"); none: a user. */
  async cancel(idOrPrefix: string, cause?: string): Promise<Readonly<Job>> {
    // The queue's watcher brings the change back here (and to every other process).
    return this.queue.cancel(idOrPrefix, cause);
  }

  /** Run a finished job again from its config snapshot, with a new seed (unless the config sets one). */
  retry(idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job>> {
    return retry(this.core, idOrPrefix, o);
  }

  /** Run a finished job again with its config snapshot and its recorded seed: the same faults for the same traffic. */
  replay(idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job> & { seed: string }> {
    return replay(this.core, idOrPrefix, o);
  }

  async setNodeEnabled(name: string, enabled: boolean): Promise<void> {
    // A worker's node on a shared queue: the switch is a queue record every worker obeys.
    if (!this.pool.node(name) && this.queue.remotePresence?.().nodes.some((n) => n.name === name)) return this.queue.setNodeEnabled(name, enabled);
    await this.pool.setEnabled(name, enabled);
  }

  /**
   * Change the mix of a proxy of a job this process runs (the job having a proxy of that name;
   * say which job when several do). Recorded as a manual change; the proxy's chaos schedule
   * pauses until `resumeChaos`.
   */
  async setMix(proxy: string, spec: MixSpec, jobId?: string): Promise<string> {
    return this.playerOf(proxy, jobId).manual(proxy, spec);
  }

  /** Hold a proxy's chaos schedule: its mix stays as it is while the schedule's clock goes on. */
  pauseChaos(proxy: string, jobId?: string): void {
    this.playerOf(proxy, jobId).pause(proxy);
  }

  /** Let a proxy follow its chaos schedule again, from where the schedule is now. */
  async resumeChaos(proxy: string, jobId?: string): Promise<void> {
    await this.playerOf(proxy, jobId).resume(proxy);
  }

  private playerOf(proxy: string, jobId?: string): ChaosPlayer {
    return chaosPlayerOf(this.live, proxy, jobId && this.queue.resolve(jobId));
  }

  /** The id of the job running here whose proxy has this name (the first, when several do). */
  jobOfProxy(proxy: string): string | undefined {
    return jobOfProxy(this.live, proxy);
  }

  /** The proxies of the jobs this process runs now. */
  liveProxies(): Proxy[] {
    return [...this.live.values()].flatMap((l) => [...(l.proxies?.proxies.values() ?? [])]);
  }

  /** Behavior names a mix may use. */
  behaviorNames(): string[] {
    if (!this.loadedKit) throw new Error('behaviorNames(): the engine was made with preload: false and has not loaded its behaviors');
    return [...this.loadedKit.behaviors.keys()].sort();
  }

  async probeNodes(): Promise<void> {
    await this.pool.probeAll();
  }

  /** Resolves when all the given jobs have ended (terminal), with their final records. */
  async waitFor(ids: readonly string[]): Promise<Readonly<Job>[]> {
    // A ref'd timer keeps the process alive while jobs wait for nodes.
    let recheck = () => {};
    const keepAlive = setInterval(() => void this.queue.sync().catch(() => {}).finally(() => recheck()), 1000);
    try {
      await new Promise<void>((resolve) => {
        // Once interrupted (see interrupt), the jobs run here having ended is enough: a queue
        // that stays offline would never show them ended, nor the queued ones cancelled.
        const check = () => {
          const over = (id: string) => !this.live.has(id) && (isTerminal(this.queue.get(id)?.status ?? 'queued') || (this.interrupted && !this.scheduler.passing));
          if (ids.every(over)) {
            off();
            resolve();
          }
        };
        const off = this.subscribe(check);
        recheck = check;
        check();
      });
    } finally {
      clearInterval(keepAlive);
    }
    return ids.map((id) => this.asEnded(this.queue.get(id)!));
  }

  /**
   * A job as it ended here: one whose end the queue never got (offline) ended all the same, and
   * a summary or exit code says how, not the `running` the queue still shows.
   */
  asEnded<J extends Readonly<Job>>(j: J): J {
    const end = this.unrecorded.get(j.id);
    if (!end || isTerminal(j.status)) return j;
    return Object.freeze({ ...j, ...end, durationMs: j.startedAt !== undefined ? end.endedAt - j.startedAt : undefined });
  }

  // ---- views ----

  getSnapshot = (): EngineSnapshot => {
    this.snapshot ??= Object.freeze({
      version: this.version,
      stateDir: this.state.root,
      jobs: Object.freeze(this.queue.list().map((j) => this.views.view(j))),
      nodes: Object.freeze(nodeViews(this.queue, this.pool, this.runsJobs).map((n) => Object.freeze(n))),
      queue: Object.freeze({ label: this.queue.label, online: this.queue.online?.() ?? true }),
    });
    return this.snapshot;
  };

  subscribe = (listener: () => void): (() => void) => {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  };

  /** Running a job, or in a scheduling pass that may be starting one (its claim is in the queue first). */
  busy(): boolean {
    return this.live.size > 0 || this.scheduler.passing;
  }

  /** Whether this engine leaves a queued job to the team's other workers: its nodes cannot fit it. */
  leaves(id: string): boolean {
    return this.scheduler.leaves(id);
  }

  /** Whether this process enqueued the job to run it, or runs it. */
  isOwn(id: string): boolean {
    return this.own.has(id);
  }

  /** Where a job's results are: here, or (team mode) `host:dir` of the engine that ran it. */
  resultDir(id: string): string {
    return resultDirOf(this.state, this.queue, id);
  }

  private changed(): void {
    this.version++;
    this.snapshot = undefined;
    for (const fn of [...this.subscribers]) {
      try {
        fn();
      } catch {
        // a view's bug stays in the view
      }
    }
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
      if (j.status === 'running') this.events.emit({ type: 'job.started', at, job: j });
      if (isTerminal(j.status) && !this.live.has(j.id)) this.emitFinished(j);
      if (j.status === 'running' && j.cancelRequested) this.live.get(j.id)?.abort.abort('cancel' satisfies AbortWhy);
    }
    this.changed();
    if (this.runsJobs) void this.scheduler.kick();
  }

  private emitFinished(j: Readonly<Job>): void {
    const s = this.summaries.get(j.id);
    this.events.emit({
      type: 'job.finished',
      at: Date.now(),
      job: j,
      summary: s?.summary ?? summaryLine(j),
      resultDir: this.resultDir(j.id),
      bell: s?.bell ?? false,
      report: s?.report,
    });
  }

  private async failUnplaceable(job: Readonly<Job>, reason: string): Promise<void> {
    const claim = await this.queue.claim(job.id, []);
    if (!claim) return;
    await this.queue.finish(job.id, claim, { status: 'failed', failure: 'infrastructure', reason });
  }

  /** Counters of the proxies of jobs run by other processes on a shared queue. */
  remoteProxyStats(): ProxyStats[] {
    return this.queue.remotePresence?.().proxies ?? [];
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
        const j = this.queue.get(job.id);
        if (j && isTerminal(j.status)) {
          // Seen here, so a queue change handled after this does not announce it again.
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
