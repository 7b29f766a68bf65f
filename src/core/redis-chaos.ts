/**
 * Team mode: a change to the chaos of a job another engine runs (a mix set by hand, its scenario
 * paused or followed again), from any terminal on the queue. A job's control APIs stay on its
 * worker's loopback, so the change goes through Redis: a `chaos` record in the queue's stream
 * (who asked, when, what) and a push onto the notify list of the engine holding the job, as a
 * cancel does, so a busy worker wakes at once; that engine answers with a `chaos-done` record.
 * The queue's fold ignores both (unknown types); they are trimmed with their job.
 *
 * The user must learn whether the change took effect, and a change nobody answers must not
 * apply later behind their back (a stalled worker waking up): each request has a key, `pending`
 * until the engine takes it (`taken`, then its answer). A sender that stops waiting deletes a
 * key still pending, in one script, so the engine finds it gone and does not apply the change;
 * the same script appends a `chaos-withdrawn` record (who withdrew it, why) and says so in the
 * job's output, so the log tells what became of every request, and whoever follows the job sees it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { short } from './queue-types.js';
import type { ChaosAnswer, ChaosChange, ChaosChannel, ChaosRequest, SharedLine } from './queue-types.js';
import type { Owner } from './owner.js';
import { guard, type Keys } from './redis-client.js';
import { CHAOS_ASK_LUA, CHAOS_WITHDRAW_LUA } from './redis-scripts.js';

/** How long a sender waits for the engine to take its change, then again for its answer. */
const ANSWER_MS = 5000;
/** A request key outlives any wait for it (its sender dead: Redis drops it). */
const REQUEST_TTL_MS = 60_000;

/** `id`: the job's, as other records have it (trimmed with it). */
type ChaosRecord = ChaosChange & { t: 'chaos'; at: number; id: string; ref: string; proxy: string; by: Owner };
interface DoneRecord {
  t: 'chaos-done';
  at: number;
  id: string;
  ref: string;
  by: Owner;
  answer?: ChaosAnswer;
  error?: string;
}
/** A request nobody took: `by` withdrew it, for `reason`. */
interface WithdrawnRecord {
  t: 'chaos-withdrawn';
  at: number;
  id: string;
  ref: string;
  proxy: string;
  by: Owner;
  reason: string;
}

/** What a sender gets: the engine's answer or its refusal. */
type Outcome = { answer?: ChaosAnswer; error?: string };

export class TeamChaos implements ChaosChannel {
  /** The requests this process waits on, by ref: what settles each. */
  private readonly waiting = new Map<string, (o: Outcome) => void>();
  private apply?: (r: ChaosRequest) => Promise<ChaosAnswer>;
  private late?: (r: ChaosRequest) => void;

  constructor(
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly label: string,
    /** This engine's owner key (whose notify list it reads), and its owner. */
    private readonly me: string,
    private readonly owner: Owner,
  ) {}

  async request(job: string, proxy: string, change: ChaosChange): Promise<ChaosAnswer> {
    const ref = randomBytes(8).toString('hex');
    const record: ChaosRecord = { t: 'chaos', at: Date.now(), id: job, ref, proxy, ...change, by: this.owner };
    const settled = new Promise<Outcome>((done) => this.waiting.set(ref, done));
    try {
      const asked = await guard(this.label, this.cmd.eval(CHAOS_ASK_LUA, 3, this.keys.log, this.keys.claims, this.keys.chaos(ref), job, JSON.stringify(record), this.keys.alive(''), this.keys.notify(''), String(REQUEST_TTL_MS)));
      if (typeof asked !== 'string') throw new Error(`job ${short(job)} runs on no live worker now`);
      const r = (await Promise.race([settled, this.unanswered(record, asked)]))!;
      if (r.error !== undefined) throw new Error(r.error);
      return r.answer ?? {};
    } finally {
      this.waiting.delete(ref);
    }
  }

  /**
   * After ANSWER_MS: a change still pending is withdrawn (the engine will not apply it); one the
   * engine took gets ANSWER_MS more for its answer. An answer in the key is taken from there
   * (this process missed its record: its log reader stopped or slow).
   */
  private async unanswered(asked: ChaosRecord, holder: string): Promise<Outcome | undefined> {
    const { ref, id: job, proxy } = asked;
    for (let round = 0; ; round++) {
      await new Promise((r) => setTimeout(r, ANSWER_MS).unref());
      if (!this.waiting.has(ref)) return undefined;
      const reason = `no answer within ${ANSWER_MS / 1000} s`;
      const withdrawn: WithdrawnRecord = { t: 'chaos-withdrawn', at: Date.now(), id: job, ref, proxy, by: this.owner, reason };
      const line: SharedLine = { at: withdrawn.at, stream: 'engine', level: 'warn', line: `chaos ${proxy}: ${describe(asked)} asked by ${who(asked.by)} withdrawn by ${who(this.owner)}: ${reason} from the worker; not applied` };
      const v = (await guard(this.label, this.cmd.eval(CHAOS_WITHDRAW_LUA, 3, this.keys.chaos(ref), this.keys.log, this.keys.output, JSON.stringify(withdrawn), job, holder, JSON.stringify(line)))) as string | null;
      if (v && v !== 'pending' && v !== 'taken') return JSON.parse(v) as Outcome;
      if (v === 'taken' && round === 0) continue;
      const s = (ANSWER_MS * (round + 1)) / 1000;
      return {
        error:
          v === 'taken'
            ? `its worker took the change but did not say within ${s} s whether it applied: see job ${short(job)}'s log`
            : `no answer within ${s} s: its worker may be stopped or stalled; the change was withdrawn and will not apply`,
      };
    }
  }

  serve(apply: (r: ChaosRequest) => Promise<ChaosAnswer>, late: (r: ChaosRequest) => void): void {
    this.apply = apply;
    this.late = late;
  }

  /** A record of the stream (RedisLog reads them): `to`, the engine a request was pushed to. */
  onRecord(r: Record<string, unknown>, to: string | undefined): void {
    if (r.t === 'chaos-done') {
      const d = r as unknown as DoneRecord;
      this.waiting.get(d.ref)?.(d);
    } else if (r.t === 'chaos' && to === this.me && this.apply && typeof r.ref === 'string' && typeof r.id === 'string') {
      void this.answer({ ...(r as unknown as ChaosRecord), job: r.id }).catch(() => {});
    }
  }

  private async answer(r: ChaosRecord & { job: string }): Promise<void> {
    const key = this.keys.chaos(r.ref);
    // Gone: its sender stopped waiting and told its user so.
    if ((await this.cmd.set(key, 'taken', 'PX', REQUEST_TTL_MS, 'XX')) !== 'OK') return this.late?.(r);
    const done: DoneRecord = { t: 'chaos-done', at: Date.now(), id: r.id, ref: r.ref, by: this.owner };
    try {
      done.answer = await this.apply!(r);
    } catch (e) {
      done.error = (e as Error).message;
    }
    done.at = Date.now();
    const text = JSON.stringify(done);
    await this.cmd.multi().xadd(this.keys.log, '*', 'r', text).set(key, text, 'PX', REQUEST_TTL_MS, 'XX').exec();
  }
}

/** What a request asked, for the job's output. */
function describe(c: ChaosChange): string {
  if ('mix' in c) return `mix ${typeof c.mix === 'string' ? c.mix : JSON.stringify(c.mix)}`;
  return c.paused ? 'a pause of its scenario' : 'a resume of its scenario';
}

function who(o: Owner): string {
  return `pid ${o.pid} on ${o.host}`;
}
