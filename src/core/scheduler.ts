/**
 * Decides which queued job starts where: oldest first, each taking `nodes: N` free nodes, and a
 * later job may start while an earlier one waits for nodes (backfill). A job that can never
 * fit (fewer nodes with its tags than it needs) or that waited past `nodeWaitMs` is failed with
 * the reason, as an infrastructure error (a config error when a node it waited for is down for
 * the user's mistake: its key). Such a job fails at once when waiting cannot place it, its nodes
 * down for a mistake or a host key that changed, which only a fix brings up; unless another
 * engine of a shared queue may run it: one that cannot fit here is then left queued for the
 * workers whose nodes it fits. A job that fits only once a disabled node is enabled again waits,
 * as for a busy node: disabling is for a while. An engine with no deadline (the control center,
 * a worker) leaves a job only a fix can place queued, saying what to fix: see waitForFix.
 */
import type { NodeConfig } from '../config/nodes.js';
import type { Job, JobOutcome, NodeClaim } from './jobs.js';
import type { NodePool, NodeView } from './node-pool.js';
import type { JobQueue } from './queue.js';

export interface SchedulerDeps {
  queue: JobQueue;
  pool: NodePool;
  /** Whether this engine may run the job (the --ci engine runs only its own). */
  mayRun(job: Readonly<Job>): boolean;
  start(job: Readonly<Job>, claim: string, nodes: NodeConfig[]): void;
  /** A claim for these jobs settled, the one it took started: see Scheduler.claiming. */
  claimed?(ids: readonly string[]): void;
  /** The job cannot be placed: fail it with this reason. */
  unplaceable(job: Readonly<Job>, reason: string, failure: 'config' | 'infrastructure'): Promise<void>;
  /**
   * Whether another engine may run the job (a shared queue's workers): one this engine's nodes
   * can never fit is then left queued for them, not failed.
   */
  othersMayRun?(job: Readonly<Job>): boolean;
  /** Told once per job left queued (for others, or until a node is enabled or fixed), with why it cannot run here. */
  leave?(job: Readonly<Job>, reason: string, fix?: WaitsForFix): void;
  /** A job that fits this engine's nodes starts to wait for some of them to be free: why, once per wait. */
  waits?(job: Readonly<Job>, reason: string): void;
  /** How long a job may wait for busy/down nodes before failing; undefined: forever. */
  nodeWaitMs?: number;
  /** Tell the queue when all nodes are taken (a worker: it then waits for no job to claim). */
  reportBusy?: boolean;
  /** A pass could not write to the queue (a claim): told at each try, the next shortly after. */
  failed?(e: unknown): void;
  /** A pass wrote to the queue (a claim, a job failed as unplaceable): a failure told before is over. */
  wrote?(): void;
}

/** After a failed pass (queue unreachable), the next try. */
const RETRY_MS = 1000;
/** Scheduling passes per tick: bounds the work whatever the queue length. */
const MAX_STARTS_PER_TICK = 64;
/** Later jobs a claim may fall through to: more than the workers that can free at once is waste. */
const MAX_ALTERNATIVES = 32;

/** Why a job is left queued; `fix`: only a fix of its nodes places it. */
interface Left {
  reason: string;
  fix?: WaitsForFix;
}

/** A job only a fix of its nodes places: whose fault (the user's, a config error; a machine's), and the nodes down, in words. */
export interface WaitsForFix {
  failure: 'config' | 'infrastructure';
  nodes: string;
}

export class Scheduler {
  private running?: Promise<void>;
  private again = false;
  private readonly waitingSince = new Map<string, number>();
  /**
   * Jobs left queued, with why: for other engines (see othersMayRun), until a disabled node is
   * enabled, or until a node is fixed (see waitForFix). Said once, not on every pass; views show
   * why they wait.
   */
  private readonly left = new Map<string, Left>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Job ends handing their nodes on (see finish): stop() waits for them as for a pass. */
  private readonly handovers = new Set<Promise<void>>();
  /** The jobs each claim in flight may take. */
  private readonly inFlight = new Set<readonly string[]>();

  constructor(private readonly deps: SchedulerDeps) {}

  /** Run a scheduling pass soon; passes never overlap, and a request during one runs one more. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          if (await this.pass()) this.deps.wrote?.();
        } while (this.again);
      } catch (e) {
        // The queue could not be written (a shared queue offline, the journal's disk): try again shortly.
        this.deps.failed?.(e);
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.kick(), RETRY_MS);
        this.timer.unref();
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Whether this engine leaves the (queued) job to others: its nodes cannot fit it. */
  leaves(id: string): boolean {
    return this.left.has(id);
  }

