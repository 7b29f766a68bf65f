/**
 * Team mode: the queue on Redis, for many terminals and workers on many machines.
 *
 * The records that make the queue are the journal's, appended to one Redis stream (XADD gives a
 * single order every reader sees), and folded by the same LogQueue code: a claim race is decided
 * by the first valid claim in the stream, and a gate (redis-log.ts) keeps a claimed job from
 * getting more claims, so the stream grows with the jobs, not with the workers. Each node name
 * belongs to one live worker. What a shared state dir gives the journal for free is added here:
 *   - heartbeats: each process refreshes a key with a TTL; a running job whose owner's key is gone
 *     is interrupted (or requeued) by whichever process notices first (the fold keeps only one);
 *   - each job's files (config snapshot, `chaos:` file, seed), for engines on other machines;
 *   - live output (a capped stream) and proxy counters of the jobs each process runs.
 * BullMQ is not used: its workers pull the next job into a fixed concurrency, while our scheduler
 * picks which queued job fits which free nodes across all workers, and cancel/retry/history are
 * already the fold's; its stall detection is the TTL key below.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { currentOwner, isOwnerAlive, type Owner } from './owner.js';
import { isTerminal } from './jobs.js';
import { LogQueue, QueueError, type LostJobs, type Presence, type SharedLine } from './queue.js';
import type { QueueUrl } from './queue-url.js';
import { clientOptions, fieldMap, guard, makeKeys, offline, ownerKey, parseOwnerKey, selectDatabase, type Keys } from './redis-client.js';
import { TeamChaos } from './redis-chaos.js';
import { TeamPresence } from './redis-presence.js';
import { RedisLog } from './redis-log.js';
import { NODES_LUA, NODES_RELEASE_LUA } from './redis-scripts.js';

export { QueueOfflineError } from './redis-client.js';

export interface RedisQueueOptions {
  url: QueueUrl;
  owner?: Owner;
  lostJobs?: LostJobs;
  /** How long an engine that stopped beating still counts as alive (default 5 s). */
  heartbeatTtlMs?: number;
  /** This engine's jobs directory: claims name it, so `queue` elsewhere says where results are. */
  resultsRoot?: string;
  /** Finished jobs kept in the stream (default 1000); older ones are trimmed away. */
  keepFinished?: number;
  /** Key prefix (default `marteau:`), for several teams on one Redis. */
  prefix?: string;
  /**
   * Read the other processes' presence (default true). A worker shows nobody's nodes or proxies:
   * 30 workers each fetching and parsing 30 presences every second is CPU their jobs need.
   */
  readPresence?: boolean;
}

/** Two workers gave a node the same name: they would share its `max_jobs` and its reservations. */
export class NodeNameError extends QueueError {
  constructor(message: string) {
    super(message);
    this.name = 'NodeNameError';
  }
}

export const DEFAULT_HEARTBEAT_TTL_MS = 5000;
export const DEFAULT_KEEP_FINISHED = 1000;
/** Live output kept in Redis for late readers: about this many lines, all jobs together. */
const OUTPUT_MAXLEN = 10_000;
/** How often some process trims the stream (one at a time, under a lock). */
const TRIM_EVERY_MS = 60_000;
/** A purge record outlives the jobs it names this long: any reader that had them has read it. */
const PURGE_RECORD_TTL_MS = 60 * 60_000;

export class RedisQueue extends LogQueue {
  readonly label: string;
  private readonly url: QueueUrl;
  private readonly cmd: Redis;
  private readonly ttl: number;
  private readonly keys: Keys;
  private readonly me: string;
  private beat?: NodeJS.Timeout;
  private reaping = false;
  private beating = false;
  private lineListeners = new Set<(jobId: string, line: SharedLine) => void>();
  private lastError?: Error;
  private readonly stream: RedisLog;
  private readonly keepFinished: number;
  private readonly readPresence: boolean;
  private lastTrim = 0;
  private lastBeat = 0;
  private nodeNames: string[] = [];
  private readonly presence: TeamPresence;
  private pendingLines: [string, string][] = [];
  readonly chaos: TeamChaos;

