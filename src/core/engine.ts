/**
 * The engine: one object that owns the queue, the node pool, the scheduler and the jobs this
 * process runs. Every user action is one method (enqueue, cancel, retry, setNodeEnabled,
 * setMix) used alike by the TUI, `--ci`, the CLI subcommands and the control API. Views read
 * `getSnapshot()` (immutable; a new object only when something changed) and `subscribe()`,
 * which is exactly what React's useSyncExternalStore wants, and/or listen to `events`.
 */
import { randomInt } from 'node:crypto';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/config-error.js';
import type { Vars } from '../config/interpolate.js';
import type { MarteauConfig } from '../config/marteau.js';
import type { NodeConfig, NodesConfig } from '../config/nodes.js';
import { formatDuration } from '../config/duration.js';
import { NodeError, type Executor } from '../exec/executor.js';
import { defaultExecutorFactory } from '../exec/factory.js';
import type { RunnerContext, RunnerNode, RunnerRegistry, RunOutcome } from '../runners/runner.js';
import type { BehaviorRegistry, MixSpec } from '../proxy/mix.js';
import type { Proxy, ProxyEvent, ProxyStats } from '../proxy/proxy.js';
import { ListenError, UpstreamLoopError } from '../proxy/proxy-errors.js';
import type { ProxySet } from '../proxy/proxy-set.js';
import type { ApiServer } from '../proxy/api/server.js';
import { EventBus, type LogStream, type Progress, type TimelineEvent } from './events.js';
import type { ChaosPlayer, ScheduleView } from './chaos-player.js';
import { isTerminal, type Job, type JobOutcome, type JobSource } from './jobs.js';
import { NodePool, type ExecutorFactory, type NodeView } from './node-pool.js';
import { currentOwner, groupAlive, processStartTime } from './owner.js';
import { JournalQueue, newJobId, QueueError, short, type JobQueue } from './queue.js';
import { QueueOfflineError, RedisQueue } from './redis-queue.js';
import { Scheduler } from './scheduler.js';
import { Watchdog } from './watchdog.js';
import { mkdirp, StateDir, JOB_CONFIG_SNAPSHOT as CONFIG_SNAPSHOT } from './state-dir.js';

export interface EngineOptions {
  stateDir: string;
  nodes: NodesConfig;
  runners?: RunnerRegistry;
  behaviors?: BehaviorRegistry;
  executorFactory?: ExecutorFactory;
  /**
   * Which queued jobs this process runs: `all` (the TUI, a worker), `own` (only those it
   * enqueued: `--ci`), `none` (CLI commands that only look or edit).
   */
  run?: 'all' | 'own' | 'none';
  /** How long a job may wait for free nodes before failing; default: forever. */
  nodeWaitMs?: number;
  /** Probe SSH nodes periodically (default: when running jobs). */
  probe?: boolean;
  /** The queue implementation; default: `nodes.queue` (Redis) or else the journal in the state dir. */
  queue?: JobQueue;
  /** Where `source.dir` paths are resolved from for relative targets. */
  cwd?: string;
  /**
   * Load the runners, behaviors and config schemas in `start()` (default true). A command that
   * only looks at the queue or the nodes passes false and starts without them; whatever needs
   * them loads them then, except `behaviorNames()`, which needs them loaded.
   */
  preload?: boolean;
}

type KitModule = typeof import('./engine-kit.js');
/** The engine's heavy half (see engine-kit.ts) with the registries this engine uses. */
interface Kit {
  m: KitModule;
  runners: RunnerRegistry;
  behaviors: BehaviorRegistry;
}

export interface LogLine {
  at: number;
  node?: string;
  stream: LogStream;
  line: string;
}

export interface JobView extends Readonly<Job> {
  resultDir: string;
  /** Live details while this process runs the job. */
  progress?: Progress;
  lines?: readonly LogLine[];
  timeline?: readonly TimelineEvent[];
  /** Each proxy's chaos schedule while the job runs here. */
  chaos?: readonly ScheduleView[];
  /** The seed of the run (once it started here; kept after it ends). */
  seed?: string;
  summary?: string;
  /** The HTML report of a job that ended here, when its runner wrote one. */
  report?: string;
}

export interface EngineSnapshot {
  readonly version: number;
  readonly stateDir: string;
  readonly jobs: readonly JobView[];
  readonly nodes: readonly NodeView[];
  /** Where the queue lives (a shared one is named, credentials masked) and whether it is reachable. */
  readonly queue: { readonly label?: string; readonly online: boolean };
}

interface LiveJob {
  abort: AbortController;
  claim: string;
  progress?: Progress;
  lines: LogLine[];
  timeline: TimelineEvent[];
  chaos?: ChaosPlayer;
  seed?: string;
  proxies?: ProxySet;
  done: Promise<void>;
}

