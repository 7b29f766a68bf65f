/**
 * Many named proxies in one process, started together from config, with optional statsd.
 * Proxies can also come and go while it runs (the control API, hot reload): listeners of
 * 'added' and 'removed' hear about every one.
 */
import { EventEmitter } from 'node:events';
import type { BehaviorRegistry } from './mix.js';
import { Proxy, type ProxyOptions, type ProxyStats } from './proxy.js';
import { ListenError, UpstreamLoopError } from './proxy-errors.js';
import { StatsdReporter, type StatsdOptions } from './statsd.js';

export { ListenError };

export interface ProxySetEvents {
  added: [Proxy];
  removed: [Proxy];
}

export class ProxySet extends EventEmitter<ProxySetEvents> {
  readonly proxies = new Map<string, Proxy>();
  private statsd?: StatsdReporter;

  constructor(private readonly registry: BehaviorRegistry) {
    super();
  }

  /** Start every proxy, or none: on a failure the ones already listening are closed again. */
  async start(options: ProxyOptions[], statsd?: StatsdOptions, onLog?: (m: string) => void): Promise<void> {
    if (statsd) this.statsd = new StatsdReporter(statsd, (m) => onLog?.(m));
    try {
      for (const o of options) await this.add(o);
    } catch (e) {
      await this.close(0);
      throw e;
    }
  }

  /**
   * Create a proxy and, unless `enabled` is false, bind its listener. It joins the set only once
   * listening, so a failed bind leaves the set as it was.
   */
  async add(o: ProxyOptions, opts: { enabled?: boolean } = {}): Promise<Proxy> {
    if (this.proxies.has(o.name)) throw new Error(`proxy "${o.name}" already exists`);
    const p = this.create(o);
    if (opts.enabled === false) await p.setEnabled(false);
    else await listenOrThrow(p);
    this.insert(p);
    return p;
  }

  /** A proxy object that is not listening and not in the set yet (see `insert`). */
  create(o: ProxyOptions): Proxy {
    return new Proxy(o, { behaviors: this.registry });
  }

  /** Put a proxy in the set under its name, replacing (not closing) one of the same name. */
  insert(p: Proxy): void {
    const old = this.proxies.get(p.name);
    this.proxies.set(p.name, p);
    this.statsd?.watch(p);
    if (old && old !== p) this.emit('removed', old);
    this.emit('added', p);
  }

  /** Take a proxy out of the set and close it (open connections are cut after `graceMs`). */
  async remove(name: string, graceMs = 0): Promise<boolean> {
    const p = this.proxies.get(name);
    if (!p) return false;
    this.proxies.delete(name);
    this.emit('removed', p);
    await p.close(graceMs);
    return true;
  }

  get(name: string): Proxy | undefined {
    return this.proxies.get(name);
  }

  stats(): ProxyStats[] {
    return [...this.proxies.values()].map((p) => p.stats());
  }

  async close(graceMs = 2000): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close(graceMs)));
    this.proxies.clear();
    await this.statsd?.close();
    this.statsd = undefined;
  }
}

/** Bind a proxy's listener; a bind failure becomes a ListenError naming the proxy and address. */
export async function listenOrThrow(p: Proxy): Promise<void> {
  try {
    await p.listen();
  } catch (e) {
    if (e instanceof UpstreamLoopError) throw e;
    throw new ListenError(p.name, p.options.listen, (e as NodeJS.ErrnoException).code ?? String(e));
  }
}