  constructor(o: RedisQueueOptions) {
    // Each connection is its own owner: two queues in one process (tests, benchmarks, an
    // embedding app) must not free each other's heartbeat nor swallow each other's output.
    const owner = o.owner ?? { ...currentOwner(), session: randomBytes(4).toString('hex') };
    const keys = makeKeys(o.prefix ?? 'marteau:');
    const cmd: Redis = new (ioredis().Redis)(o.url.url, clientOptions());
    const log = new RedisLog(cmd, keys, o.url.masked, ownerKey(owner));
    super(log, owner, o.lostJobs, o.resultsRoot);
    this.stream = log;
    this.keepFinished = o.keepFinished ?? DEFAULT_KEEP_FINISHED;
    this.readPresence = o.readPresence ?? true;
    log.onOutput = (entries) => this.onOutput(entries);
    log.wantsOutput = () => this.lineListeners.size > 0;
    this.cmd = cmd;
    this.keys = keys;
    this.label = o.url.masked;
    this.url = o.url;
    this.ttl = o.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
    this.me = ownerKey(owner);
    this.presence = new TeamPresence(cmd, keys, this.me);
    this.chaos = new TeamChaos(cmd, keys, o.url.masked, this.me, owner);
    log.onChaos = (r, to) => this.chaos.onRecord(r, to);
    // ioredis reconnects by itself; without a listener it would print every failure to stderr.
    cmd.on('error', (e: Error) => {
      // The telling error stays (a protocol error, a refused login): the closed connection that
      // follows it says nothing more, and open() reports the error of the attempt.
      const closed = (x: Error) => /writeable|Connection is closed/i.test(x.message);
      if (!(closed(e) && this.lastError && !closed(this.lastError))) this.lastError = e;
    });
    cmd.on('close', () => this.notify());
    cmd.on('ready', () => {
      // Our lease first, before any record we append now can start a job here (a job of ours
      // requeued while Redis was away): started on a lapsed lease, the watchdog would kill it.
      if (this.beat) void this.heartbeat().catch(() => {});
      // Redis may have restarted without our presence: write it again.
      this.presence.forget();
      this.notify();
      void this.sync().catch(() => {});
    });
  }

  override async open(): Promise<void> {
    try {
      await this.cmd.connect();
    } catch (e) {
      this.cmd.disconnect();
      // The rejection only says the connection closed; the error event said why.
      throw offline(this.label, this.lastError ?? e);
    }
    await selectDatabase(this.cmd, this.url, this.label);
    await super.open();
    await this.heartbeat();
    // The team's nodes at once, not from the first tick on: a one-shot `nodes --queue` shows the
    // workers' nodes, and can switch them, too.
    if (this.readPresence) await this.fetchPresence().catch(() => {});
    this.beat = setInterval(() => void this.tick(), this.tickMs);
    this.beat.unref();
  }

  override async close(): Promise<void> {
    clearInterval(this.beat);
    this.beat = undefined;
    // A clean exit frees its heartbeat at once: nothing of ours is running any more.
    if (this.online()) {
      const m = this.cmd.multi().del(this.keys.alive(this.me)).hdel(this.keys.presence, this.me);
      if (this.nodeNames.length) m.eval(NODES_RELEASE_LUA, 1, this.keys.nodes, this.me, ...this.nodeNames);
      await m.exec().catch(() => {});
    }
    await super.close();
    this.cmd.disconnect();
  }

  /**
   * Take this worker's node names for the team: a name another live worker runs is refused (two
   * workers' `local` are two machines, but would share one `max_jobs` and one set of jobs). A
   * holder on this host whose process is gone is taken over at once, without waiting for its TTL.
   */
  async claimNodeNames(names: readonly string[]): Promise<void> {
    const held = await guard(this.label, this.cmd.hgetall(this.keys.nodes));
    for (const name of names) {
      const holder = held[name];
      if (!holder || holder === this.me) continue;
      const alive = isOwnerAlive(parseOwnerKey(holder));
      if (alive === false) await guard(this.label, this.cmd.hdel(this.keys.nodes, name));
      // A holder on this host that is running keeps its names even when its heartbeat lapsed (a
      // process stalled past the TTL on a loaded machine): the script below would take them.
      else if (alive === true) throw this.nameTaken(name, holder);
    }
    const taken = (await guard(this.label, this.cmd.eval(NODES_LUA, 1, this.keys.nodes, this.me, this.keys.alive(''), ...names))) as string[];
    if (taken.length) throw this.nameTaken(taken[0], taken[1]);
    // Added to those held: a name dropped from the file stays held until released (its job may run).
    this.nodeNames = [...new Set([...this.nodeNames, ...names])];
  }