  /** Why a job this engine leaves queued waits, as it was told. */
  waitReason(id: string): string | undefined {
    return this.left.get(id)?.reason;
  }

  /** Whose fix a job left queued waits for (see waitForFix): none when it waits for nothing a person must mend here. */
  waitsForFix(id: string): WaitsForFix | undefined {
    return this.left.get(id)?.fix;
  }

  /**
   * Whether a claim of this engine for the job is in flight: the queue may show the job running
   * (a shared queue's change, read on another connection) before the claim's reply says whose
   * run it is. deps.claimed tells when it is known, the job started if it was this claim's.
   */
  claiming(id: string): boolean {
    for (const ids of this.inFlight) if (ids.includes(id)) return true;
    return false;
  }

  /** True from the start of a pass to its end: a job may be claimed and not yet started. */
  get passing(): boolean {
    return this.running !== undefined;
  }

  /**
   * No more passes; resolves when the one in flight ends, so a job it claims is started (and
   * can be stopped) before the caller goes on.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([this.running, ...this.handovers]);
  }

  /**
   * Record a job's end; the nodes it frees go to the oldest queued job they serve in the same
   * call (team mode), started at once rather than once the end is read back and a pass claims:
   * the node waits for no second round trip (with 30 workers on 2 cores, nor for its turn on them).
   */
  finish(id: string, claim: string, nodes: NodeConfig[], outcome: JobOutcome): Promise<void> {
    const p = this.handOver(id, claim, nodes, outcome);
    this.handovers.add(p);
    return p.finally(() => this.handovers.delete(p));
  }

  private async handOver(id: string, claim: string, nodes: NodeConfig[], outcome: JobOutcome): Promise<void> {
    const { queue, pool } = this.deps;
    // A busy worker has read nothing since its claim: what was queued meanwhile is offered too.
    if (!this.stopped) await queue.sync();
    const usable = !this.stopped && nodes.every((n) => pool.isEnabled(n.name) && pool.isUp(n.name));
    const next = usable ? queue.queued().filter((j) => j.id !== id && this.serves(j, nodes)).slice(0, MAX_ALTERNATIVES + 1) : [];
    await this.claim(next, nodes, (ids) => queue.finishAndClaim(id, claim, outcome, ids, claimsOf(nodes)));
  }

  /** A claim of one of `jobs` for `nodes`, in flight (see claiming) until the job it took is started there. */
  private async claim(jobs: readonly Readonly<Job>[], nodes: NodeConfig[], claim: (ids: readonly string[]) => Promise<Claimed | undefined>): Promise<Claimed | undefined> {
    const ids = jobs.map((j) => j.id);
    this.inFlight.add(ids);
    try {
      const got = await claim(ids);
      if (got) this.deps.start(jobs.find((j) => j.id === got.id)!, got.claim, nodes);
      return got;
    } finally {
      this.inFlight.delete(ids);
      this.deps.claimed?.(ids);
    }
  }

  private leave(job: Readonly<Job>, reason: string, fix?: Left['fix']): void {
    this.left.set(job.id, { reason, fix });
    this.deps.leave?.(job, reason, fix);
  }

  /**
   * A job only a fix can place, on an engine that lives on (no deadline): failing it would lose it
   * to a key the user may mend in a minute, so it stays queued, saying what to fix, and starts
   * once a probe finds its nodes up (a key file or known_hosts mended, or the nodes file, read
   * again before each probe). The environment is read at start: its fix needs the process
   * started again, the job still queued. Said again only when the reason changes. Not this
   * engine's to answer for (no `fix`) where another worker of the team may run it.
   */
  private waitForFix(job: Readonly<Job>, before: Left | undefined): void {
    const { pool } = this.deps;
    const tagged = new Set(pool.tagged(job.nodeTags).map((n) => n.name));
    const broken = pool.list().filter((n) => tagged.has(n.name) && n.health === 'down' && (n.mistake || n.untrusted));
    const names = broken.map((n) => n.name).join(', ');
    const states = broken.map((n) => `${n.name} is down (${n.error}${n.hint ? `; ${n.hint}` : ''})`).join('; ');
    const them = broken.length > 1 ? 'them' : 'it';
    const nodes = `needs ${job.nodes} node${job.nodes > 1 ? 's' : ''} and ${states}`;
    const reason = `${nodes}: no wait brings ${them} up, a fix does; the job starts once a probe finds ${names} up (the nodes file is read again before each probe; the environment at start: a fix there needs a restart)`;
    if (before?.reason === reason) return void this.left.set(job.id, before);
    this.leave(job, reason, this.deps.othersMayRun?.(job) ? undefined : { failure: this.downByMistake(job) ? 'config' : 'infrastructure', nodes });
    // In the job's own output too, where its earlier 'waits for 1 free node: box unknown' stood.
    this.deps.waits?.(job, reason);
  }

