/**
 * Plays a compiled schedule (schedule.ts) on a job's proxies against the load clock: changes
 * without a time before the load, the others counted from `start()`. The end of the run
 * (success, failure or cancel) cancels what has not happened and gives every proxy its own mix
 * back. Each change is a timeline event.
 *
 * A person can step in, per proxy: `pause` holds the mix as it is while the schedule's clock
 * goes on; `resume` brings in whatever the schedule has in force by then. Setting a mix by hand
 * (`manual`) is a pause too, recorded as a `manual` event: the schedule never overwrites a
 * mix someone just chose.
 */
import type { MixSpec } from '../proxy/mix.js';
import { changeReason, type TimelineEvent } from './events.js';
import type { MixChange } from './schedule.js';

/** What the player needs from a proxy (Proxy has it; tests can fake it). */
export interface MixTarget {
  readonly name: string;
  readonly options: { behaviors?: MixSpec };
  /** `reason` says why, for the report's fault timeline. */
  setMix(spec: MixSpec, reason?: string): Promise<{ text: string }>;
}

/** One proxy's schedule as views show it. Times are epoch ms. */
export interface ScheduleView {
  proxy: string;
  paused: boolean;
  /** The mix in force was set by hand. */
  manual: boolean;
  /** The schedule's change in force (applied, or due while paused). */
  current?: { entry: string; label: string; restore: boolean };
  next?: { at: number; entry: string; label: string };
  /** Changes still to come. */
  remaining: number;
}

interface ProxyState {
  target: MixTarget;
  base: MixSpec;
  changes: MixChange[];
  /** The last change whose time has come. */
  due?: MixChange;
  /** The mix in force came from `due` (not from the proxy's own config or a hand). */
  scheduled: boolean;
  paused: boolean;
  manual: boolean;
}

