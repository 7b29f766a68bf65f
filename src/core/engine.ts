/**
 * The engine: one object that owns the queue, the node pool, the scheduler and the jobs this
 * process runs. Every user action is one method (enqueue, cancel, retry, setNodeEnabled,
 * setMix) used alike by the TUI, `--ci`, the CLI subcommands and the control API. Views read
 * `getSnapshot()` (immutable; a new object only when something changed) and `subscribe()`,
 * which is exactly what React's useSyncExternalStore wants, and/or listen to `events`.
 * What runs the jobs (start, stop, the queue's changes, launching) is its base, engine-runtime.ts.
 */
import type { Mix, MixSpec } from '../proxy/mix.js';
import type { ChaosPlayer, ScheduleView } from './chaos-player.js';
import { enqueue, enqueueAll, replay, retry, type EnqueueOptions, type RequeueOptions } from './enqueue.js';
import type { EngineSnapshot } from './engine-types.js';
import { EngineRuntime } from './engine-runtime.js';
import { JobViews, nodeViews, resultDirOf } from './engine-views.js';
import type { AbortWhy } from './job-outcome.js';
import { isTerminal, type Job } from './jobs.js';
import { chaosPlayerOf, jobOfProxy } from './live-proxies.js';
import { JournalQueue } from './queue.js';
import { RemoteProxies, type RemoteProxy } from './remote-proxies.js';
import type { WaitsForFix } from './scheduler.js';

export type { EngineOptions, EngineSnapshot, JobView } from './engine-types.js';

export class Engine extends EngineRuntime {
  private readonly subscribers = new Set<() => void>();
  private snapshot?: EngineSnapshot;
  private version = 0;
  /** Set once interrupt() has asked for its cancels: waitFor then stops waiting on the queue. */
  private interrupted = false;
  private readonly views = new JobViews(this.core);
  /** The proxies of jobs other processes run: read while a view watches them (`remote.watch()`; see remoteProxies). */
  readonly remote = new RemoteProxies(this.queue, this.queue instanceof JournalQueue ? this.state.root : undefined);

  // ---- user actions ----

  /** Validate a project's config and queue it. `target`: a directory, a config file or a git URL. */
  enqueue(target: string, o: EnqueueOptions = {}): Promise<Readonly<Job>> {
    return enqueue(this.core, target, o);
  }

