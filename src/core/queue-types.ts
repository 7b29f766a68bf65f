/**
 * The job queue's interface and the types around it; `LogQueue` (queue.ts) implements it over
 * the journal file or a Redis stream.
 */
import type { Job, JobOutcome, JobSpec, JournalRecord, NodeClaim } from './jobs.js';
import type { LogStream } from './events.js';
import type { MixEntrySpec, MixSpec } from '../proxy/mix.js';
import type { ProxyStats } from '../proxy/proxy.js';
import type { ScheduleView } from './chaos-player.js';
import type { NodeView } from './node-view.js';
import type { Owner } from './owner.js';

/** What a job whose engine died left (see recoverInterrupted). */
export interface LastSeen {
  /** The end it reached and recorded in its directory. */
  ended?: JobOutcome;
  /** When it last wrote anything (ms). */
  at?: number;
}

export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueError';
  }
}

/** A job id as views show it. */
export function short(id: string): string {
  return id.slice(0, 8);
}

/** Why an ended job cannot be cancelled, as the CLI and the control center both say it. */
export function nothingToCancel(id: string, status: string): string {
  return `job ${short(id)} ${status === 'succeeded' || status === 'failed' ? 'has' : 'was'} already ${status}: nothing to cancel`;
}

/**
 * A full id from a unique prefix (like git) among `ids` (a job map's keys, or a set): the
 * queue's rule, which the control center's `:cancel ID` also follows to ask about the job first.
 * Throws QueueError otherwise.
 */
export function resolveJobId(idOrPrefix: string, ids: { has(id: string): boolean; keys(): Iterable<string> }): string {
  const p = idOrPrefix.trim().toLowerCase();
  if (!/^[0-9a-f]{4,64}$/.test(p)) throw new QueueError(`"${idOrPrefix}" is not a job id (4 or more hex digits, see \`marteau-tui queue\`)`);
  if (ids.has(p)) return p;
  const matches = [...ids.keys()].filter((k) => k.startsWith(p));
  if (matches.length === 1) return matches[0];
  if (!matches.length) throw new QueueError(`no job ${p} in the queue (see \`marteau-tui queue --all\`)`);
  throw new QueueError(`${p} matches ${matches.length} jobs (${distinct(matches.slice(0, 3)).join(', ')}${matches.length > 3 ? ', …' : ''}); give more digits`);
}

/** The ids cut where they all differ (8 characters at least): `short` may show two alike. */
function distinct(ids: readonly string[]): string[] {
  let n = 8;
  while (new Set(ids.map((id) => id.slice(0, n))).size < new Set(ids).size) n++;
  return ids.map((id) => id.slice(0, n));
}