  async releaseNodeNames(names: readonly string[]): Promise<void> {
    await guard(this.label, this.cmd.eval(NODES_RELEASE_LUA, 1, this.keys.nodes, this.me, ...names));
    this.nodeNames = this.nodeNames.filter((n) => !names.includes(n));
  }

  private nameTaken(name: string, holder: string): NodeNameError {
    const o = parseOwnerKey(holder);
    return new NodeNameError(
      `node "${name}" is already run by another worker on ${this.label} (pid ${o.pid} on ${o.host}): on a shared queue every worker's nodes need names of their own. ` +
        `Give this worker a nodes file naming its nodes after its machine (e.g. ${JSON.stringify(`${currentOwner().host}-${name}`)} instead of ${JSON.stringify(name)}) with --nodes FILE or $MARTEAU_NODES`,
    );
  }

  /** Remove the finished jobs that ended before `endedBefore` (ms) from the shared history; returns how many. */
  async purge(endedBefore: number): Promise<number> {
    await this.sync();
    const ids = this.list().filter((j) => isTerminal(j.status) && (j.endedAt ?? 0) <= endedBefore).map((j) => j.id);
    const n = await this.stream.trim(ids, Date.now(), PURGE_RECORD_TTL_MS);
    await this.sync();
    return n;
  }