export class ChaosPlayer {
  private readonly byProxy = new Map<string, ProxyState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly events: TimelineEvent[] = [];
  private readonly done = new Set<MixChange>();
  private loadStart?: number;
  private ended = false;
  /** Changes are applied one at a time, in order, even when timers fire together. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly changes: readonly MixChange[],
    proxies: ReadonlyMap<string, MixTarget>,
    private readonly onEvent: (e: TimelineEvent) => void,
    private readonly log: (message: string, level: 'info' | 'warn') => void,
    /** Told when what `view()` returns may have changed. */
    private readonly onChange: () => void = () => {},
  ) {
    for (const [name, target] of proxies) {
      this.byProxy.set(name, { target, base: target.options.behaviors ?? '', changes: changes.filter((c) => c.proxy === name), scheduled: false, paused: false, manual: false });
    }
  }

  get timeline(): readonly TimelineEvent[] {
    return [...this.events];
  }

  /** Changes without a time: in force before the load starts. */
  async setup(): Promise<void> {
    for (const c of this.changes.filter((x) => x.atMs === undefined)) await this.enqueue(() => this.due(c));
  }

  /** Arm the timed changes, counting from now (the start of the load). */
  start(now = Date.now()): void {
    if (this.loadStart !== undefined || this.ended) return;
    this.loadStart = now;
    const times = [...new Set(this.changes.flatMap((c) => (c.atMs === undefined ? [] : [c.atMs])))];
    for (const t of times) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.ended) return;
        for (const c of this.changes.filter((x) => x.atMs === t)) void this.enqueue(() => this.due(c));
      }, Math.max(0, now + t - Date.now()));
      this.timers.add(timer);
    }
    this.onChange();
  }

  /** Hold the proxy's mix as it is; the schedule's clock goes on. `by`: who, when not this process's user. */
  pause(proxy: string, by?: string): void {
    const p = this.state(proxy);
    if (p.paused) return;
    p.paused = true;
    this.log(`chaos ${proxy}: paused${by ? ` by ${by}` : ''}${p.changes.length ? '; scheduled changes wait for resume' : ''}`, 'info');
    this.onChange();
  }

  /** Bring in what the schedule has in force now (or the proxy's own mix before its first change). */
  async resume(proxy: string, by?: string): Promise<void> {
    const p = this.state(proxy);
    if (!p.paused) return;
    p.paused = false;
    p.manual = false;
    await this.enqueue(async () => {
      const c = p.due;
      const label = `resumed: ${c?.label ?? 'own mix'}`;
      const mix = await p.target.setMix(c?.spec ?? p.base, changeReason({ source: c?.source, fixture: c?.entry ?? 'resume', label }));
      p.scheduled = c?.spec !== undefined;
      this.record(p, c, mix.text, { label });
    });
    this.log(`chaos ${proxy}: resumed${by ? ` by ${by}` : ''}`, 'info');
    this.onChange();
  }

  /**
   * A mix set by hand: applied at once, recorded, and the proxy's schedule paused; one the proxy
   * refuses (a behavior it does not know) is thrown. `by`: who, when not this process's user.
   */
  async manual(proxy: string, spec: MixSpec, by?: string): Promise<string> {
    const p = this.state(proxy);
    let text = '';
    let refused: unknown;
    await this.enqueue(async () => {
      try {
        text = (await p.target.setMix(spec, changeReason({ source: 'manual', fixture: 'manual', by }))).text;
      } catch (e) {
        refused = e;
        return;
      }
      this.tookOver(p, text, by);
    });
    if (refused) throw refused;
    return text;
  }

  /**
   * A change the player did not make (the control APIs, a tool of the user's) seen on a proxy:
   * taken as a change by hand, recorded and pausing the proxy's schedule.
   */
  observed(proxy: string, mix: string): void {
    const p = this.byProxy.get(proxy);
    if (p && !this.ended) this.tookOver(p, mix);
  }

  private tookOver(p: ProxyState, mix: string, by?: string): void {
    p.paused = true;
    p.manual = true;
    p.scheduled = false;
    const e: TimelineEvent = { ...this.stamp(), proxy: p.target.name, kind: 'mix', mix, fixture: 'manual', action: 'manual', source: 'manual', label: 'set by hand', ...(by ? { by } : {}) };
    this.events.push(e);
    this.onEvent(e);
    this.onChange();
  }

  view(now = Date.now()): ScheduleView[] {
    return [...this.byProxy.entries()].map(([proxy, p]) => {
      const elapsed = this.loadStart === undefined ? undefined : now - this.loadStart;
      const upcoming = p.changes.filter((c) => c.atMs !== undefined && !this.done.has(c));
      const next = upcoming[0];
      return {
        proxy,
        paused: p.paused,
        manual: p.manual,
        current: p.due ? { entry: p.due.entry, label: p.due.label, restore: p.due.spec === undefined } : undefined,
        next: next && elapsed !== undefined ? { at: this.loadStart! + next.atMs!, entry: next.entry, label: next.label } : undefined,
        remaining: upcoming.length,
      };
    });
  }

  /** End of the run, whatever its outcome: cancel pending changes and give back the proxies' own mixes. */
  async teardown(): Promise<void> {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const started = new Set([...this.done].map((c) => c.entry));
    const late = new Map<string, MixChange>();
    for (const c of this.changes) if (!started.has(c.entry) && !late.has(c.entry)) late.set(c.entry, c);
    for (const c of late.values()) {
      this.log(`${c.source} ${c.entry} was not applied: the run ended before ${(c.atMs ?? 0) / 1000}s`, 'info');
    }
    await this.enqueue(async () => {
      for (const p of this.byProxy.values()) {
        if (!p.scheduled || !p.due) continue;
        const end: MixChange = { ...p.due, entry: p.due.inForce ?? p.due.entry, action: 'restore', spec: undefined, label: 'end of the run' };
        const mix = await p.target.setMix(p.base, changeReason({ source: end.source, fixture: end.entry, label: end.label }));
        p.scheduled = false;
        this.record(p, end, mix.text);
      }
    });
    this.onChange();
  }

  private state(proxy: string): ProxyState {
    const p = this.byProxy.get(proxy);
    if (!p) throw new Error(`no proxy "${proxy}" in this job`);
    return p;
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn).catch((e: Error) => this.log(`chaos: ${e.message}`, 'warn'));
    this.chain = next;
    return next;
  }

  private async due(c: MixChange): Promise<void> {
    const p = this.state(c.proxy);
    this.done.add(c);
    p.due = c;
    if (!p.paused) {
      const mix = await p.target.setMix(c.spec ?? p.base, changeReason({ source: c.source, fixture: c.entry, label: c.label }));
      p.scheduled = c.spec !== undefined;
      this.record(p, c, mix.text);
    }
    this.onChange();
  }

  private record(p: ProxyState, c: MixChange | undefined, mix: string, o: { label?: string } = {}): void {
    const e: TimelineEvent = {
      ...this.stamp(),
      proxy: p.target.name,
      kind: 'mix',
      mix,
      fixture: c?.entry ?? 'resume',
      action: c?.action ?? 'restore',
      source: c?.source,
      label: o.label ?? c?.label,
      ...(c?.expect ? { expect: c.expect } : {}),
    };
    this.events.push(e);
    this.onEvent(e);
  }

  private stamp(): { at: number; offsetMs?: number } {
    const at = Date.now();
    return this.loadStart === undefined ? { at } : { at, offsetMs: at - this.loadStart };
  }
}
