/**
 * The job model and the journal records that change it. The queue state is a pure fold of the
 * records in file order, so every process reading the same journal agrees on every job,
 * including which of two racing claims won (the first valid one in the file).
 */
import type { Owner } from './owner.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);

/** Why a job failed: its test, the machines, or its config (maps to exit codes 1, 3, 2). */
export type FailureKind = 'test' | 'infrastructure' | 'config';

export type JobSource =
  | { kind: 'dir'; dir: string; configFile: string }
  | { kind: 'git'; url: string; ref?: string; commit: string; dir: string; configFile: string };

/** What enqueue records about a job (the config itself is snapshotted in the job's directory). */
export interface JobSpec {
  id: string;
  name: string;
  source: JobSource;
  runner: string;
  nodes: number;
  nodeTags: string[];
  /** false: the job copies no files to or from its nodes, so a node without SFTP may take it (absent: it does). */
  files?: false;
  /** The names of its config's proxies, for views (absent: enqueued by a version that did not say). */
  proxies?: string[];
  retryOf?: string;
  /** Free-form tag of who asked (e.g. "ci", "cli"), for views. */
  origin?: string;
}

export interface NodeClaim {
  name: string;
  /** The node's max_jobs as the claimer knew it: part of the record so every reader decides alike. */
  max: number;
}

export interface JobOutcome {
  status: 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
  reason?: string;
  failure?: FailureKind;
  exitCode?: number;
  /**
   * Stopped because this engine lost its lease on a shared queue: the job is a lost one, and its
   * `lost_jobs` decides what it becomes (requeued, or interrupted), as when its engine dies.
   */
  lost?: true;
  /** It could not start for want of room in the state dir: back in the queue, not ended. */
  requeue?: true;
  /**
   * When the job ended, for an end recorded later (a shared queue offline for a while): its
   * duration is the run's, not the run's plus the outage. Unset: the record's own time.
   */
  at?: number;
}

export type JournalRecord =
  | { t: 'enqueued'; at: number; by: Owner; job: JobSpec }
  /**
   * `results`: the claimer's jobs directory (team mode: on the claimer's host, see `owner`);
   * `lost`: what the job becomes should the claimer die (its `lost_jobs`, whoever notices).
   */
  | { t: 'claimed'; at: number; id: string; claim: string; owner: Owner; nodes: NodeClaim[]; results?: string; lost?: 'interrupt' | 'requeue' }
  | { t: 'proc'; at: number; id: string; claim: string; node: string; pgid: number }
  /** `cause`: who asked, in words ("by SIGTERM"); none: a user. */
  | { t: 'cancel'; at: number; id: string; by: Owner; cause?: string }
  | ({ t: 'finished'; at: number; id: string; claim: string } & JobOutcome)
  | { t: 'node'; at: number; name: string; enabled: boolean; by: Owner }
  /** A lost engine's running job goes back to the queue (config: lost_jobs: requeue). */
  | { t: 'requeued'; at: number; id: string; claim: string; reason: string }
  /** Finished jobs removed from the history (team mode: trimmed or `queue --purge`). */
  | { t: 'purged'; at: number; ids: string[] };

export interface Job extends JobSpec {
  seq: number;
  status: JobStatus;
  enqueuedAt: number;
  enqueuedBy: Owner;
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  nodesTaken: string[];
  owner?: Owner;
  /** The jobs directory of the engine that ran it (team mode), on `owner.host`. */
  resultsRoot?: string;
  /** Its engine's `lost_jobs`: what it becomes should that engine die. */
  onLost?: 'interrupt' | 'requeue';
  claim?: string;
  cancelRequested: boolean;
  /** Who asked for the cancel, when not a user (see the cancel record). */
  cancelCause?: string;
  reason?: string;
  failure?: FailureKind;
  exitCode?: number;
  procs: { node: string; pgid: number }[];
}

/** Mutable fold state; views get frozen copies (see JournalQueue.list). */
export class QueueState {
  readonly jobs = new Map<string, Job>();
  /** Running jobs per node, as decided by the journal (all processes together). */
  readonly nodeUse = new Map<string, number>();
  /** Enable/disable overrides recorded by `setNodeEnabled`, newest wins. */
  readonly nodeEnabled = new Map<string, boolean>();
  /** Claims that lost a race or came too late: the claimer learns it from here. */
  readonly rejectedClaims = new Set<string>();
  /** Jobs changed since the last `takeTouched()` (views copy only those). */
  private touched = new Set<string>();
  records = 0;

  takeTouched(): Set<string> {
    const t = this.touched;
    this.touched = new Set();
    return t;
  }
  private seq = 0;

  apply(r: JournalRecord): boolean {
    this.records++;
    // A record of the right JSON but the wrong shape (edited by hand, bit rot that still parses)
    // is skipped like a torn line: folding it would throw, and every command would fail on it.
    if (!isWellFormed(r)) return false;
    const changed = this.fold(r);
    if (changed && 'id' in r) this.touched.add(r.id);
    else if (changed && r.t === 'enqueued') this.touched.add(r.job.id);
    else if (changed && r.t === 'purged') for (const id of r.ids) this.touched.add(id);
    return changed;
  }