  /** What a job waits for: its count of free nodes, and each node it may run on with why it is not free now. */
  private freeNodesWanted(job: Readonly<Job>): string {
    const { pool } = this.deps;
    const tagged = pool.tagged(job.nodeTags);
    const noSftp = (n: NodeView) => n.health === 'up' && n.sftp === false && job.files !== false;
    const state = (n: NodeView) => (!n.enabled ? 'disabled' : noSftp(n) ? 'up without SFTP, which this job needs' : n.health === 'up' ? `busy ${n.running}/${n.maxJobs}` : n.health);
    const states = pool.list().filter((n) => tagged.some((e) => e.name === n.name)).map((n) => `${n.name} ${state(n)}${n.error ? ` (${n.error}${n.hint ? `; ${n.hint}` : ''})` : ''}`);
    return `${job.nodes} free node${job.nodes > 1 ? 's' : ''}: ${states.join('; ')}`;
  }

  /** Whether a node the job may run on is down for the user's mistake (its key), not the machine's. */
  private downByMistake(job: Readonly<Job>): boolean {
    const { pool } = this.deps;
    const tagged = new Set(pool.eligible(job.nodeTags).map((n) => n.name));
    return pool.list().some((n) => tagged.has(n.name) && n.health === 'down' && n.mistake);
  }

  /**
   * Whether waiting cannot place the job: too few of the nodes it may run on (a disabled one may
   * be enabled) are left once those down for the user's mistake or for a host key not to trust
   * are set aside. Only a fix (of the nodes file, the environment, known_hosts after a person
   * looked) helps; a node down for the network may come back.
   */
  private hopeless(job: Readonly<Job>): boolean {
    const { pool } = this.deps;
    const tagged = new Set(pool.tagged(job.nodeTags).map((n) => n.name));
    return pool.list().filter((n) => tagged.has(n.name) && !(n.health === 'down' && (n.mistake || n.untrusted))).length < job.nodes;
  }

  /** Whether a job is still queued, may run here and fits exactly these nodes. */
  private serves(j: Readonly<Job>, nodes: NodeConfig[]): boolean {
    return (
      this.deps.queue.get(j.id)?.status === 'queued' &&
      this.deps.mayRun(j) &&
      j.nodes === nodes.length &&
      nodes.every((n) => j.nodeTags.every((t) => n.tags.includes(t)) && (j.files === false || this.deps.pool.hasSftp(n.name)))
    );
  }

