/**
 * The proxies that other processes run, as this one's views see them. Team mode's come through
 * the shared queue's presence: counters, mixes and scenarios, which are changed through the queue
 * (redis-chaos.ts). On a state dir's journal each process running proxies publishes a presence
 * file (presence-file.ts): its counters, and where their mixes are set; they are read once a
 * second while a view watches. A worker shows nothing and never watches: 30 workers reading each
 * other's files every second is CPU their jobs need (see redis-queue.ts).
 */
import { parseMix, type BehaviorRegistry, type Mix, type MixEntrySpec, type MixSpec } from '../proxy/mix.js';
import type { ProxyStats } from '../proxy/proxy.js';
import { putMix, putScenario } from '../proxy/api/native-client.js';
import type { ScheduleView } from './chaos-player.js';
import { currentOwner } from './owner.js';
import { isTerminal } from './jobs.js';
import { readPresences } from './presence-file.js';
import { short, type ChaosChange, type JobQueue, type Presence } from './queue-types.js';

export interface RemoteProxy {
  /** Its name in that process; `stats.name` is the one views know it by (see list). */
  proxy: string;
  stats: ProxyStats;
  /** When its counters were taken (ms), when the presence says. */
  at?: number;
  /** Who runs it, in words ("pid 1234"), and its pid, when known. */
  owner?: string;
  pid?: number;
  /** Its job's id, and its mix and scenario: set through its job's control API on a state dir, through the queue in a team. */
  job?: string;
  control?: { api?: { url: string; token: string }; mix: Record<string, MixEntrySpec>; schedule?: ScheduleView };
}

const READ_MS = 1000;

export class RemoteProxies {
  private read: RemoteProxy[] = [];
  private timer?: NodeJS.Timeout;
  private watchers = 0;
  /** Each presence's mix as parsed, while that presence is the one read (a view asks at every redraw). */
  private parsed = new WeakMap<object, { text: string; mix: Mix | undefined }>();
  /** Told when the scenarios read changed (views that show them redraw). */
  private readonly listeners = new Set<() => void>();
  private schedules = '';
  /** The team's, made once per presence read (the editor's parsed mix is kept with each). */
  private team: { from?: Presence; list: RemoteProxy[] } = { list: [] };

  /** `root`: the state dir whose presences to read; none on a shared queue. */
  constructor(
    private readonly queue: JobQueue,
    private readonly root: string | undefined,
  ) {}

