/**
 * The engine's types: its options, what views read, and the state its parts (enqueue, running a
 * job, its end) share with the Engine facade.
 */
import type { NodeConfig, NodesConfig } from '../config/nodes.js';
import type { RunnerRegistry } from './runner-contract.js';
import type { BehaviorRegistry } from '../proxy/mix.js';
import type { ProxySet } from '../proxy/proxy-set.js';
import type { ChaosPlayer, ScheduleView } from './chaos-player.js';
import type { LogLine } from './console-file.js';
import type { EventBus, Progress, TimelineEvent } from './events.js';
import type { JobFiles } from './job-files.js';
import type { Job, JobOutcome } from './jobs.js';
import type { ExecutorFactory, NodePool, NodeView } from './node-pool.js';
import type { JobQueue } from './queue.js';
import type { StateDir } from './state-dir.js';
import type { Watchdog } from './watchdog.js';

export interface EngineOptions {
  stateDir: string;
  nodes: NodesConfig;
  /**
   * The runners jobs may name, or how to load them on first use (the layer above hands them in:
   * core knows only their contract). `report/runners.ts` loads those this build ships.
   */
  runners: RunnerRegistry | (() => Promise<RunnerRegistry>);
  behaviors?: BehaviorRegistry;
  executorFactory?: ExecutorFactory;
  /**
   * Which queued jobs this process runs: `all` (the TUI, a worker), `own` (only those it
   * enqueued: `--ci`), `none` (CLI commands that only look or edit).
   */
  run?: 'all' | 'own' | 'none';
  /** How long a job may wait for free nodes before failing; default: forever. */
  nodeWaitMs?: number;
  /**
   * How long a job's end is retried while a shared queue is offline (default 10 min); past it the
   * end is kept here and recorded once the queue is back, and waitFor reports it meanwhile.
   */
  finishRetryMs?: number;
  /** Probe SSH nodes periodically (default: when running jobs). */
  probe?: boolean;
  /**
   * Read the nodes file again before each probe cycle, when it changed (nodes-reload.ts): the
   * control center and a worker, which live on. Default false.
   */
  rereadNodes?: boolean;
  /** The queue implementation; default: `nodes.queue` (Redis) or else the journal in the state dir. */
  queue?: JobQueue;
  /** Where `source.dir` paths are resolved from for relative targets. */
  cwd?: string;
  /**
   * Load the runners, behaviors and config schemas in `start()` (default true). A command that
   * only edits the queue or the nodes (cancel, `nodes --disable`) passes false and starts without
   * them; whatever needs them loads them then, except `behaviorNames()`, which needs them loaded.
   * (The listings need no engine at all: queue-look.ts.)
   */
  preload?: boolean;
}

/** A job's end the queue has yet to be told: its outcome, when it ended, and the claim it ended. */
export type UnrecordedEnd = JobOutcome & { endedAt: number; claim: string };

export type KitModule = typeof import('./engine-kit.js');
/** The engine's heavy half (see engine-kit.ts) with the registries this engine uses. */
export interface Kit {
  m: KitModule;
  runners: RunnerRegistry;
  behaviors: BehaviorRegistry;
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
  /** Why a queued job waits here (a disabled node; nodes that cannot fit it), once said. */
  waiting?: string;
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

export interface LiveJob {
  abort: AbortController;
  /** Who cancelled it, when the queue could not be told (offline): the queue's record says otherwise. */
  cancelCause?: string;
  claim: string;
  progress?: Progress;
  lines: LogLine[];
  timeline: TimelineEvent[];
  chaos?: ChaosPlayer;
  seed?: string;
  proxies?: ProxySet;
  /** Its proxies' control API for the other processes on the state dir (see presence-publish.ts). */
  sharedApi?: string;
  done: Promise<void>;
}


/** What a job that ended here leaves for views: its summary, report, seed and fault timeline. */
export interface JobSummary {
  summary: string;
  /** The run's claim: while the queue holds another, the job is not this run's (put back in the queue and taken since). */
  claim: string;
  report?: string;
  bell: boolean;
  seed?: string;
  timeline?: readonly TimelineEvent[];
}

/** What a job's run tells this process's presence (presence-publish.ts) of its proxies' control API. */
export interface SharedPresence {
  /** What the API asks of a caller. */
  readonly token: string;
  /** Now rather than at the next second: its proxies started or stopped. */
  publish(): void;
}

/** The engine's state and services its parts share (the Engine owns them). */
export interface EngineCore {
  readonly options: EngineOptions;
  readonly events: EventBus;
  readonly state: StateDir;
  readonly queue: JobQueue;
  readonly pool: NodePool;
  readonly files: JobFiles;
  readonly watchdog: Watchdog;
  /** The jobs this process runs now. */
  readonly live: Map<string, LiveJob>;
  /** Jobs this process enqueued to run, or runs. */
  readonly own: Set<string>;
  readonly summaries: Map<string, JobSummary>;
  /** This process's presence on the state dir's journal, when it runs jobs there (team mode: the queue's). */
  readonly presence?: SharedPresence;
  /** Why the scheduler leaves a queued job waiting, when it said so. */
  waitReason(id: string): string | undefined;
  /**
   * Ends the queue could not be told (offline past the bound): what waitFor reports for them, and
   * what is recorded, with the job's claim, once the queue is back.
   */
  readonly unrecorded: Map<string, UnrecordedEnd>;
  /** The heavy half, loaded once. */
  kit(): Promise<Kit>;
  /** Let the scheduler look at the queue again. */
  kick(): void;
  /** Record a job's end, handing the nodes it frees to the next job they serve (Scheduler.finish). */
  finish(id: string, claim: string, nodes: NodeConfig[], outcome: JobOutcome): Promise<void>;
  /** Something views show changed. */
  changed(): void;
  stopping(): boolean;
  /** The state dir's disk is full (`why`): no job starts here until there is room. */
  stateDirFull(why: string): void;
  /**
   * The journal's disk failed a write (`e`, see isDiskFailing): said once until a write goes
   * through, the ends not recorded tried again meanwhile.
   */
  journalFailed(e: unknown): void;
  log(jobId: string | undefined, line: string, level: 'info' | 'warn' | 'error'): void;
}