  /** One pass; true when it wrote to the queue. */
  private async pass(): Promise<boolean> {
    const { queue, pool } = this.deps;
    let started = 0;
    let wrote = false;
    let earliestDeadline = Infinity;
    const jobs = queue.queued();
    // Only queued jobs are walked: forget the waits of those taken or ended since.
    for (const id of this.waitingSince.keys()) if (queue.get(id)?.status !== 'queued') this.waitingSince.delete(id);
    for (const id of this.left.keys()) if (queue.get(id)?.status !== 'queued') this.left.delete(id);
    // Within a pass nodes only get busier: a shape (node count, tags) that found no free nodes
    // finds none for the next job either. A backlog costs one pick per shape, not one per job.
    const full = new Set<string>();
    const eligibleCount = new Map<string, number>();
    for (const [i, job] of jobs.entries()) {
      if (started >= MAX_STARTS_PER_TICK || this.stopped) break;
      // Fresh: a claim earlier in this pass may have taken it.
      if (queue.get(job.id)?.status !== 'queued' || !this.deps.mayRun(job)) {
        this.waitingSince.delete(job.id);
        continue;
      }
      const tagsKey = job.nodeTags.join(',');
      if (!eligibleCount.has(tagsKey)) eligibleCount.set(tagsKey, pool.eligible(job.nodeTags).length);
      const disabledOnly = eligibleCount.get(tagsKey)! < job.nodes && pool.tagged(job.nodeTags).length >= job.nodes;
      if (disabledOnly && !this.left.has(job.id)) {
        const off = pool.tagged(job.nodeTags).filter((n) => !pool.isEnabled(n.name)).map((n) => n.name);
        this.leave(job, `needs ${job.nodes} node${job.nodes > 1 ? 's' : ''} and ${off.join(', ')} ${off.length > 1 ? 'are' : 'is'} disabled (marteau-tui nodes --enable ${off[0]})`);
      }
      if (eligibleCount.get(tagsKey)! < job.nodes && !disabledOnly) {
        const eligible = pool.eligible(job.nodeTags);
        const tags = job.nodeTags.length ? ` with tags ${job.nodeTags.join(', ')}` : '';
        const needs = `needs ${job.nodes} node${job.nodes > 1 ? 's' : ''}${tags}`;
        // A team's other workers may have such nodes: failing it here would take it from them
        // (and a wake-up is passed on only while the job is still queued).
        if (this.deps.othersMayRun?.(job)) {
          if (!this.left.has(job.id)) this.leave(job, `${needs}; this worker's nodes (${pool.config.file}) have ${eligible.length ? `only ${eligible.length} enabled` : 'none enabled'}`);
          continue;
        }
        await this.deps.unplaceable(job, `${needs} but only ${eligible.length} ${eligible.length === 1 ? 'is' : 'are'} enabled (${pool.config.file})`, 'infrastructure');
        wrote = true;
        continue;
      }
      // It fits now (a node enabled or tagged since): said again should it stop fitting.
      const wasLeft = this.left.get(job.id);
      if (!disabledOnly) this.left.delete(job.id);
      const shape = `${job.nodes} ${tagsKey} ${job.files !== false}`;
      const nodes = full.has(shape) ? undefined : pool.pick(job.nodes, job.nodeTags, job.files !== false);
      if (!nodes) {
        full.add(shape);
        // Only a fix can place it: with no deadline, it stays queued saying what to fix (one
        // waiting for a disabled node says that first).
        if (!disabledOnly && this.deps.nodeWaitMs === undefined && this.hopeless(job)) {
          this.waitingSince.delete(job.id);
          this.waitForFix(job, wasLeft);
          continue;
        }
        // A job that would fail at its deadline anyway fails now.
        if (this.deps.nodeWaitMs !== undefined && this.hopeless(job)) {
          this.waitingSince.delete(job.id);
          const noUse = `no use waiting for ${this.freeNodesWanted(job)}`;
          // The user's mistake where there is one (exit 2), else the machines' (a changed host key: 3).
          if (this.downByMistake(job)) await this.deps.unplaceable(job, `${pool.config.file}: ${noUse}`, 'config');
          else await this.deps.unplaceable(job, noUse, 'infrastructure');
          wrote = true;
          continue;
        }
        const since = this.waitingSince.get(job.id) ?? Date.now();
        if (!this.waitingSince.has(job.id)) this.deps.waits?.(job, `waits for ${this.freeNodesWanted(job)}`);
        this.waitingSince.set(job.id, since);
        if (this.deps.nodeWaitMs !== undefined) {
          const deadline = since + this.deps.nodeWaitMs;
          if (Date.now() >= deadline) {
            this.waitingSince.delete(job.id);
            // A node down for its key will not come up by waiting: the nodes file (or the environment) is to fix.
            const mistake = this.downByMistake(job);
            const waited = `waited ${Math.round(this.deps.nodeWaitMs / 1000)}s for ${this.freeNodesWanted(job)}`;
            await this.deps.unplaceable(job, mistake ? `${pool.config.file}: ${waited}` : waited, mistake ? 'config' : 'infrastructure');
            wrote = true;
          } else {
            earliestDeadline = Math.min(earliestDeadline, deadline);
          }
        }
        continue;
      }
      // Should another worker take this job first, the claim falls through to the next one these
      // nodes serve, in the same round trip: workers freed together never lose to each other in turn.
      const candidates = [job, ...jobs.slice(i + 1).filter((j) => this.serves(j, nodes)).slice(0, MAX_ALTERNATIVES)];
      const got = await this.claim(candidates, nodes, (ids) => queue.claimFirst(ids, claimsOf(nodes)));
      wrote = true;
      this.waitingSince.delete(job.id);
      // None: others took these jobs, or the nodes, first.
      if (got) started++;
    }
    // All nodes taken: nothing here can start until one frees, which runs a pass again.
    if (this.deps.reportBusy) queue.setBusy?.(!pool.pick(1, [], false));
    // Wake up for the next wait deadline even if nothing else happens.
    clearTimeout(this.timer);
    if (earliestDeadline !== Infinity) {
      this.timer = setTimeout(() => void this.kick(), Math.max(10, earliestDeadline - Date.now() + 5));
      this.timer.unref();
    }
    return wrote;
  }
}

/** The job a claim took, and its claim. */
interface Claimed {
  id: string;
  claim: string;
}

/** What a claim takes of each node: its name and how many jobs it may run. */
function claimsOf(nodes: readonly NodeConfig[]): NodeClaim[] {
  return nodes.map((n) => ({ name: n.name, max: n.maxJobs }));
}