  /** Keep reading the state dir's presences until the returned function is called; `onChange`: their scenarios changed. */
  watch(onChange?: () => void): () => void {
    if (onChange) this.listeners.add(onChange);
    if (this.watchers++ === 0 && this.root) {
      const tick = () => void this.refresh().catch(() => {});
      tick();
      this.timer = setInterval(tick, READ_MS);
      this.timer.unref();
    }
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      if (onChange) this.listeners.delete(onChange);
      if (--this.watchers === 0) {
        clearInterval(this.timer);
        this.read = [];
      }
    };
  }

  /**
   * Every one, named apart from `taken` (this process's) and from each other: views select and
   * edit a proxy by its name, and two jobs of one project (one here, one in a worker) have the
   * same. A second `db` is `db@1234` (its process), or `db#2` when that is not known.
   */
  list(taken: ReadonlySet<string>): RemoteProxy[] {
    const all = [...this.teamProxies(), ...this.read];
    const names = new Set(taken);
    return all.map((r) => {
      let name = r.proxy;
      for (let n = 2; names.has(name); n++) name = r.pid !== undefined && n === 2 ? `${r.proxy}@${r.pid}` : `${r.proxy}#${n}`;
      names.add(name);
      return name === r.stats.name ? r : { ...r, stats: { ...r.stats, name } };
    });
  }

  /** Its mix as the editor reads it, behaviors resolved in `registry` (undefined: one is not known here). */
  mixOf(r: RemoteProxy, registry: BehaviorRegistry): Mix | undefined {
    if (!r.control) return undefined;
    const spec = r.control.mix;
    const text = JSON.stringify(spec);
    let cached = this.parsed.get(r.control);
    if (cached?.text !== text) {
      let mix: Mix | undefined;
      try {
        mix = parseMix(spec, registry);
      } catch {
        // A plugin behavior of that job's: its mix is shown on the Proxies pane, not edited here.
      }
      this.parsed.set(r.control, (cached = { text, mix }));
    }
    return cached.mix;
  }

  /** Set the mix of a proxy another process runs, through its job's control API or the team's queue; returns its text. */
  async setMix(r: RemoteProxy, spec: MixSpec): Promise<string> {
    const control = r.control;
    if (!control) throw new Error(`proxy "${r.stats.name}" runs in a job of a worker that takes no changes from here (an older marteau-tui): change its mix there (or with its job's api:)`);
    const set = await this.ask(r, { mix: spec }, async (api) => {
      const s = await putMix(api.url, api.token, r.proxy, spec);
      return { mix: s.mix, spec: s.mixOptions };
    });
    // Shown at once, not at the next read of its presence.
    if (set.spec) control.mix = set.spec;
    return set.mix ?? '';
  }

  /** Pause a proxy's scenario in the process that runs it, or let it follow it again. */
  async setPaused(r: RemoteProxy, paused: boolean): Promise<void> {
    if (!r.control?.schedule) throw new Error(`no chaos scenario runs on ${r.stats.name}`);
    await this.ask(r, { paused }, async (api) => {
      await putScenario(api.url, api.token, r.proxy, paused);
      return {};
    });
  }

  /** A change through the proxy's job's API (`direct`), else through the queue; its refusal names the proxy and who runs it. */
  private async ask<T extends { mix?: string; spec?: Record<string, MixEntrySpec> }>(r: RemoteProxy, change: ChaosChange, direct: (api: { url: string; token: string }) => Promise<T>): Promise<T> {
    try {
      if (r.control?.api) return await direct(r.control.api);
      const job = r.job && this.queue.get(r.job);
      if (!job || !this.queue.chaos) throw new Error(`its job is not known here`);
      if (isTerminal(job.status)) throw new Error(`job ${short(job.id)} has ended (${job.status})`);
      return (await this.queue.chaos.request(job.id, r.proxy, change)) as T;
    } catch (e) {
      throw new Error(`proxy "${r.stats.name}" of ${r.owner ?? 'another process'}: ${(e as Error).message}`);
    }
  }

  /** The team's proxies, from the queue's presence (one object per presence read, see `team`). */
  private teamProxies(): RemoteProxy[] {
    const p = this.queue.remotePresence?.();
    if (p === this.team.from) return this.team.list;
    const list = (p?.proxies ?? []).map((stats, i): RemoteProxy => {
      const c = p?.control?.[i];
      const o = c?.owner;
      const control = c?.job && c.mix ? { mix: c.mix, schedule: c.schedule } : undefined;
      return { proxy: stats.name, stats, ...(o ? { pid: o.pid, owner: `pid ${o.pid} on ${o.host}` } : {}), job: c?.job, control };
    });
    this.team = { from: p, list };
    return list;
  }

  private async refresh(): Promise<void> {
    const presences = await readPresences(this.root!, currentOwner());
    if (!this.watchers) return;
    this.read = presences.flatMap((p) =>
      p.proxies.map((stats, i): RemoteProxy => {
        const c = p.control[i];
        return { proxy: stats.name, stats, at: p.at, pid: p.owner.pid, owner: `pid ${p.owner.pid}`, job: c?.job, control: c && { api: { url: c.api, token: p.token }, mix: c.mix, schedule: c.schedule } };
      }),
    );
    const schedules = JSON.stringify(this.read.map((r) => r.control?.schedule));
    if (schedules === this.schedules) return;
    this.schedules = schedules;
    for (const l of this.listeners) l();
  }
}