export interface JobQueue {
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Add a job; its id may be given (the engine writes the config snapshot under it first).
   * `files` are kept with it where a shared queue's other machines read them (storeJobFile).
   */
  enqueue(spec: Omit<JobSpec, 'id'> & { id?: string }, files?: JobFileTexts): Promise<Job>;
  /** Cancel a queued job now, or ask the engine running it to stop. */
  /** `cause`: who asks, in words ("by SIGTERM"), when not a user. */
  cancel(id: string, cause?: string): Promise<Job>;
  /**
   * A new queued job with the same spec (`retryOf` points at the old one). Its origin is the
   * caller's: a `--ci` run's job retried from a terminal must not be left to that (gone) run.
   */
  retry(id: string, o?: { id?: string; origin?: string; files?: JobFileTexts }): Promise<Job>;
  /** All jobs, oldest first, history included. Frozen: a new array when anything changed. */
  list(): readonly Readonly<Job>[];
  get(id: string): Readonly<Job> | undefined;
  /**
   * The queued jobs, oldest first: what a scheduling pass looks at, without walking the history
   * (a team keeps 1000 finished jobs, and every worker passes on each wake-up).
   */
  queued(): readonly Readonly<Job>[];
  /**
   * The jobs changed (or purged: not returned) since the previous call, oldest first. One reader
   * (the engine): what it reacts to on each change, instead of the whole history.
   */
  takeChanged(): readonly Readonly<Job>[];
  /** A full id from a unique prefix (like git). Throws QueueError otherwise. */
  resolve(idOrPrefix: string): string;
  /** Take a queued job onto nodes; undefined when another process got it (or the nodes) first. */
  claim(id: string, nodes: NodeClaim[]): Promise<string | undefined>;
  /**
   * Take the first of these queued jobs that nobody took yet onto the nodes (each must fit
   * them): workers racing for the head of the queue each get one job in one try.
   */
  claimFirst(ids: readonly string[], nodes: NodeClaim[]): Promise<{ id: string; claim: string } | undefined>;
  /**
   * Record a job's end and, in the same append where the log can (team mode), take the first of
   * `next` nobody took yet onto the nodes it frees: the node waits for no second round trip.
   * Elsewhere, or with no `next`, only the end is recorded (the scheduler's pass follows).
   */
  finishAndClaim(id: string, claim: string, outcome: JobOutcome, next: readonly string[], nodes: NodeClaim[]): Promise<{ id: string; claim: string } | undefined>;
  /** Remember a process group started for a running job (crash clean-up). */
  recordProcess(id: string, claim: string, node: string, pgid: number): Promise<void>;
  finish(id: string, claim: string, outcome: JobOutcome): Promise<void>;
  setNodeEnabled(name: string, enabled: boolean): Promise<void>;
  nodeEnabled(name: string): boolean | undefined;
  /** Running jobs per node across all processes. */
  nodeUse(name: string): number;
  /**
   * Mark running jobs whose owner process is dead as interrupted; returns them as they were found
   * (the claim and processes of their run), with the --ci jobs orphaned before their start.
   * `seen`: what the job left where it ran: the end it reached (its end record lost with its
   * engine), else when it was last at work (its end time; else now).
   */
  recoverInterrupted(seen?: (job: Readonly<Job>) => Promise<LastSeen>): Promise<Readonly<Job>[]>;
  /** Called after changes, whoever made them (this process or another). */
  watch(listener: () => void): () => void;
  /** Pick up records appended by other processes now. */
  sync(): Promise<void>;
  /**
   * Whether this process can start nothing now (all its nodes busy): a shared backend then wakes
   * it only for a cancel of its jobs, not for jobs to claim (its own next claim reads the rest).
   */
  setBusy?(busy: boolean): void;
  /** Why nothing can be appended (a read-only state dir), in words for the user; undefined: it can. */
  readOnly?(): string | undefined;
  /**
   * Where to say that a record is in the log but was not forced to disk (the journal's disk
   * failing): it counts, as appended, and a power cut may lose it.
   */
  onUnsynced?(warn: (message: string) => void): void;

  // ---- shared backends only (team mode): what a file in a shared state dir gives for free ----
  /** Where it lives, for views (credentials masked). */
  readonly label?: string;
  /** false while a shared backend cannot be reached (it reconnects by itself). */
  online?(): boolean;
  /**
   * Keep a file of a job (its config snapshot, `chaos:` file, seed) where engines and terminals
   * on other machines read it: what they need to run, retry and replay it.
   */
  storeJobFile?(id: string, name: string, text: string): Promise<void>;
  loadJobFile?(id: string, name: string): Promise<string | undefined>;
  /** All of a job's shared files, by name. */
  loadJobFiles?(id: string): Promise<Record<string, string>>;
  /** Live output of a job run here, for the other processes; `onLine` gets theirs. */
  publishLine?(jobId: string, line: SharedLine): void;
  onLine?(listener: (jobId: string, line: SharedLine) => void): () => void;
  /** Reserve this worker's node names for the team; throws when another live worker has one. */
  claimNodeNames?(names: readonly string[]): Promise<void>;
  /** Give names this worker no longer runs back to the team (those another took over meanwhile stay theirs). */
  releaseNodeNames?(names: readonly string[]): Promise<void>;
  /** Remove finished jobs that ended before this time (ms) from the shared history; returns how many. */
  purge?(endedBefore: number): Promise<number>;
  /** This process's lease on the shared queue: its last heartbeat Redis took, and how long it holds. */
  lease?(): { lastBeat: number; ttlMs: number };
  /** What this process runs on (nodes, proxies of its jobs); `remotePresence` merges the others'. */
  publishPresence?(p: Presence): void;
  remotePresence?(): Presence;
  /** Changes to the chaos of a job another engine runs, and those of this engine's jobs (redis-chaos.ts). */
  readonly chaos?: ChaosChannel;
}