  /**
   * Queue every target (a directory: each of its configs) or, when one is bad, none (throws
   * NotQueued); an append that fails part way throws PartlyQueued, naming those queued.
   */
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
    // Run by another process (its presence on the state dir, or the team queue's): changed there.
    const remote = !jobId && !this.jobOfProxy(proxy) ? this.remoteProxy(proxy) : undefined;
    if (remote) return this.remote.setMix(remote, spec);
    return this.playerOf(proxy, jobId).manual(proxy, spec);
  }

  /** Hold a proxy's chaos schedule: its mix stays as it is while the schedule's clock goes on. */
  async pauseChaos(proxy: string, jobId?: string): Promise<void> {
    const remote = !jobId && !this.jobOfProxy(proxy) ? this.remoteProxy(proxy) : undefined;
    if (remote) return this.remote.setPaused(remote, true);
    this.playerOf(proxy, jobId).pause(proxy);
  }

  /** Let a proxy follow its chaos schedule again, from where the schedule is now. */
  async resumeChaos(proxy: string, jobId?: string): Promise<void> {
    const remote = !jobId && !this.jobOfProxy(proxy) ? this.remoteProxy(proxy) : undefined;
    if (remote) return this.remote.setPaused(remote, false);
    await this.playerOf(proxy, jobId).resume(proxy);
  }

  private playerOf(proxy: string, jobId?: string): ChaosPlayer {
    return chaosPlayerOf(this.live, proxy, jobId && this.queue.resolve(jobId));
  }

  /** The id of the job running here whose proxy has this name (the first, when several do). */
  jobOfProxy(proxy: string): string | undefined {
    return jobOfProxy(this.live, proxy);
  }


  /** Behavior names a mix may use. */
  behaviorNames(): string[] {
    if (!this.loadedKit) throw new Error('behaviorNames(): the engine was made with preload: false and has not loaded its behaviors');
    return [...this.loadedKit.behaviors.keys()].sort();
  }

  async probeNodes(): Promise<void> {
    await this.pool.probeAll();
  }

  /**
   * Resolves when all the given jobs have ended (terminal), or none of those left can start here
   * (starts held with nothing running: see startsHeld), with their final records.
   */
  async waitFor(ids: readonly string[]): Promise<Readonly<Job>[]> {
    // A ref'd timer keeps the process alive while jobs wait for nodes.
    let recheck = () => {};
    const keepAlive = setInterval(() => void this.queue.sync().catch(() => {}).finally(() => recheck()), 1000);
    try {
      await new Promise<void>((resolve) => {
        // Once interrupted (see interrupt), the jobs run here having ended is enough: a queue
        // that stays offline would never show them ended, nor the queued ones cancelled. A job
        // whose end the journal's disk (full or failing) refused ended all the same: its
        // result.json keeps the end, which the next process records should this one go first.
        const check = () => {
          const refused = (id: string) => this.unrecorded.has(id) && this.startsHeld;
          const over = (id: string) => !this.live.has(id) && (isTerminal(this.queue.get(id)?.status ?? 'queued') || refused(id) || (this.interrupted && !this.scheduler.passing));
          // The state dir's disk full or failing the claims: nothing here mends it, and a --ci
          // run owes its pipeline an exit code, not a wait for someone to.
          const stuck = this.startsHeld && !this.busy();
          if (stuck || ids.every(over)) {
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

  // ---- views ----

  getSnapshot = (): EngineSnapshot => {
    this.snapshot ??= Object.freeze({
      version: this.version,
      stateDir: this.state.root,
      jobs: Object.freeze(this.queue.list().map((j) => this.views.view(j))),
      nodes: Object.freeze(nodeViews(this.queue, this.pool.list(), this.runsJobs).map((n) => Object.freeze(n))),
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

  /** The fix a queued job waits for: its nodes down for a key mistake (config) or a host key not to trust. */
  waitsForFix(id: string): WaitsForFix | undefined {
    return this.scheduler.waitsForFix(id);
  }

  /**
   * Whether this process enqueued the job to run it, or runs it, or ran it: not once it put the
   * job back in the queue and another engine took it (see takenFromHere), whose run it then is.
   */
  isOwn(id: string): boolean {
    return this.own.has(id) && !this.takenFrom(id);
  }

  /**
   * The jobs run here and put back in the queue (the state dir full before their load, the lease
   * on the queue lost) that another engine has taken since, each with how its run here ended.
   */
  takenFromHere(): { job: Readonly<Job>; here: string }[] {
    return [...this.own].flatMap((id) => {
      const job = this.queue.get(id);
      const here = this.takenFrom(id);
      return job && here ? [{ job, here }] : [];
    });
  }

  /** The run here's summary, when the job is another claim's since (still queued: nobody's yet). */
  private takenFrom(id: string): string | undefined {
    const s = this.core.summaries.get(id);
    const claim = this.queue.get(id)?.claim;
    return s && !this.live.has(id) && claim !== undefined && claim !== s.claim ? s.summary : undefined;
  }

  /** Where a job's results are: here, or (team mode) `host:dir` of the engine that ran it. */
  resultDir(id: string): string {
    return resultDirOf(this.state, this.queue, id);
  }

  /** The proxies of jobs other processes run, named apart from this one's (see RemoteProxies.list). */
  remoteProxies(): RemoteProxy[] {
    return this.remote.list(new Set(this.liveProxies().map((p) => p.name)));
  }

  /** Their chaos scenarios, by the names views know them by. */
  remoteSchedules(): ScheduleView[] {
    return this.remoteProxies().flatMap((r) => (r.control?.schedule ? [{ ...r.control.schedule, proxy: r.stats.name }] : []));
  }

  /** One of those, by the name views know it by. */
  remoteProxy(name: string): RemoteProxy | undefined {
    return this.remoteProxies().find((r) => r.stats.name === name);
  }

  /** The mix of a proxy another process runs, as the editor reads it (see RemoteProxies.mixOf). */
  remoteMix(name: string): Mix | undefined {
    const r = this.remoteProxy(name);
    return r && this.loadedKit && this.remote.mixOf(r, this.loadedKit.behaviors);
  }

  protected override changed(): void {
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
}
