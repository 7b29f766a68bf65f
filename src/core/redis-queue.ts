/**
 * Team mode: the queue on Redis, for many terminals and workers on many machines.
 *
 * The records that make the queue are the journal's, appended to one Redis stream (XADD gives a
 * single order every reader sees), and folded by the same LogQueue code: a claim race is decided
 * by the first valid claim in the stream, so no node ever takes more than its `max` jobs however
 * many workers race. What a shared state dir gives the journal for free is added here:
 *   - heartbeats: each process refreshes a key with a TTL; a running job whose owner's key is gone
 *     is interrupted (or requeued) by whichever process notices first (the fold keeps only one);
 *   - each job's files (config snapshot, `chaos:` file, seed), for engines on other machines;
 *   - live output (a capped stream) and proxy counters of the jobs each process runs.
 * BullMQ is not used: its workers pull the next job into a fixed concurrency, while our scheduler
 * picks which queued job fits which free nodes across all workers, and cancel/retry/history are
 * already the fold's; its stall detection is the TTL key below.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { currentOwner, type Owner } from './owner.js';
import type { JournalRecord } from './jobs.js';
import { LogQueue, QueueError, type LostJobs, type Presence, type RecordLog, type SharedLine } from './queue.js';
import { QueueUrlError, type QueueUrl } from './queue-url.js';

export interface RedisQueueOptions {
  url: QueueUrl;
  owner?: Owner;
  lostJobs?: LostJobs;
  /** How long an engine that stopped beating still counts as alive (default 5 s). */
  heartbeatTtlMs?: number;
  /** This engine's jobs directory: claims name it, so `queue` elsewhere says where results are. */
  resultsRoot?: string;
  /** Key prefix (default `marteau:`), for several teams on one Redis. */
  prefix?: string;
}

/** Redis cannot be reached: CLI calls exit 3 with this (URL masked); views show "queue offline". */
export class QueueOfflineError extends QueueError {
  constructor(message: string) {
    super(message);
    this.name = 'QueueOfflineError';
  }
}

export const DEFAULT_HEARTBEAT_TTL_MS = 5000;
/** Live output kept in Redis for late readers: about this many lines, all jobs together. */
const OUTPUT_MAXLEN = 10_000;
const READ_BATCH = 1000;
const BLOCK_MS = 2000;

export class RedisQueue extends LogQueue {
  readonly label: string;
  private readonly url: QueueUrl;
  private readonly cmd: Redis;
  private readonly ttl: number;
  private readonly keys: Keys;
  private readonly me: string;
  private beat?: NodeJS.Timeout;
  private reaping = false;
  private lineListeners = new Set<(jobId: string, line: SharedLine) => void>();
  private remote: Presence = { nodes: [], proxies: [] };
  private lastError?: Error;