/** What a process shows the team: its nodes' state and its running jobs' proxy counters. */
export interface Presence {
  nodes: NodeView[];
  proxies: ProxyStats[];
  /** Each proxy's, in the order of `proxies`. */
  control?: TeamProxyControl[];
}

/**
 * A proxy's job, its mix in force (with options: the editor keeps them) and its scenario (none
 * from a version before them); who runs it is added by the reader, from the presence's key.
 */
export interface TeamProxyControl {
  job?: string;
  mix?: Record<string, MixEntrySpec>;
  schedule?: ScheduleView;
  owner?: Owner;
}

/** A change to a proxy of a running job: its mix (by hand), or its scenario paused or followed. */
export type ChaosChange = { mix: MixSpec } | { paused: boolean };

export type ChaosRequest = ChaosChange & { job: string; proxy: string; by: Owner };

/** What the engine running the job answers: the mix in force after a mix change. */
export interface ChaosAnswer {
  mix?: string;
  spec?: Record<string, MixEntrySpec>;
}

export interface ChaosChannel {
  /** Ask the engine running `job` for the change; rejects with its refusal, or when it does not answer. */
  request(job: string, proxy: string, change: ChaosChange): Promise<ChaosAnswer>;
  /**
   * Take the changes asked of this engine's jobs: `apply` makes one (throws its refusal);
   * `late`, one that came after its sender stopped waiting, which is not made.
   */
  serve(apply: (r: ChaosRequest) => Promise<ChaosAnswer>, late: (r: ChaosRequest) => void): void;
}

export interface SharedLine {
  at: number;
  node?: string;
  stream: LogStream;
  level?: 'info' | 'warn' | 'error';
  line: string;
}

/** Declared with the `queue: lost_jobs` key it comes from (config/ must not import core/). */
export type { LostJobs } from '../config/nodes.js';

/** A job's files (config snapshot, `chaos:` file, seed) by name. */
export type JobFileTexts = Readonly<Record<string, string>>;

export type ClaimRecord = Extract<JournalRecord, { t: 'claimed' }>;

/** Where a LogQueue's records live: appended in one order that every reader sees alike. */
export interface RecordLog {
  open(): Promise<void>;
  close(): Promise<void>;
  /** `files`: a new job's, stored with its record in one step where the log can (a shared queue). */
  append(r: JournalRecord, files?: JobFileTexts): Promise<void>;
  /** Records appended (by anyone) since the previous call, in log order. */
  readNew(): Promise<JournalRecord[]>;
  /**
   * Call `onChange` when new records may be there (it returns once they are read); returns a
   * stop function. `queued` tells whether a job is still waiting (as far as the reader has read);
   * `woken`, that a wake-up came for a job still waiting once read, so a pass must look at it
   * even though nothing new was read (the job was known before the wake-up).
   */
  watch(onChange: () => Promise<void>, queued?: (id: string) => boolean, woken?: () => void): () => void;
  /** See JobQueue.setBusy. */
  setBusy?(busy: boolean): void;
  /** See JobQueue.readOnly. */
  readOnly?(): string | undefined;
  /**
   * Append the first of these claims whose job no live engine has claimed yet, atomically;
   * returns its index (-1: all taken, nothing appended).
   */
  appendClaim?(records: readonly ClaimRecord[]): Promise<number>;
  /** A job's end record, then as `appendClaim`, atomically. */
  appendFinishClaim?(finished: JournalRecord, records: readonly ClaimRecord[]): Promise<number>;
  /** Free what `appendClaim` holds for a claim the fold refused. */
  releaseClaim?(id: string, claim: string): Promise<void>;
  /**
   * Whether an append that failed may still have landed (its reply lost on the way back): a
   * claim's then waits for a read to settle it. A local file's failed append never lands.
   */
  readonly failedAppendMayLand?: boolean;
}
