/**
 * The team queue's records in one Redis stream, as a RecordLog (see redis-queue.ts for the rest).
 *
 * Every append is one Lua script that also reads what is new up to the appended record (one round
 * trip), and a claim goes through a gate in the same script: a job already claimed by a live
 * engine gets no second claim record. Without the gate every idle worker appended its own claim
 * for every new job and the fold threw all but one away: 30 workers meant ~12 claim records per
 * job, a stream growing with the team, and enqueue and start slowing down with it. The fold still
 * decides (the gate only keeps losing claims out of the log), so a gate entry left by a claimer
 * that died is overridden once its heartbeat key is gone. A claim offers several jobs and the
 * script takes the first whose gate is free, so racing workers never lose to each other in turn.
 *
 * A worker does not read the log as it grows: a free one blocks on a list of wake-ups, one pushed
 * (in the same script as the record) per job that becomes startable, and Redis hands each to one
 * blocked worker. Woken on every record, 30 idle workers each read, folded and ran a claim script
 * for each new job (25 claim scripts and 75 reads per job measured), and on a loaded machine
 * their CPU, not Redis, is what slowed the enqueuer. Nothing relies on a wake-up arriving: at
 * each heartbeat tick one process of the team (under a lock) reads the log and pushes a wake-up
 * for a job queued longer than a tick when none is pending, so a lost one (Redis restarted
 * without it, a worker killed while holding it) delays a start by a tick or two. Busy or free,
 * a worker also blocks on a notify list of its own, where a cancel of a job it runs is pushed (and
 * a chaos change asked of it, redis-chaos.ts): the busy ones that read every record in batches
 * to see those cancels cost 30 workers more CPU than the jobs they ran.
 */
import type { Redis } from 'ioredis';
import type { JournalRecord } from './jobs.js';
import type { ClaimRecord, JobFileTexts, RecordLog } from './queue-types.js';
import { clientOptions, fieldMap, guard, type Keys } from './redis-client.js';
import { APPEND_LUA } from './redis-scripts.js';

const READ_BATCH = 1000;
const BLOCK_MS = 2000;
/** A worker that cannot start a job passes its wake-up on this many times at most (then: the tick). */
const WAKE_HOPS = 8;
/** How long a woken worker waits for the scheduling pass its wake-up started. */
const PASS_WAIT_MS = 1000;

type Entry = [string, string[]];
type AppendCommand = (log: string, claims: string, wake: string, ...args: string[]) => Promise<[number, Entry[]]>;
/** Entries read after `base` (the last id when the read was sent), up to the end if `toEnd`. */
interface Batch {
  base: string;
  entries: Entry[];
  toEnd: boolean;
}

/** Stream entry ids of what may be trimmed: per job, per node switch, and purge records. */
interface Index {
  jobs: Map<string, string[]>;
  nodes: Map<string, string[]>;
  purges: string[];
}