/** Lines kept per running job for views; the full output is in the job's console.log. */
const TAIL_LINES = 200;
/** console.log stops growing past this (a runaway tool must not fill the disk). */
const MAX_CONSOLE_BYTES = 50 * 1024 * 1024;
type AbortWhy = 'cancel' | 'timeout' | 'shutdown' | 'lease';
/** How long a finished job's record is retried while a shared queue is offline. */
const FINISH_RETRY_MS = 10 * 60_000;
const FINISH_RETRY_STOPPING_MS = 5000;

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
  private readonly summaries = new Map<string, { summary: string; report?: string; bell: boolean; seed?: string; timeline?: readonly TimelineEvent[] }>();
  private readonly seen = new Map<string, Job['status']>();
  private readonly subscribers = new Set<() => void>();
  private snapshot?: EngineSnapshot;
  private version = 0;
  private unwatch?: () => void;
  private offShared?: () => void;
  private proxyPublisher?: NodeJS.Timeout;
  private started = false;
  private stopping = false;
  /** Kills the process groups of the jobs run here should this process die or lose its lease. */
  private readonly watchdog: Watchdog;
  private leaseTimer?: NodeJS.Timeout;

  constructor(private readonly options: EngineOptions) {
    this.state = new StateDir(options.stateDir);
    const q = options.nodes.queue;
    this.queue =
      options.queue ??
      (q?.url ? new RedisQueue({ url: q.url, lostJobs: q.lostJobs, resultsRoot: this.state.jobsDir }) : new JournalQueue(this.state.journalFile, undefined, q?.lostJobs));
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
      nodeWaitMs: options.nodeWaitMs,
      reportBusy: options.run === 'all',
    });
  }

  /** The heavy half, loaded once. */
  private kit(): Promise<Kit> {
    this.kitLoading ??= import('./engine-kit.js').then((m) => {
      this.loadedKit = { m, runners: this.options.runners ?? m.defaults.runners, behaviors: this.options.behaviors ?? m.defaults.behaviors };
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
    // Jobs whose engine died (kill -9, crash, reboot) are marked interrupted; what they left
    // running on this machine is stopped.
    for (const j of await this.queue.recoverInterrupted()) await this.killLeftovers(j);
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
    this.shareWithTeam();
    if (this.options.probe ?? this.runsJobs) this.pool.start();
    if (this.runsJobs) void this.scheduler.kick();
    if (this.runsJobs && this.queue.lease) this.holdLease(this.options.nodes.queue?.lostJobs === 'requeue');
  }

  /**
   * Pass each heartbeat on to the watchdog; with `requeue`, stop the jobs once the lease may have
   * run out (the others may be starting them again), recorded as interrupted by a lost lease.
   */
  private holdLease(stopJobs: boolean): void {
    this.leaseTimer = setInterval(() => {
      const { lastBeat, ttlMs } = this.queue.lease!();
      this.watchdog.beat(lastBeat);
      if (stopJobs && Date.now() >= lastBeat + ttlMs) for (const l of this.live.values()) l.abort.abort('lease' satisfies AbortWhy);
    }, 250);
    this.leaseTimer.unref();
  }

  /** Stop scheduling; running jobs are stopped and recorded as interrupted. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.scheduler.stop();
    this.pool.stop();
    for (const l of this.live.values()) l.abort.abort('shutdown' satisfies AbortWhy);
    await Promise.all([...this.live.values()].map((l) => l.done));
    clearInterval(this.leaseTimer);
    this.watchdog.close();
    clearInterval(this.proxyPublisher);
    this.offShared?.();
    this.unwatch?.();
    await this.queue.close();
  }

  // ---- user actions ----

  /** Validate a project's config and queue it. `target`: a directory, a config file or a git URL. */
  async enqueue(target: string, o: EnqueueOptions = {}): Promise<Readonly<Job>> {
    const id = newJobId();
    try {
      return await this.enqueueAs(id, target, o);
    } catch (e) {
      // Not queued (a bad config, a failed clone): leave no directory behind.
      if (!this.queue.get(id)) await rm(this.state.jobDir(id), { recursive: true, force: true }).catch(() => {});
      throw e;
    }
  }

  private async enqueueAs(id: string, target: string, o: EnqueueOptions): Promise<Readonly<Job>> {
    const jobDir = this.state.jobDir(id);
    let source: JobSource;
    let config: MarteauConfig;
    const kit = await this.kit();
    const git = kit.m.parseGitTarget(target);
    if (git) {
      const dir = path.join(jobDir, 'src');
      const commit = await kit.m.cloneGit(git, dir);
      config = await this.loadConfig(dir);
      source = { kind: 'git', url: git.url, ref: git.ref, commit, dir, configFile: config.file };
    } else {
      const abs = path.resolve(this.options.cwd ?? process.cwd(), target);
      config = await this.loadConfig(abs);
      source = { kind: 'dir', dir: config.projectDir, configFile: path.resolve(config.file) };
    }
    // The config as enqueued is what runs, even if the file is edited while the job waits.
    let text = await readFile(config.file, 'utf8');
    if (o.edit) {
      // A command's settings (`sweep --only ...`) go into the snapshot, so a replay has them.
      text = o.edit(text);
      const src = kit.m.parseYaml(config.file, text);
      config = kit.m.parseMarteauConfig(src, config.projectDir, { runners: kit.runners, behaviors: await kit.m.withPlugins(src, kit.behaviors) });
    }
    for (const w of kit.m.recoveryScheduleWarnings(config)) o.warn?.(`${config.name}: ${w}`);
    await this.keepFile(id, CONFIG_SNAPSHOT, text);
    if (typeof config.raw.chaos === 'string' && !config.sweep) await this.keepFile(id, CHAOS_SNAPSHOT, await readFile(path.join(config.projectDir, config.raw.chaos), 'utf8'));
    if (o.runHere ?? this.options.run === 'own') this.own.add(id);
    const job = await this.queue.enqueue({
      id,
      name: config.name,
      source,
      runner: config.runner,
      nodes: config.nodes,
      nodeTags: config.nodeTags,
      origin: o.origin,
    });
    void this.scheduler.kick();
    return job;
  }

  async cancel(idOrPrefix: string): Promise<Readonly<Job>> {
    // The queue's watcher brings the change back here (and to every other process).
    return this.queue.cancel(idOrPrefix);
  }

  /** Run a finished job again from its config snapshot, with a new seed (unless the config sets one). */
  async retry(idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job>> {
    return this.requeue(idOrPrefix, SNAPSHOT_FILES, o);
  }

  /** Run a finished job again with its config snapshot and its recorded seed: the same faults for the same traffic. */
  async replay(idOrPrefix: string, o: RequeueOptions = {}): Promise<Readonly<Job> & { seed: string }> {
    const old = this.queue.get(this.queue.resolve(idOrPrefix))!;
    const seed = await this.jobFile(old.id, SEED_FILE);
    if (seed === undefined) throw new QueueError(`job ${short(old.id)} never started, so it has no seed to replay; use retry`);
    return { ...(await this.requeue(old.id, [...SNAPSHOT_FILES, SEED_FILE], o)), seed: seed.trim() };
  }

  private async requeue(idOrPrefix: string, files: readonly string[], o: RequeueOptions): Promise<Readonly<Job>> {
    const old = this.queue.get(this.queue.resolve(idOrPrefix))!;
    const id = newJobId();
    if (!isTerminal(old.status)) throw new QueueError(`job ${short(old.id)} is still ${old.status}; cancel it first or wait for it`);
    // From this terminal's state dir, else from the shared queue: the job may have run anywhere.
    for (const f of files) {
      const text = await this.jobFile(old.id, f);
      if (text !== undefined) await this.keepFile(id, f, text);
      else if (f === CONFIG_SNAPSHOT) throw new QueueError(`job ${short(old.id)} has no config snapshot here${this.queue.label ? ` nor in ${this.queue.label}` : ''} (purged?)`);
    }
    if (o.runHere ?? this.options.run === 'own') this.own.add(id);
    // A --ci run's job is left to that run; its retry is not (that run may be long gone).
    const job = await this.queue.retry(old.id, { id, origin: o.origin ?? (old.origin === 'ci' ? undefined : old.origin) });
    void this.scheduler.kick();
    return job;
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
    const candidates = jobId ? [this.queue.resolve(jobId)] : [...this.live.keys()];
    const withProxy = candidates.filter((id) => this.live.get(id)?.proxies?.get(proxy) && this.live.get(id)?.chaos);
    if (withProxy.length !== 1) {
      throw new QueueError(withProxy.length ? `several running jobs have a proxy "${proxy}": say which job` : `no job running here has a proxy "${proxy}"`);
    }
    return this.live.get(withProxy[0])!.chaos!;
  }

  /** The control APIs over a job's proxies, when its config has `api:` (loopback only: no token here). */
  private async startJobApi(config: MarteauConfig, proxies: ProxySet, onError: (m: string) => void): Promise<ApiServer | undefined> {
    if (!config.api) return undefined;
    const { m } = await this.kit();
    const [host, port] = m.splitHostPort(config.api.listen);
    const control = new m.Control(proxies, new Map(config.behaviors), { vaurienProxy: config.api.vaurienProxy });
    try {
      return await m.startApiServer({ control, host, port, version: await m.packageVersion(), onError });
    } catch (e) {
      const why = e instanceof m.ApiConfigError ? e.message : `cannot listen on ${config.api.listen} (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
      throw new ConfigError(config.file, undefined, undefined, `api: ${why}`, 'bind the API to 127.0.0.1 on a free port');
    }
  }

  /** The id of the job running here whose proxy has this name (the first, when several do). */
  jobOfProxy(proxy: string): string | undefined {
    for (const [id, l] of this.live) if (l.proxies?.get(proxy)) return id;
    return undefined;
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
    const keepAlive = setInterval(() => void this.queue.sync().catch(() => {}), 1000);
    try {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (ids.every((id) => isTerminal(this.queue.get(id)?.status ?? 'queued') && !this.live.has(id))) {
            off();
            resolve();
          }
        };
        const off = this.subscribe(check);
        check();
      });
    } finally {
      clearInterval(keepAlive);
    }
    return ids.map((id) => this.queue.get(id)!);
  }

  // ---- views ----

  getSnapshot = (): EngineSnapshot => {
    this.snapshot ??= Object.freeze({
      version: this.version,
      stateDir: this.state.root,
      jobs: Object.freeze(this.queue.list().map((j) => this.view(j))),
      nodes: Object.freeze(this.nodeViews().map((n) => Object.freeze(n))),
      queue: Object.freeze({ label: this.queue.label, online: this.queue.online?.() ?? true }),
    });
    return this.snapshot;
  };

  subscribe = (listener: () => void): (() => void) => {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  };

  /** Whether this process enqueued the job to run it, or runs it. */
  isOwn(id: string): boolean {
    return this.own.has(id);
  }

  /** Where a job's results are: here, or (team mode) `host:dir` of the engine that ran it. */
  resultDir(id: string): string {
    const j = this.queue.get(id);
    if (!j?.resultsRoot || !j.owner) return this.state.jobDir(id);
    const dir = path.join(j.resultsRoot, j.id);
    return j.owner.host === currentOwner().host ? dir : `${j.owner.host}:${dir}`;
  }

  private readonly views = new WeakMap<Readonly<Job>, JobView>();

  private view(j: Readonly<Job>): JobView {
    const l = this.live.get(j.id);
    const s = this.summaries.get(j.id);
    // A job not running here only changes when the queue gives a new object for it.
    const cached = l ? undefined : this.views.get(j);
    if (cached && cached.summary === s?.summary) return cached;
    const v: JobView = Object.freeze({
      ...j,
      resultDir: this.resultDir(j.id),
      progress: l?.progress,
      lines: l ? Object.freeze([...l.lines]) : undefined,
      timeline: l ? Object.freeze([...l.timeline]) : s?.timeline,
      chaos: l?.chaos ? Object.freeze(l.chaos.view()) : undefined,
      seed: l?.seed ?? s?.seed,
      summary: s?.summary,
      report: s?.report,
    });
    if (!l) this.views.set(j, v);
    return v;
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
    for (const j of this.queue.list()) {
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

  // ---- running a job ----

  private async loadConfig(target: string): Promise<MarteauConfig> {
    const kit = await this.kit();
    return kit.m.loadMarteauConfig(target, { runners: kit.runners, behaviors: kit.behaviors });
  }

  /**
   * The config snapshotted at enqueue, resolved against the project directory, with the
   * `${MARTEAU_...}` values known so far (job, then services, then proxies).
   */
  private async snapshotConfig(job: Readonly<Job>, vars: Vars): Promise<MarteauConfig> {
    const dir = this.state.jobDir(job.id);
    const kit = await this.kit();
    const src = kit.m.parseYaml(job.source.configFile, await this.configText(job.id));
    return kit.m.parseMarteauConfig(
      src,
      job.source.dir,
      { runners: kit.runners, behaviors: await kit.m.withPlugins(src, kit.behaviors), readProjectFile: () => readFileSync(path.join(dir, CHAOS_SNAPSHOT), 'utf8'), seed: this.live.get(job.id)?.seed },
      vars,
    );
  }

  /**
   * A job's end must reach the queue: on a shared queue that is offline for a moment, try again
   * until it is back (bounded; when stopping, briefly), else the job would stay `running`.
   */
  private async recordFinish(id: string, claim: string, outcome: JobOutcome, log: (line: string, o: { level: 'warn' }) => void): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.queue.finish(id, claim, outcome);
      } catch (e) {
        const limit = this.stopping ? FINISH_RETRY_STOPPING_MS : FINISH_RETRY_MS;
        if (!(e instanceof QueueOfflineError) || Date.now() - started > limit) throw e;
        if (attempt === 0) log(`${e.message}; the job's end is recorded when it is back`, { level: 'warn' });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** A job's file (config as enqueued, chaos file, seed): in its directory, and in a shared queue for other machines. */
  private async keepFile(id: string, name: string, text: string): Promise<void> {
    await this.keepLocal(id, name, text);
    await this.queue.storeJobFile?.(id, name, text);
  }

  private async keepLocal(id: string, name: string, text: string): Promise<void> {
    await mkdirp(this.state.jobDir(id), 0o700);
    await writeFile(path.join(this.state.jobDir(id), name), text, { mode: 0o600 });
  }

  /** A job's file from its directory, else (enqueued or run on another machine) from the shared queue. */
  private async jobFile(id: string, name: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.state.jobDir(id), name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const shared = await this.queue.loadJobFile?.(id, name);
      if (shared !== undefined) await this.keepLocal(id, name, shared);
      return shared;
    }
  }

  private async configText(id: string): Promise<string> {
    const text = await this.jobFile(id, CONFIG_SNAPSHOT);
    if (text === undefined) throw new QueueError(`job ${short(id)}: its config snapshot is gone from ${this.state.jobDir(id)}${this.queue.label ? ` and ${this.queue.label}` : ''}`);
    return text;
  }

  /**
   * On a shared queue: show the live output of jobs other processes run, and publish the
   * counters of the proxies of the jobs run here (other terminals' Proxies panes read them).
   */
  private shareWithTeam(): void {
    // A worker shows only the jobs it runs: other processes' lines would only wake it.
    if (this.options.run !== 'all') this.offShared = this.queue.onLine?.((jobId, l) => {
      if (this.live.has(jobId)) return;
      this.events.emit({ type: 'log.line', at: l.at, jobId, node: l.node, stream: l.stream, level: l.level, line: l.line });
    });
    const publish = this.queue.publishPresence?.bind(this.queue);
    if (!publish || !this.runsJobs) return;
    const share = () => publish({ nodes: this.pool.list(), proxies: this.liveProxies().map((p) => p.stats()) });
    share();
    this.proxyPublisher = setInterval(share, 1000);
    this.proxyPublisher.unref();
  }

  /** Counters of the proxies of jobs run by other processes on a shared queue. */
  remoteProxyStats(): ProxyStats[] {
    return this.queue.remotePresence?.().proxies ?? [];
  }

  /**
   * This process's nodes, and on a shared queue the workers' too. A terminal that runs no jobs
   * shows the workers' view of a node of the same name (they probe it, it only has a config).
   */
  private nodeViews(): NodeView[] {
    const own = this.pool.list();
    const remote = (this.queue.remotePresence?.().nodes ?? []).map((n) => ({ ...n, running: this.queue.nodeUse(n.name), enabled: this.queue.nodeEnabled(n.name) ?? n.enabled }));
    if (!remote.length) return own;
    const [first, second] = this.runsJobs ? [own, remote] : [remote, own];
    return [...first, ...second.filter((n) => !first.some((m) => m.name === n.name))];
  }

  private launch(job: Readonly<Job>, claim: string, nodes: NodeConfig[]): void {
    this.own.add(job.id);
    const live: LiveJob = { abort: new AbortController(), claim, lines: [], timeline: [], done: Promise.resolve() };
    this.live.set(job.id, live);
    live.done = this.runJob(job, claim, nodes, live)
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

  private async runJob(job: Readonly<Job>, claim: string, nodeConfigs: NodeConfig[], live: LiveJob): Promise<void> {
    const resultDir = this.state.jobDir(job.id);
    await mkdirp(resultDir, 0o700);
    const consoleFile = new ConsoleFile(path.join(resultDir, 'console.log'));
    // `quiet`: kept in console.log only, because views already show it from a job.* event.
    const log = (line: string, o: { node?: string; stream?: LogStream; level?: 'info' | 'warn' | 'error'; quiet?: boolean } = {}) => {
      const entry: LogLine = { at: Date.now(), node: o.node, stream: o.stream ?? 'engine', line };
      if (o.quiet) return consoleFile.write(entry);
      live.lines.push(entry);
      if (live.lines.length > TAIL_LINES) live.lines.splice(0, live.lines.length - TAIL_LINES);
      consoleFile.write(entry);
      this.queue.publishLine?.(job.id, { ...entry, level: o.level });
      this.events.emit({ type: 'log.line', at: entry.at, jobId: job.id, node: o.node, stream: entry.stream, level: o.level, line });
      this.changed();
    };
    const started = Date.now();
    let config: MarteauConfig | undefined;
    let outcome: RunOutcome | undefined;
    let error: unknown;
    /** Why a sweep's load was not steady before its first fault. */
    let unsteady: string | undefined;
    // The job's `plugins:` join this registry once its config is read (the set resolves names in it).
    const kit = await this.kit();
    const { m } = kit;
    const registry = new Map(kit.behaviors);
    const proxies = new m.ProxySet(registry);
    let api: ApiServer | undefined;
    live.proxies = proxies;
    const executors: Executor[] = [];
    let timer: NodeJS.Timeout | undefined;
    const groups: number[] = [];
    const recordProcess = (node: string, pgid: number, local: boolean) => {
      void this.queue.recordProcess(job.id, claim, node, pgid).catch(() => {});
      if (!local) return;
      this.watchdog.add(pgid);
      groups.push(pgid);
      void writeFile(path.join(resultDir, `pgid-${node}`), `${pgid} ${processStartTime(pgid) ?? ''}\n`).catch(() => {});
    };
    const services = new m.ServiceSet({
      log: (line, o) => log(line, { node: `${SERVICE_NODE}${o.service}`, stream: o.stream, level: o.level }),
      started: (name, pgid) => recordProcess(`${SERVICE_NODE}${name}`, pgid, true),
    });
    try {
      const jobVars = { MARTEAU_JOB_ID: job.id, MARTEAU_JOB_NAME: job.name, MARTEAU_RESULT_DIR: resultDir };
      // Enqueued elsewhere: the `chaos:` file the config is read with comes from the shared queue.
      await this.jobFile(job.id, CHAOS_SNAPSHOT);
      config = await this.snapshotConfig(job, jobVars);
      for (const [name, b] of config.behaviors) registry.set(name, b);
      const runner = kit.runners.get(config.runner);
      if (!runner) throw new ConfigError(config.file, undefined, undefined, `runner "${config.runner}" is not available in this version`);
      timer = setTimeout(() => live.abort.abort('timeout' satisfies AbortWhy), config.timeoutMs);
      log(`job ${short(job.id)} ${JSON.stringify(job.name)} on ${nodeConfigs.map((n) => n.name).join(', ')} (runner ${config.runner})`, { quiet: true });
      const seed = await this.jobSeed(job, config);
      live.seed = seed;
      if (config.proxies.length) log(`seed ${seed} (marteau-tui replay ${short(job.id)} runs the same faults again)`);
      // Services a proxy points at, the proxies, then services that talk through a proxy; the
      // config is read again at each step so `${...}` get the addresses known by then.
      const early = config.services.filter((s) => !s.afterProxies);
      const late = config.services.filter((s) => s.afterProxies);
      await services.start(early, jobVars, live.abort.signal);
      if (early.length) config = await this.snapshotConfig(job, { ...jobVars, ...services.vars() });
      // One stream per proxy, from the job seed and its name: adding a proxy shifts no other's draws.
      await proxies.start(config.proxies.map((p) => ({ ...p, seed: p.seed ?? `${seed}/${p.name}` })), config.statsd, (m) => log(m, { level: 'warn' }));
      for (const p of proxies.proxies.values()) log(`proxy ${p.name} ${p.options.protocol} ${p.listenAddress} -> ${p.upstream} mix ${p.mix.text || '(none)'}`);
      const addresses = (): Vars => Object.assign({ ...jobVars, ...services.vars() }, ...[...proxies.proxies.values()].map((p) => m.proxyVars(p.name, p.listenAddress, p.upstream))) as Vars;
      await services.start(late, addresses(), live.abort.signal);
      if (config.services.length || config.proxies.length) config = await this.snapshotConfig(job, addresses());
      api = await this.startJobApi(config, proxies, (m) => log(m, { level: 'warn' }));
      if (api) log(`api listening on ${api.url} (Toxiproxy /proxies, Vaurien /vaurien/<proxy>/behavior, /marteau)`);
      const chaos = new m.ChaosPlayer(
        m.compileSchedule(config.chaos, config.fixtures, config.runLength.ms),
        proxies.proxies,
        (e) => {
          live.timeline.push(e);
          this.events.emit({ type: 'job.fixture', at: e.at, jobId: job.id, event: e });
          log(timelineLine(e, chaos.view().some((v) => v.proxy === e.proxy && (v.current || v.remaining > 0))));
        },
        (m, level) => log(m, { level }),
        () => this.changed(),
      );
      live.chaos = chaos;
      const serviceFaults = new m.ServiceFaultPlayer(
        config.serviceFaults,
        services,
        (e) => {
          live.timeline.push(e);
          this.events.emit({ type: 'job.fixture', at: e.at, jobId: job.id, event: e });
          log(timelineLine(e, false));
        },
        (m, level) => log(m, { level }),
      );
      // The player gives every change it makes a reason; one without came from outside (the
      // control API): a change by hand.
      for (const p of proxies.proxies.values()) {
        p.on('event', (e: ProxyEvent) => {
          if (e.type === 'proxy.mix' && e.reason === undefined) chaos.observed(e.proxy, e.mix);
        });
      }
      const nodes: RunnerNode[] = nodeConfigs.map((n, index) => {
        const executor = this.pool.executor(n.name);
        executors.push(executor);
        return n.type === 'ssh'
          ? { name: n.name, index, executor, kind: n.type, remoteBase: n.workDir, nodeBin: n.nodeBin, marteauTui: n.marteauTui, funkload: n.funkload }
          : { name: n.name, index, executor, kind: n.type, funkload: n.funkload };
      });
      let loadStarted = false;
      let loadStart = 0;
      const ctx: RunnerContext = {
        job: { id: job.id, name: job.name },
        config,
        nodes,
        resultDir,
        env: { ...config.env, ...jobEnv(config), ...addresses() },
        signal: live.abort.signal,
        log,
        progress: (p) => {
          live.progress = p;
          this.events.emit({ type: 'job.progress', at: Date.now(), jobId: job.id, progress: p });
          this.changed();
        },
        loadStarted: () => {
          if (loadStarted) return;
          loadStarted = true;
          loadStart = Date.now();
          // A sweep waits for the steady-state check of its lead before it arms anything.
          if (config?.sweep) return;
          chaos.start(loadStart);
          serviceFaults.start(loadStart);
        },
        steadyState: (v) => {
          if (!config?.sweep || unsteady !== undefined) return;
          if (v.ok) {
            chaos.start(loadStart);
            serviceFaults.start(loadStart);
            return;
          }
          unsteady = v.why ?? 'the steady-state check failed';
          log(`unsteady before the first fault: ${unsteady}; no fault is injected`, { level: 'error' });
        },
        proxies: proxies.proxies,
        // Proxy changes and service faults, in the order they happened.
        timeline: () => [...live.timeline],
        nodeFailed: (node, message) => this.pool.markDown(node, message),
        recordProcess: (node, pgid) => recordProcess(node, pgid, nodeConfigs.find((n) => n.name === node)?.type === 'local'),
      };
      try {
        await chaos.setup();
        outcome = await runner.run(ctx);
      } finally {
        await serviceFaults.teardown();
        await chaos.teardown();
      }
    } catch (e) {
      error = e;
    } finally {
      clearTimeout(timer);
      await services.stop();
      await api?.close().catch(() => {});
      await proxies.close(0).catch(() => {});
      await Promise.all(executors.map((x) => x.close().catch(() => {})));
      for (const g of groups) this.watchdog.remove(g);
    }

    const why = live.abort.signal.aborted ? (live.abort.signal.reason as AbortWhy) : undefined;
    const final = unsteadyOutcome(why, unsteady) ?? decideOutcome(why, outcome, error, config?.timeoutMs);
    if (error instanceof NodeError) this.pool.markDown(error.node, error.message);
    if (error && !(error instanceof ConfigError) && !(error instanceof NodeError) && !(error instanceof ListenError) && !(error instanceof UpstreamLoopError)) {
      log(`error: ${(error as Error).message}`, { level: 'error' });
    }
    const endedAt = Date.now();
    const summary = `${final.status}${final.reason ? `: ${final.reason}` : ''} in ${formatDuration(endedAt - started)}${outcome?.summary ? ` (${outcome.summary})` : ''}`;
    log(`job ${short(job.id)} ${summary}`, { quiet: true });
    this.summaries.set(job.id, { summary, report: outcome?.report, bell: config?.notify.bell ?? false, seed: live.seed, timeline: Object.freeze([...live.timeline]) });
    await writeFile(
      path.join(resultDir, 'result.json'),
      JSON.stringify(
        {
          id: job.id,
          name: job.name,
          ...final,
          summary,
          startedAt: new Date(started).toISOString(),
          endedAt: new Date(endedAt).toISOString(),
          nodes: nodeConfigs.map((n) => n.name),
          artifacts: outcome?.artifacts ?? [],
          report: outcome?.report,
          seed: live.seed,
          timeline: live.timeline,
        },
        null,
        2,
      ),
    ).catch(() => {});
    await writeFile(path.join(resultDir, 'timeline.json'), JSON.stringify(live.timeline, null, 2)).catch(() => {});
    await consoleFile.close();
    await this.recordFinish(job.id, claim, final, log);

    const webhook = config?.notify.webhook;
    if (webhook && config) {
      const finished = this.queue.get(job.id)!;
      const { postWebhook } = await import('./notify.js');
      const problem = await postWebhook(webhook, { job: finished, summary, resultDir, report: outcome?.report }, config.notify.webhookTimeoutMs);
      if (problem) this.log(job.id, problem, 'warn');
    }
    if (config?.email.length) {
      const { mailReport } = await import('./mail.js');
      const mailed = await mailReport(config.email, { job: this.queue.get(job.id)!, summary, resultDir, report: outcome?.report }, this.options.nodes.mail);
      if (mailed.problem) this.log(job.id, mailed.problem, 'warn');
      else if (mailed.sent) this.log(job.id, mailed.sent, 'info');
    }
  }

  /** A replay's recorded seed, else the config's, else a new one; kept in the job directory at once. */
  private async jobSeed(job: Readonly<Job>, config: MarteauConfig): Promise<string> {
    const recorded = ((await this.jobFile(job.id, SEED_FILE)) ?? '').trim();
    const seed = recorded || String(config.seed ?? randomInt(2 ** 31));
    if (!recorded) await this.keepFile(job.id, SEED_FILE, `${seed}\n`);
    return seed;
  }

  private log(jobId: string | undefined, line: string, level: 'info' | 'warn' | 'error'): void {
    this.events.emit({ type: 'log.line', at: Date.now(), jobId, stream: 'engine', level, line });
  }

  /** After a crash: stop process groups the dead engine left on this machine. */
  private async killLeftovers(job: Readonly<Job>): Promise<void> {
    for (const p of job.procs) {
      if (!p.node.startsWith(SERVICE_NODE) && this.pool.node(p.node)?.type !== 'local') continue;
      // The group id is the leader's pid. If the leader still exists, it must be the same
      // process (same start time); if it is gone but the group lives, the pid cannot have been
      // reused (Linux keeps a pid while it names a live group).
      const recorded = await readFile(path.join(this.state.jobDir(job.id), `pgid-${p.node}`), 'utf8').catch(() => '');
      const [pgidText, startText] = recorded.trim().split(' ');
      if (Number(pgidText) !== p.pgid) continue;
      const start = processStartTime(p.pgid);
      if (start !== undefined && startText && String(start) !== startText) continue;
      if (!groupAlive(p.pgid)) continue;
      try {
        process.kill(-p.pgid, 'SIGKILL');
        this.log(job.id, `stopped process group ${p.pgid} left by the interrupted job ${short(job.id)}`, 'warn');
      } catch {
        // gone meanwhile
      }
    }
  }
}

/** A sweep whose load was not steady before the first fault answers nothing: exit 3, and why. */
function unsteadyOutcome(why: AbortWhy | undefined, unsteady: string | undefined): JobOutcome | undefined {
  if (why !== undefined || unsteady === undefined) return undefined;
  return { status: 'failed', failure: 'infrastructure', reason: `the load was not steady before the first fault (${unsteady}); no fault was injected` };
}

export function decideOutcome(why: AbortWhy | undefined, outcome: RunOutcome | undefined, error: unknown, timeoutMs?: number): JobOutcome {
  if (why === 'cancel') return { status: 'cancelled', reason: 'cancelled by a user' };
  if (why === 'shutdown') return { status: 'interrupted', reason: 'the engine was stopped during the run', failure: 'infrastructure' };
  if (why === 'lease') return { status: 'interrupted', reason: 'this engine could not renew its lease on the queue, so another may run the job again: stopped here', failure: 'infrastructure' };
  if (why === 'timeout') return { status: 'failed', failure: 'test', reason: `timed out after ${formatDuration(timeoutMs ?? 0)} (timeout:)` };
  if (error instanceof ConfigError) return { status: 'failed', failure: 'config', reason: error.message };
  if (error instanceof NodeError) return { status: 'failed', failure: 'infrastructure', reason: error.message };
  if (error instanceof ListenError) return { status: 'failed', failure: 'infrastructure', reason: error.message };
  if (error instanceof UpstreamLoopError) return { status: 'failed', failure: 'config', reason: error.message };
  if (error) return { status: 'failed', failure: 'infrastructure', reason: (error as Error).message ?? String(error) };
  if (!outcome) return { status: 'failed', failure: 'infrastructure', reason: 'the runner returned nothing' };
  return {
    status: outcome.status,
    reason: outcome.reason,
    failure: outcome.status === 'failed' ? (outcome.failure ?? 'test') : undefined,
    exitCode: outcome.exitCode,
  };
}

/** Log lines of a service carry this prefix where a runner's carry the node name. */
const SERVICE_NODE = 'service:';

/** The job's settings a test command may want, next to the addresses (MARTEAU_PROXY_*, ...). */
function jobEnv(config: MarteauConfig): Record<string, string> {
  const env: Record<string, string> = {};
  if (config.cycles) env.MARTEAU_CYCLES = config.cycles.join(':');
  if (config.durationMs !== undefined) env.MARTEAU_DURATION = String(config.durationMs / 1000);
  return env;
}

/** A job directory's seed file: written when the job starts, copied by replay. */
const SEED_FILE = 'seed';
/** The job directory's copy of the file `chaos:` names, taken at enqueue. */
const CHAOS_SNAPSHOT = 'chaos.yml';
/** What retry and replay copy from the old job (a chaos file only when the config names one). */
const SNAPSHOT_FILES = [CONFIG_SNAPSHOT, CHAOS_SNAPSHOT] as const;
interface EnqueueOptions {
  origin?: string;
  runHere?: boolean;
  /** Rewrites the config text before it is checked and kept (a command's own settings). */
  edit?: (text: string) => string;
  /** Told what in the config is valid but will likely mislead (a fault too close to the load's end). */
  warn?: (message: string) => void;
}

/** What enqueue writes in a job directory before the journal record: the snapshots and a clone. */
const ENQUEUE_FILES: ReadonlySet<string> = new Set([...SNAPSHOT_FILES, 'src']);
/** Longer than an enqueue can take (a git clone is given 5 minutes). */
const ORPHAN_AGE_MS = 15 * 60_000;

interface RequeueOptions {
  runHere?: boolean;
  /** Who asks (as for enqueue); a `--ci` run's origin is never inherited. */
  origin?: string;
}

/** `scheduled`: the proxy has a chaos schedule (a change by hand pauses it; say so only then). */
function timelineLine(e: TimelineEvent, scheduled: boolean): string {
  if (e.kind === 'service') return `chaos ${e.fixture}: service ${e.proxy} ${e.label ?? e.mix}`;
  if (e.source === 'manual') return `manual: ${e.proxy} mix ${e.mix || '(none)'} set by hand${scheduled ? '; its chaos schedule is paused' : ''}`;
  const what = e.source === 'chaos' ? `chaos ${e.fixture} (${e.label})` : `fixture ${e.fixture}`;
  return `${what}: ${e.action === 'apply' ? 'applied' : 'restored'} ${e.proxy} mix ${e.mix || '(none)'}`;
}

export function summaryLine(j: Readonly<Job>): string {
  const took = j.durationMs === undefined ? '' : ` in ${formatDuration(j.durationMs)}`;
  return `${j.status}${j.reason ? `: ${j.reason}` : ''}${took}`;
}

/** The job's full output, with node and stream, bounded in size. */
class ConsoleFile {
  private readonly out: WriteStream;
  private bytes = 0;
  private full = false;

  constructor(file: string) {
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', () => {});
  }

  write(l: LogLine): void {
    if (this.full) return;
    const text = `${new Date(l.at).toISOString()} ${l.node ?? '-'} ${l.stream} ${l.line}\n`;
    this.bytes += Buffer.byteLength(text);
    if (this.bytes > MAX_CONSOLE_BYTES) {
      this.full = true;
      this.out.write(`${new Date().toISOString()} - engine console.log reached ${MAX_CONSOLE_BYTES / 1048576} MB; further output is not kept\n`);
      return;
    }
    this.out.write(text);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

