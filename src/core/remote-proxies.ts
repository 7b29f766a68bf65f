/**
 * The proxies that other processes run, as this one's views see them. Team mode's come as counters
 * through the shared queue's presence. On a state dir's journal each process running proxies
 * publishes a presence file (presence-file.ts): its counters, and where their mixes are set; they
 * are read once a second while a view watches. A worker shows nothing and never watches: 30
 * workers reading each other's files every second is CPU their jobs need (see redis-queue.ts).
 */
import { parseMix, type BehaviorRegistry, type Mix, type MixEntrySpec, type MixSpec } from '../proxy/mix.js';
import type { ProxyStats } from '../proxy/proxy.js';
import { putMix, putScenario } from '../proxy/api/native-client.js';
import type { ScheduleView } from './chaos-player.js';
import { currentOwner } from './owner.js';
import { readPresences } from './presence-file.js';
import type { JobQueue } from './queue-types.js';

export interface RemoteProxy {
  /** Its name in that process; `stats.name` is the one views know it by (see list). */
  proxy: string;
  stats: ProxyStats;
  /** When its counters were taken (ms), when the presence says. */
  at?: number;
  /** Who runs it, in words ("pid 1234"), and its pid, when known. */
  owner?: string;
  pid?: number;
  /** Its job's id, and what sets its mix (a state dir's presence only). */
  job?: string;
  control?: { api: string; token: string; mix: Record<string, MixEntrySpec>; schedule?: ScheduleView };
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
    const all = [...(this.queue.remotePresence?.().proxies ?? []).map((stats): RemoteProxy => ({ proxy: stats.name, stats })), ...this.read];
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

  /** Set the mix of a proxy another process runs, through its job's control API; returns its text. */
  async setMix(r: RemoteProxy, spec: MixSpec): Promise<string> {
    if (!r.control) throw new Error(`proxy "${r.stats.name}" runs in a job of another worker: change its mix there (or with its job's api:)`);
    let set;
    try {
      set = await putMix(r.control.api, r.control.token, r.proxy, spec);
    } catch (e) {
      throw new Error(`proxy "${r.stats.name}" of ${r.owner ?? 'another process'}: ${(e as Error).message}`);
    }
    // Shown at once, not at the next read of its presence.
    r.control.mix = set.mixOptions;
    return set.mix;
  }

  /** Pause a proxy's scenario in the process that runs it, or let it follow it again. */
  async setPaused(r: RemoteProxy, paused: boolean): Promise<void> {
    if (!r.control?.schedule) throw new Error(`no chaos scenario runs on ${r.stats.name}`);
    try {
      await putScenario(r.control.api, r.control.token, r.proxy, paused);
    } catch (e) {
      throw new Error(`proxy "${r.stats.name}" of ${r.owner ?? 'another process'}: ${(e as Error).message}`);
    }
  }

  private async refresh(): Promise<void> {
    const presences = await readPresences(this.root!, currentOwner());
    if (!this.watchers) return;
    this.read = presences.flatMap((p) =>
      p.proxies.map((stats, i): RemoteProxy => {
        const c = p.control[i];
        return { proxy: stats.name, stats, at: p.at, pid: p.owner.pid, owner: `pid ${p.owner.pid}`, job: c?.job, control: c && { api: c.api, token: p.token, mix: c.mix, schedule: c.schedule } };
      }),
    );
    const schedules = JSON.stringify(this.read.map((r) => r.control?.schedule));
    if (schedules === this.schedules) return;
    this.schedules = schedules;
    for (const l of this.listeners) l();
  }
}