  private fold(r: JournalRecord): boolean {
    switch (r.t) {
      case 'enqueued': {
        const s = r.job;
        if (!s || typeof s.id !== 'string' || this.jobs.has(s.id)) return false; // doubled: first wins
        // Every field set here, in one order: all jobs share one object shape, which keeps
        // folding a long journal fast (see bench/journal.ts).
        this.jobs.set(s.id, {
          id: s.id,
          name: s.name,
          source: s.source,
          runner: s.runner,
          nodes: s.nodes,
          nodeTags: s.nodeTags ?? [],
          files: s.files === false ? false : undefined,
          proxies: Array.isArray(s.proxies) ? s.proxies : undefined,
          retryOf: s.retryOf,
          origin: s.origin,
          seq: this.seq++,
          status: 'queued',
          enqueuedAt: r.at,
          enqueuedBy: r.by,
          startedAt: undefined,
          endedAt: undefined,
          durationMs: undefined,
          nodesTaken: [],
          owner: undefined,
          resultsRoot: undefined,
          onLost: undefined,
          claim: undefined,
          cancelRequested: false,
          cancelCause: undefined,
          reason: undefined,
          failure: undefined,
          exitCode: undefined,
          procs: [],
        });
        return true;
      }
      case 'claimed': {
        const j = this.jobs.get(r.id);
        const fits = r.nodes.every((n) => (this.nodeUse.get(n.name) ?? 0) < n.max && this.nodeEnabled.get(n.name) !== false);
        if (!j || j.status !== 'queued' || !fits) {
          this.rejectedClaims.add(r.claim);
          return false;
        }
        j.status = 'running';
        j.claim = r.claim;
        j.owner = r.owner;
        j.resultsRoot = typeof r.results === 'string' ? r.results : undefined;
        j.onLost = r.lost;
        j.startedAt = r.at;
        j.nodesTaken = r.nodes.map((n) => n.name);
        for (const n of r.nodes) this.nodeUse.set(n.name, (this.nodeUse.get(n.name) ?? 0) + 1);
        return true;
      }
      case 'proc': {
        const j = this.jobs.get(r.id);
        if (!j || j.claim !== r.claim || j.status !== 'running') return false;
        j.procs.push({ node: r.node, pgid: r.pgid });
        return true;
      }
      case 'cancel': {
        const j = this.jobs.get(r.id);
        if (!j) return false;
        if (j.status === 'queued') {
          j.status = 'cancelled';
          j.endedAt = r.at;
          j.reason = `before it started${typeof r.cause === 'string' ? `, ${r.cause}` : ''}`;
          return true;
        }
        if (j.status === 'running' && !j.cancelRequested) {
          j.cancelRequested = true;
          j.cancelCause = typeof r.cause === 'string' ? r.cause : undefined;
          return true;
        }
        return false;
      }
      case 'finished': {
        const j = this.jobs.get(r.id);
        if (!j || j.status !== 'running' || j.claim !== r.claim) return false;
        j.status = r.status;
        j.endedAt = r.at;
        j.durationMs = j.startedAt === undefined ? undefined : r.at - j.startedAt;
        j.reason = r.reason;
        j.failure = r.failure;
        j.exitCode = r.exitCode;
        this.release(j);
        return true;
      }
      case 'requeued': {
        const j = this.jobs.get(r.id);
        if (!j || j.status !== 'running' || j.claim !== r.claim) return false;
        this.release(j);
        j.status = 'queued';
        j.reason = r.reason;
        j.claim = undefined;
        j.owner = undefined;
        j.resultsRoot = undefined;
        j.startedAt = undefined;
        j.nodesTaken = [];
        j.procs = [];
        return true;
      }
      case 'node':
        this.nodeEnabled.set(r.name, r.enabled);
        return true;
      case 'purged': {
        let changed = false;
        for (const id of Array.isArray(r.ids) ? r.ids : []) {
          const j = this.jobs.get(id);
          // Only history goes: a job still queued or running here is kept.
          if (j && isTerminal(j.status)) changed = this.jobs.delete(id) || changed;
        }
        return changed;
      }
      default:
        return false; // a record type from a newer version: ignore it, keep going
    }
  }

  private release(j: Job): void {
    for (const n of j.nodesTaken) this.nodeUse.set(n, Math.max(0, (this.nodeUse.get(n) ?? 1) - 1));
  }
}

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL.has(s);
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isOwner = (v: unknown): boolean => !!v && typeof v === 'object' && isStr((v as Owner).host) && isNum((v as Owner).pid);
const isClaimOf = (r: Record<string, unknown>): boolean => isStr(r.id) && isStr(r.claim);

/**
 * Whether a parsed record has what the fold reads of it (a record of an unknown type passes: a
 * newer version's, ignored by the fold). What the views read is not checked: a wrong value there
 * shows wrong, it throws nothing.
 */
export function isWellFormed(v: unknown): v is JournalRecord {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  if (!isNum(r.at)) return false;
  switch (r.t) {
    case 'enqueued': {
      const j = r.job as Record<string, unknown> | undefined;
      return !!j && typeof j === 'object' && isStr(j.id) && isStr(j.name) && isNum(j.nodes) && (j.nodeTags === undefined || Array.isArray(j.nodeTags)) && !!j.source && typeof j.source === 'object' && isOwner(r.by);
    }
    case 'claimed':
      return isClaimOf(r) && isOwner(r.owner) && Array.isArray(r.nodes) && r.nodes.every((n: { name?: unknown; max?: unknown } | null) => !!n && isStr(n.name) && isNum(n.max));
    case 'proc':
      return isClaimOf(r) && isStr(r.node) && isNum(r.pgid);
    case 'cancel':
      return isStr(r.id);
    case 'finished':
      return isClaimOf(r) && TERMINAL.has(r.status as JobStatus);
    case 'requeued':
      return isClaimOf(r);
    case 'node':
      return isStr(r.name) && typeof r.enabled === 'boolean';
    case 'purged':
      return Array.isArray(r.ids);
    default:
      return isStr(r.t);
  }
}