  constructor(o: RedisQueueOptions) {
    // Each connection is its own owner: two queues in one process (tests, benchmarks, an
    // embedding app) must not free each other's heartbeat nor swallow each other's output.
    const owner = o.owner ?? { ...currentOwner(), session: randomBytes(4).toString('hex') };
    const keys = makeKeys(o.prefix ?? 'marteau:');
    const cmd = new Redis(o.url.url, clientOptions());
    const log = new RedisLog(cmd, keys, o.url.masked);
    super(log, owner, o.lostJobs, o.resultsRoot);
    log.onOutput = (entries) => this.onOutput(entries);
    this.cmd = cmd;
    this.keys = keys;
    this.label = o.url.masked;
    this.url = o.url;
    this.ttl = o.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
    this.me = ownerKey(owner);
    // ioredis reconnects by itself; without a listener it would print every failure to stderr.
    cmd.on('error', (e: Error) => {
      this.lastError = e;
    });
    cmd.on('close', () => this.notify());
    cmd.on('ready', () => {
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
    await this.checkDatabase();
    await super.open();
    await this.heartbeat();
    this.beat = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.ttl / 5)));
    this.beat.unref();
  }

  override async close(): Promise<void> {
    clearInterval(this.beat);
    this.beat = undefined;
    // A clean exit frees its heartbeat at once: nothing of ours is running any more.
    if (this.online()) await this.cmd.multi().del(this.keys.alive(this.me)).hdel(this.keys.presence, this.me).exec().catch(() => {});
    await super.close();
    this.cmd.disconnect();
  }

  /**
   * ioredis reports a SELECT that Redis refused only as an `error` event and goes on in db 0:
   * a team giving /16 would share db 0 with whoever else uses it, unknowingly.
   */
  private async checkDatabase(): Promise<void> {
    const db = Number(new URL(this.url.url).pathname.slice(1) || 0);
    try {
      await guard(this.label, this.cmd.select(db));
    } catch (e) {
      if (!/out of range/i.test((e as Error).message)) throw e;
      this.cmd.disconnect();
      const count = await this.databaseCount();
      throw new QueueUrlError(
        `${this.label}: database ${db} does not exist on this Redis${count ? ` (it has ${count}: 0 to ${count - 1})` : ''}; give a database number in range, or raise \`databases\` in redis.conf`,
      );
    }
  }

  private async databaseCount(): Promise<number | undefined> {
    const probe = this.cmd.duplicate({ ...clientOptions(), lazyConnect: false, db: 0 });
    probe.on('error', () => {});
    try {
      const [, n] = (await probe.config('GET', 'databases')) as string[];
      return Number(n) || undefined;
    } catch {
      return undefined; // CONFIG may be renamed or forbidden: the message goes without the count
    } finally {
      probe.disconnect();
    }
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

  publishLine(jobId: string, line: SharedLine): void {
    // Fire and forget, in order (one connection): output must never slow or fail the job.
    void this.cmd.xadd(this.keys.output, 'MAXLEN', '~', OUTPUT_MAXLEN, '*', 'j', jobId, 'o', this.me, 'l', JSON.stringify(line)).catch(() => {});
  }

  onLine(listener: (jobId: string, line: SharedLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  publishPresence(p: Presence): void {
    void this.cmd.hset(this.keys.presence, this.me, JSON.stringify({ at: Date.now(), ...p })).catch(() => {});
  }

  remotePresence(): Presence {
    return this.remote;
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

  private async heartbeat(): Promise<void> {
    await this.cmd.set(this.keys.alive(this.me), String(Date.now()), 'PX', this.ttl);
  }

  /** Beat, notice dead engines, refresh the other processes' proxy counters; offline: wait. */
  private async tick(): Promise<void> {
    if (!this.online() || this.reaping) return;
    this.reaping = true;
    try {
      await this.heartbeat();
      await this.recoverInterrupted();
      await this.fetchPresence();
    } catch {
      // offline meanwhile: the next tick tries again
    } finally {
      this.reaping = false;
    }
  }

  /** The other processes' presence; a stale entry (its process died) is dropped. */
  private async fetchPresence(): Promise<void> {
    const all = await this.cmd.hgetall(this.keys.presence);
    const fresh: Presence = { nodes: [], proxies: [] };
    for (const [who, value] of Object.entries(all).sort(([a], [b]) => a.localeCompare(b))) {
      if (who === this.me) continue;
      try {
        const p = JSON.parse(value) as Presence & { at: number };
        if (Date.now() - p.at >= this.ttl) throw new Error('stale');
        // A node shared by name between workers is listed once.
        fresh.nodes.push(...p.nodes.filter((n) => !fresh.nodes.some((m) => m.name === n.name)));
        fresh.proxies.push(...p.proxies);
      } catch {
        void this.cmd.hdel(this.keys.presence, who).catch(() => {});
      }
    }
    const changed = JSON.stringify(fresh) !== JSON.stringify(this.remote);
    this.remote = fresh;
    if (changed) this.notify();
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

interface Keys {
  log: string;
  output: string;
  presence: string;
  files(id: string): string;
  alive(owner: string): string;
}

function makeKeys(p: string): Keys {
  return {
    log: `${p}log`,
    output: `${p}output`,
    presence: `${p}presence`,
    files: (id) => `${p}files:${id}`,
    alive: (owner) => `${p}alive:${owner}`,
  };
}

/** The queue's records in one Redis stream. */
class RedisLog implements RecordLog {
  private lastId = '0-0';
  /** Entries read in the same round trip as an append; `readNew` takes them first. */
  private prefetched: [string, string[]][] = [];
  private prefetchedToEnd = false;

  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly label: string,
  ) {}

  /** Gets the output lines the watch loop reads (set by the queue). */
  onOutput: (entries: [string, string[]][]) => void = () => {};

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  /**
   * The queue reads right after each append (up to its own record, which decides a claim): the
   * read goes in the same MULTI, one round trip instead of two.
   */
  async append(r: JournalRecord): Promise<void> {
    const res = await guard(this.label, this.cmd.multi().xadd(this.keys.log, '*', 'r', JSON.stringify(r)).xrange(this.keys.log, `(${this.lastId}`, '+', 'COUNT', READ_BATCH).exec());
    const failed = res?.find(([e]) => e);
    if (!res || failed) throw failed?.[0] ?? new Error('the queue append was discarded');
    const batch = res[1][1] as [string, string[]][];
    this.prefetched.push(...batch);
    this.prefetchedToEnd = batch.length < READ_BATCH;
  }

  async readNew(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = [];
    const take = (batch: [string, string[]][]) => {
      for (const [id, fields] of batch) {
        // A concurrent read may already have taken it (ids only grow).
        if (!idAfter(id, this.lastId)) continue;
        this.lastId = id;
        const text = fieldMap(fields).r;
        try {
          const v = JSON.parse(text ?? '') as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as JournalRecord);
        } catch {
          // a damaged entry: skipped, like a torn journal line
        }
      }
    };
    if (this.prefetched.length) {
      const [batch, toEnd] = [this.prefetched, this.prefetchedToEnd];
      this.prefetched = [];
      take(batch);
      // Up to our own record is all a reader after an append needs; the watch brings the rest.
      if (toEnd) return out;
    }
    // Bounded: each batch moves lastId forward, and a short batch is the end.
    for (;;) {
      const batch = await guard(this.label, this.cmd.xrange(this.keys.log, `(${this.lastId}`, '+', 'COUNT', READ_BATCH));
      take(batch);
      if (batch.length < READ_BATCH) return out;
    }
  }

  /**
   * One blocking XREAD on its own connection wakes us for new records and new output lines
   * alike, so another process's claim or line is seen at once, without polling.
   */
  watch(onChange: () => Promise<void>): () => void {
    // Its commands may wait for the connection: one at a time, and they wake the loop anyway.
    const conn = this.cmd.duplicate({ ...clientOptions(), lazyConnect: false, enableOfflineQueue: true });
    conn.on('error', () => {});
    let running = true;
    // A concrete id, not `$`: `$` means "after the last entry at each call", and lines added
    // while a wake-up for new records is handled would be skipped.
    let outputId: string | undefined;
    void (async () => {
      while (running) {
        if (outputId === undefined) {
          try {
            const [last] = await conn.xrevrange(this.keys.output, '+', '-', 'COUNT', 1);
            outputId = last?.[0] ?? '0-0';
          } catch {
            if (!running) return;
            await new Promise((r) => setTimeout(r, 500));
            continue;
          }
        }
        try {
          const res = (await conn.xread('BLOCK', BLOCK_MS, 'STREAMS', this.keys.log, this.keys.output, this.lastId, outputId)) as [string, [string, string[]][]][] | null;
          for (const [key, entries] of res ?? []) {
            if (key === this.keys.output) {
              outputId = entries.at(-1)?.[0] ?? outputId;
              this.onOutput(entries);
            }
          }
          // Also after a timeout: a cheap safety net should a wake-up ever be missed.
          await onChange();
        } catch {
          if (!running) return;
          // offline: ioredis reconnects; try again shortly
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
    return () => {
      running = false;
      conn.disconnect();
    };
  }
}

function clientOptions(): RedisOptions {
  return {
    lazyConnect: true,
    // A command while Redis is away fails at once (views say "queue offline") instead of
    // waiting in a hidden buffer; the connection itself keeps retrying.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  };
}

function ownerKey(o: Owner): string {
  return `${o.host}/${o.pid}/${o.start ?? ''}${o.session ? `/${o.session}` : ''}`;
}

/** Stream ids are `<ms>-<seq>`: is `a` after `b`? */
function idAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}

function fieldMap(fields: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]] = fields[i + 1];
  return m;
}

function offline(label: string, e: unknown): QueueOfflineError {
  const why = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
  if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(why)) return new QueueOfflineError(`cannot log in to the queue at ${label} (${why.replace(/\.$/, '')}): check the user and password in the URL`);
  return new QueueOfflineError(`queue offline: cannot reach ${label} (${why})`);
}

/** A Redis call; a connection problem becomes a QueueOfflineError naming the masked URL. */
async function guard<T>(label: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const msg = (e as Error)?.message ?? '';
    if (/writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|max retries|ENOTFOUND|EHOSTUNREACH/i.test(msg + ((e as NodeJS.ErrnoException)?.code ?? ''))) throw offline(label, e);
    throw e;
  }
}