  /** Keep the newest `keepFinished` finished jobs in the stream; one process at a time does it. */
  private async trim(): Promise<void> {
    if (Date.now() - this.lastTrim < TRIM_EVERY_MS) return;
    this.lastTrim = Date.now();
    const finished = this.list().filter((j) => isTerminal(j.status));
    if (finished.length <= this.keepFinished) return;
    if ((await this.cmd.set(this.keys.trimLock, this.me, 'PX', TRIM_EVERY_MS, 'NX')) !== 'OK') return;
    const old = [...finished].sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0)).slice(0, finished.length - this.keepFinished);
    await this.stream.trim(old.map((j) => j.id), Date.now(), PURGE_RECORD_TTL_MS);
  }

  lease(): { lastBeat: number; ttlMs: number } {
    return { lastBeat: this.lastBeat, ttlMs: this.ttl };
  }

  online(): boolean {
    return this.cmd.status === 'ready';
  }

  /** How long a dead engine's jobs may stay `running` before someone notices (README). */
  get lostAfterMs(): number {
    return this.ttl + Math.floor(this.ttl / 5);
  }

  async storeJobFile(id: string, name: string, text: string): Promise<void> {
    await guard(this.label, this.cmd.hset(this.keys.files(id), name, text));
  }

  async loadJobFile(id: string, name: string): Promise<string | undefined> {
    return (await guard(this.label, this.cmd.hget(this.keys.files(id), name))) ?? undefined;
  }

  async loadJobFiles(id: string): Promise<Record<string, string>> {
    return guard(this.label, this.cmd.hgetall(this.keys.files(id)));
  }

  /**
   * Fire and forget, in order (one connection): output must never slow or fail the job. The
   * lines of one tick go in one pipeline, so Redis writes (and with `appendfsync always`, syncs)
   * them once rather than once per line.
   */
  publishLine(jobId: string, line: SharedLine): void {
    this.pendingLines.push([jobId, JSON.stringify(line)]);
    if (this.pendingLines.length > 1) return;
    setImmediate(() => {
      const p = this.cmd.pipeline();
      for (const [id, text] of this.pendingLines.splice(0)) p.xadd(this.keys.output, 'MAXLEN', '~', OUTPUT_MAXLEN, '*', 'j', id, 'o', this.me, 'l', text);
      void p.exec().catch(() => {});
    });
  }

  onLine(listener: (jobId: string, line: SharedLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  publishPresence(p: Presence): void {
    this.presence.publish(p);
  }

  remotePresence(): Presence {
    return this.presence.remote;
  }

  protected override async liveness(): Promise<(o: Owner) => boolean | undefined> {
    // Right after a Redis restart every heartbeat may have expired while it was down: give the
    // live engines one TTL to beat again before judging anyone.
    const info = await guard(this.label, this.cmd.info('server'));
    const uptimeMs = Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? 0) * 1000;
    if (uptimeMs < this.ttl * 2) return () => undefined;
    const owners = new Map<string, Owner>();
    for (const j of this.list()) {
      if (j.status === 'running' && j.owner) owners.set(ownerKey(j.owner), j.owner);
      if (j.status === 'queued' && j.origin === 'ci') owners.set(ownerKey(j.enqueuedBy), j.enqueuedBy);
    }
    const names = [...owners.keys()];
    const found = names.length ? await guard(this.label, this.cmd.mget(names.map((k) => this.keys.alive(k)))) : [];
    const alive = new Map(names.map((k, i) => [k, found[i] !== null]));
    return (o) => alive.get(ownerKey(o));
  }

  /** Renew our heartbeat key; with `lock`, also try for this tick's check, in the same round trip. Returns whether we got it. */
  private async heartbeat(lock = false): Promise<boolean> {
    const at = Date.now();
    const m = this.cmd.pipeline().set(this.keys.alive(this.me), String(at), 'PX', this.ttl);
    // Held a little less than a tick: whoever ticks first next time takes it again.
    if (lock) m.set(this.keys.reapLock, this.me, 'PX', Math.floor(this.tickMs * 0.8), 'NX');
    const [[beatError], got] = (await m.exec()) ?? [[new Error('pipeline discarded')]];
    if (beatError) throw beatError;
    this.lastBeat = at;
    return got?.[1] === 'OK';
  }

  /**
   * Beat; then one process per tick for the whole team (the lock's taker) notices dead engines and
   * wakes a worker for a job left waiting (30 workers each doing it was 30 times the same reads
   * and folds a second); refresh others' proxy counters. The beat never waits behind the rest (a
   * live engine would be judged dead); one still on its way means Redis is that slow: skip.
   */
  private async tick(): Promise<void> {
    if (!this.online() || this.beating) return;
    this.beating = true;
    const round = !this.reaping;
    let mine = false;
    try {
      mine = await this.heartbeat(round);
    } catch {
      return; // offline meanwhile: the next tick tries again
    } finally {
      this.beating = false;
    }
    if (!round) return;
    this.reaping = true;
    try {
      if (mine) {
        await this.recoverInterrupted();
        await this.rewake();
      } else if (this.unsettled) await this.sync();
      if (this.readPresence) await this.fetchPresence();
      await this.trim();
    } catch {
      // offline meanwhile: the next tick tries again
    } finally {
      this.reaping = false;
    }
  }

  private get tickMs(): number {
    return Math.max(100, Math.floor(this.ttl / 5));
  }

  /**
   * Free workers read the log only when woken: for a lost wake-up (its worker killed, Redis
   * restarted), a job queued over a tick gets one when none is pending. One suffices: the woken
   * worker's pass looks at every queued job.
   */
  private async rewake(): Promise<void> {
    const waiting = this.list().find((j) => j.status === 'queued' && j.origin !== 'ci' && Date.now() - j.enqueuedAt > this.tickMs);
    if (waiting) await this.stream.wakeIfNone(waiting.id);
  }

  private async fetchPresence(): Promise<void> {
    if (await this.presence.fetch()) this.notify();
  }

  private onOutput(entries: [string, string[]][]): void {
    for (const [, fields] of entries) {
      const f = fieldMap(fields);
      if (f.o === this.me || !f.j || !f.l) continue;
      let line: SharedLine;
      try {
        line = JSON.parse(f.l) as SharedLine;
      } catch {
        continue;
      }
      for (const l of [...this.lineListeners]) l(f.j, line);
    }
  }
}

/**
 * ioredis (CommonJS) when a team queue is made, not when this module loads: the engine imports
 * this module, and commands on the journal queue should not pay for a Redis client.
 */
function ioredis(): typeof import('ioredis') {
  return createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
}
