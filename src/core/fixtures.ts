/**
 * Fixtures change a proxy's behavior mix around a run (set up before, torn down after, like
 * Marteau's fixture setup()/tear_down()) or during it (`at`, `for`). Changes stack per proxy:
 * ending a fixture brings back whatever was in force under it, and the end of the run (success,
 * failure or cancel) restores every proxy's mix from before. Each change is a timeline event.
 */
import type { FixtureSpec } from '../config/marteau.js';
import type { MixSpec } from '../proxy/mix.js';
import type { TimelineEvent } from './events.js';

/** What fixtures need from a proxy (Proxy has it; tests can fake it). */
export interface MixTarget {
  readonly name: string;
  readonly options: { behaviors?: MixSpec };
  setMix(spec: MixSpec): Promise<{ text: string }>;
}

interface Layer {
  fixture: string;
  spec: MixSpec;
}

interface ProxyLayers {
  proxy: MixTarget;
  base: MixSpec;
  layers: Layer[];
}

export class FixturePlan {
  private readonly byProxy = new Map<string, ProxyLayers>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly events: TimelineEvent[] = [];
  private ended = false;
  /** Changes are applied one at a time, in order, even when timers fire together. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly fixtures: readonly FixtureSpec[],
    proxies: ReadonlyMap<string, MixTarget>,
    private readonly onEvent: (e: TimelineEvent) => void,
    private readonly log: (message: string, level: 'info' | 'warn') => void,
  ) {
    for (const [name, proxy] of proxies) this.byProxy.set(name, { proxy, base: proxy.options.behaviors ?? '', layers: [] });
  }

  get timeline(): readonly TimelineEvent[] {
    return [...this.events];
  }

  /** Fixtures without `at`: in force before the load starts. */
  async setup(): Promise<void> {
    for (const f of this.fixtures.filter((x) => x.atMs === undefined)) await this.enqueue(() => this.apply(f));
  }

  /** Arm the timed fixtures, counting from now (the start of the load). */
  startTimers(): void {
    for (const f of this.fixtures.filter((x) => x.atMs !== undefined)) {
      this.after(f.atMs!, async () => {
        await this.apply(f);
        // `for` counts from when the change took effect: a timer that fired late on a busy
        // machine must not shorten the fault (recovery and error mapping measure its window).
        if (f.forMs !== undefined) this.after(f.forMs, () => this.restore(f.name));
      });
    }
  }

  /** A mix set by hand during the run becomes what fixtures restore to. */
  async setBase(proxyName: string, spec: MixSpec): Promise<string> {
    const p = this.byProxy.get(proxyName);
    if (!p) throw new Error(`no proxy "${proxyName}" in this job`);
    p.base = spec;
    let text = '';
    await this.enqueue(async () => {
      text = (await p.proxy.setMix(spec)).text;
    });
    return text;
  }

  /** End of the run, whatever its outcome: cancel pending changes and restore every mix. */
  async teardown(): Promise<void> {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const late = this.fixtures.filter((f) => f.atMs !== undefined && !this.events.some((e) => e.fixture === f.name));
    for (const f of late) this.log(`fixture ${f.name} was not applied: the run ended before ${f.atMs! / 1000}s`, 'info');
    await this.enqueue(async () => {
      for (const p of this.byProxy.values()) {
        for (const layer of [...p.layers].reverse()) await this.restoreNow(p, layer.fixture);
      }
    });
  }

  private after(ms: number, fn: () => Promise<void>): void {
    if (this.ended) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.ended) void this.enqueue(fn);
    }, ms);
    this.timers.add(t);
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn).catch((e: Error) => this.log(`fixture: ${e.message}`, 'warn'));
    this.chain = next;
    return next;
  }

  private async apply(f: FixtureSpec): Promise<void> {
    const p = this.byProxy.get(f.proxy);
    if (!p) throw new Error(`fixture ${f.name}: no proxy "${f.proxy}"`);
    p.layers.push({ fixture: f.name, spec: f.behaviors });
    const mix = await p.proxy.setMix(f.behaviors);
    this.record({ at: Date.now(), proxy: f.proxy, kind: 'mix', mix: mix.text, fixture: f.name, action: 'apply', source: 'fixture', ...(f.expect ? { expect: f.expect } : {}) });
  }

  private async restore(fixture: string): Promise<void> {
    for (const p of this.byProxy.values()) await this.restoreNow(p, fixture);
  }

  private async restoreNow(p: ProxyLayers, fixture: string): Promise<void> {
    const i = p.layers.findIndex((l) => l.fixture === fixture);
    if (i === -1) return;
    p.layers.splice(i, 1);
    const top = p.layers[p.layers.length - 1];
    const mix = await p.proxy.setMix(top ? top.spec : p.base);
    this.record({ at: Date.now(), proxy: p.proxy.name, kind: 'mix', mix: mix.text, fixture, action: 'restore', source: 'fixture' });
  }

  private record(e: TimelineEvent): void {
    this.events.push(e);
    this.onEvent(e);
  }
}