export class RedisLog implements RecordLog {
  /** A connection dropped after Redis took the command loses only its reply. */
  readonly failedAppendMayLand = true;
  private lastId = '0-0';
  /**
   * Entries that came with an append's reply or a watch wake-up; `readNew` takes them first
   * instead of asking again (with 30 workers, one XRANGE less per worker per record).
   */
  private prefetched: Batch[] = [];
  private readonly index: Index = { jobs: new Map(), nodes: new Map(), purges: [] };
  private readonly appendScript: AppendCommand;
  /** undefined: not a worker (nobody reports it busy or free); it reads every record. */
  private busy?: boolean;
  /** Ends a woken worker's wait for its scheduling pass (see takeWake). */
  private passEnded?: () => void;
  /** The watch connection's client id, and whether it is blocked on this engine's notify list alone (busy). */
  private watchId?: number;
  private blockedBusy = false;

  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly label: string,
    private readonly me: string,
  ) {
    cmd.defineCommand('marteauAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    this.appendScript = (cmd as unknown as { marteauAppend: AppendCommand }).marteauAppend.bind(cmd);
  }

  /** Gets the output lines the watch loop reads (set by the queue). */
  onOutput: (entries: Entry[]) => void = () => {};
  /**
   * Whether anyone here shows other processes' output: a worker does not, and reading the lines
   * would wake it for every line of every job in the team (30 workers: 30 wake-ups per line).
   */
  wantsOutput: () => boolean = () => true;
  /** Gets the chaos records (redis-chaos.ts) as they are read, and the engine a request names. */
  onChaos: (r: Record<string, unknown>, to: string | undefined) => void = () => {};

  async open(): Promise<void> {}

  /** Told by the scheduler at the end of each pass: a worker, with or without a free node. */
  setBusy(busy: boolean): void {
    this.busy = busy;
    this.passEnded?.();
    if (!busy) void this.unblock();
  }

  /**
   * A worker freed while its watch waits on its notify list alone would miss wake-ups until the
   * wait times out: end the wait. The UNBLOCK may reach Redis before the wait itself does, and
   * find nothing to end: then try again, while the wait is still ours to end.
   */
  private async unblock(): Promise<void> {
    for (let i = 0; i < 100 && this.blockedBusy; i++) {
      if (this.watchId !== undefined && (await this.cmd.client('UNBLOCK', this.watchId).catch(() => 0)) === 1) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async close(): Promise<void> {}

  /**
   * The queue reads right after each append (up to its own record, which decides a claim): the
   * read goes in the same script, one round trip instead of two. A requeue frees the job's gate.
   */
  async append(r: JournalRecord, files?: JobFileTexts): Promise<void> {
    if (r.t === 'requeued') await this.run('release', [JSON.stringify(r), r.id, r.claim], `${r.id} 0`);
    // The engine running the job learns of it at once: it reads no one else's records meanwhile.
    else if (r.t === 'cancel') await this.run('cancel', [JSON.stringify(r), r.id, this.keys.notify('')], '');
    // A `--ci` run starts its own jobs: no worker is woken for them.
    else {
      // A job's files go in with its record: one round trip, and no job without them (nor files without a job).
      const stored = r.t === 'enqueued' && files && Object.keys(files).length ? [this.keys.files(r.job.id), ...Object.entries(files).flat()] : [];
      await this.run('plain', [JSON.stringify(r), ...stored], r.t === 'enqueued' && r.job.origin !== 'ci' ? `${r.job.id} 0` : '');
    }
  }

  /**
   * The first of these claims (one claim id, one job each) whose job no live engine holds is
   * appended; returns its index, or -1 when all were taken. One round trip whatever the race:
   * workers freed at the same moment each get a different job instead of losing in turn.
   */
  async appendClaim(records: readonly ClaimRecord[]): Promise<number> {
    if (!records.length) return -1;
    return (await this.run('claim', claimArgs(records), '')) - 1;
  }

  /** A job's end, then as appendClaim: the nodes it frees are taken again in the same call. */
  async appendFinishClaim(finished: JournalRecord, records: readonly ClaimRecord[]): Promise<number> {
    return (await this.run('finish', [JSON.stringify(finished), ...claimArgs(records)], '')) - 1;
  }

  /** Push a wake-up for this job unless one is waiting already (the tick's safety net). */
  async wakeIfNone(id: string): Promise<void> {
    if ((await guard(this.label, this.cmd.llen(this.keys.wake))) === 0) await guard(this.label, this.cmd.rpush(this.keys.wake, `${id} 0`));
  }

  /** Free the gate of a claim the fold refused (the job was gone, the node full or disabled). */
  async releaseClaim(id: string, claim: string): Promise<void> {
    await this.run('release', ['', id, claim], '');
  }

  private async run(mode: string, args: string[], wake: string): Promise<number> {
    const base = this.lastId;
    const [added, entries] = await guard(this.label, this.appendScript(this.keys.log, this.keys.claims, this.keys.wake, base, String(READ_BATCH), mode, this.me, this.keys.alive(''), wake, ...args));
    this.prefetched.push({ base, entries, toEnd: entries.length < READ_BATCH });
    return added;
  }

  async readNew(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = [];
    const take = (batch: Entry[]) => {
      for (const [id, fields] of batch) {
        // A concurrent read may already have taken it (ids only grow).
        if (!idAfter(id, this.lastId)) continue;
        this.lastId = id;
        const f = fieldMap(fields);
        try {
          const v = JSON.parse(f.r ?? '') as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v)) {
            out.push(v as JournalRecord);
            this.remember(id, v as JournalRecord);
            if ((v as { t?: unknown }).t === 'chaos' || (v as { t?: unknown }).t === 'chaos-done') this.onChaos(v as Record<string, unknown>, f.w);
          }
        } catch {
          // a damaged entry: skipped, like a torn journal line
        }
      }
    };
    // Oldest read first; a batch read after an id we have not reached yet would leave a hole.
    const batches = this.prefetched.sort((a, b) => (idAfter(a.base, b.base) ? 1 : idAfter(b.base, a.base) ? -1 : 0));
    this.prefetched = [];
    let toEnd = false;
    for (const b of batches) {
      if (idAfter(b.base, this.lastId)) {
        toEnd = false;
        break;
      }
      take(b.entries);
      toEnd = b.toEnd;
    }
    // Up to the end of the last batch is all a reader after an append needs; the watch brings the rest.
    if (toEnd) return out;
    // Bounded: each batch moves lastId forward, and a short batch is the end.
    for (;;) {
      const batch = await guard(this.label, this.cmd.xrange(this.keys.log, `(${this.lastId}`, '+', 'COUNT', READ_BATCH));
      take(batch);
      if (batch.length < READ_BATCH) return out;
    }
  }

  private remember(entry: string, r: JournalRecord): void {
    if (r.t === 'purged') {
      this.index.purges.push(entry);
      for (const id of Array.isArray(r.ids) ? r.ids : []) this.index.jobs.delete(id);
      return;
    }
    const [map, key] = r.t === 'node' ? [this.index.nodes, r.name] : [this.index.jobs, r.t === 'enqueued' ? r.job?.id : r.id];
    if (typeof key !== 'string') return;
    const list = map.get(key);
    if (list) list.push(entry);
    else map.set(key, [entry]);
  }

  /**
   * Remove the records of these (finished) jobs, superseded node switches and purge records older
   * than `purgeTtlMs`; a `purged` record tells the readers that had the jobs to drop them.
   * Readers that join later never see them. Returns how many jobs were removed.
   */
  async trim(ids: readonly string[], at: number, purgeTtlMs: number): Promise<number> {
    const entries = ids.flatMap((id) => this.index.jobs.get(id) ?? []);
    for (const list of this.index.nodes.values()) entries.push(...list.splice(0, list.length - 1));
    const oldPurges = this.index.purges.filter((e) => Number(e.split('-')[0]) < at - purgeTtlMs);
    this.index.purges = this.index.purges.filter((e) => !oldPurges.includes(e));
    entries.push(...oldPurges);
    // In slices: one command stays small whatever the history's size.
    for (let i = 0; i < entries.length; i += 1000) await guard(this.label, this.cmd.xdel(this.keys.log, ...entries.slice(i, i + 1000)));
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      const m = this.cmd.multi().hdel(this.keys.claims, ...slice);
      for (const id of slice) m.del(this.keys.files(id));
      await guard(this.label, m.exec());
      await this.append({ t: 'purged', at, ids: slice });
    }
    return ids.length;
  }

  /**
   * One blocking XREAD on its own connection wakes us for new records and new output lines
   * alike, so another process's claim or line is seen at once, without polling. A worker reads
   * no one else's records as they come: it blocks on its notify list (a cancel or a chaos change of a job it runs)
   * and, with a node free, on the wake-ups; what else is new it reads when it claims.
   */
  watch(onChange: () => Promise<void>, queued: (id: string) => boolean = () => false, woken: () => void = () => {}): () => void {
    // Its commands may wait for the connection: one at a time, and they wake the loop anyway.
    const conn = this.cmd.duplicate({ ...clientOptions(), lazyConnect: false, enableOfflineQueue: true });
    conn.on('error', () => {});
    conn.on('ready', () => void conn.client('ID').then((id) => (this.watchId = id), () => {}));
    const notify = this.keys.notify(this.me);
    let running = true;
    // A concrete id, not `$`: `$` means "after the last entry at each call", and lines added
    // while a wake-up for new records is handled would be skipped.
    let outputId: string | undefined;
    void (async () => {
      // Its owner subscribes to lines right after starting the watch.
      await new Promise((r) => setImmediate(r));
      while (running) {
        const wants = this.wantsOutput();
        // Not listening, the position is dropped: lines are never replayed once someone listens.
        if (!wants) outputId = undefined;
        if (this.busy !== undefined && !wants) {
          try {
            this.blockedBusy = this.busy;
            const popped = await conn.blpop(...(this.busy ? [notify] : [notify, this.keys.wake]), BLOCK_MS / 1000);
            this.blockedBusy = false;
            if (popped?.[0] === this.keys.wake && running) await this.takeWake(popped[1], { onChange, queued, woken }, conn);
            else if (popped && running) await onChange();
          } catch {
            this.blockedBusy = false;
            if (!running) return;
            await new Promise((r) => setTimeout(r, 500));
          }
          continue;
        }
        if (wants && outputId === undefined) {
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
          const base = this.lastId;
          const streams = outputId === undefined ? [this.keys.log, base] : [this.keys.log, this.keys.output, base, outputId];
          const res = (await conn.xread('COUNT', READ_BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', ...streams)) as [string, Entry[]][] | null;
          // No log entries in the reply (a timeout, or only output lines) says nothing is new
          // after `base`: the read that follows costs no round trip.
          const log = res?.find(([key]) => key === this.keys.log)?.[1] ?? [];
          this.prefetched.push({ base, entries: log, toEnd: log.length < READ_BATCH });
          for (const [key, entries] of res ?? []) {
            if (key === this.keys.output) {
              outputId = entries.at(-1)?.[0] ?? outputId;
              this.onOutput(entries);
            }
          }
          // Also after a timeout (nothing new: no round trip), so the loop stays one shape.
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
      this.blockedBusy = false;
      conn.disconnect();
    };
  }

  /**
   * A wake-up taken: read what is new, and have a scheduling pass look at the job (new records
   * start one anyway; a job this worker had read before, say in the tick that pushed the wake-up,
   * needs the nudge). A job still queued once that pass ended is one this worker cannot start
   * (its nodes' tags, its node taken meanwhile): the wake-up goes on to another free worker, a
   * few times at most.
   */
  private async takeWake(token: string, on: { onChange: () => Promise<void>; queued: (id: string) => boolean; woken: () => void }, conn: Redis): Promise<void> {
    const [id, hops] = token.split(' ');
    const { queued } = on;
    // Set before the read: the pass may end before the read returns.
    const passEnded = pause(PASS_WAIT_MS, (end) => (this.passEnded = end));
    try {
      await on.onChange();
      if (queued(id)) {
        on.woken();
        await passEnded;
      }
    } finally {
      this.passEnded?.();
      this.passEnded = undefined;
    }
    if (queued(id) && Number(hops) < WAKE_HOPS) await conn.rpush(this.keys.wake, `${id} ${Number(hops) + 1}`);
  }
}

/** The claim script's arguments: the claim id, then each job id with its record. */
function claimArgs(records: readonly ClaimRecord[]): string[] {
  return [records[0].claim, ...records.flatMap((r) => [r.id, JSON.stringify(r)])];
}

/** Resolves after `ms`, or as soon as the function handed to `early` is called. */
function pause(ms: number, early: (end: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    early(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Stream ids are `<ms>-<seq>`: is `a` after `b`? */
function idAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}
