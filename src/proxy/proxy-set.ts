/**
 * Many named proxies in one process, started together from config, with optional statsd.
 */
import type { StatsdConfig } from '../config/proxies.js';
import type { BehaviorRegistry } from './mix.js';
import { Proxy, type ProxyOptions, type ProxyStats } from './proxy.js';
import { StatsdReporter } from './statsd.js';

export class ListenError extends Error {
  constructor(readonly proxy: string, readonly address: string, readonly code: string) {
    super(
      code === 'EADDRINUSE'
        ? `proxy "${proxy}": ${address} is already in use; pick another port or stop what listens there`
        : `proxy "${proxy}": cannot listen on ${address} (${code})`,
    );
    this.name = 'ListenError';
  }
}

export class ProxySet {
  readonly proxies = new Map<string, Proxy>();
  private statsd?: StatsdReporter;

  constructor(private readonly registry?: BehaviorRegistry) {}

  /** Start every proxy, or none: on a failure the ones already listening are closed again. */
  async start(options: ProxyOptions[], statsd?: StatsdConfig, onLog?: (m: string) => void): Promise<void> {
    if (statsd) this.statsd = new StatsdReporter(statsd, (m) => onLog?.(m));
    try {
      for (const o of options) {
        const p = new Proxy(o, { behaviors: this.registry });
        try {
          await p.listen();
        } catch (e) {
          throw new ListenError(o.name, o.listen, (e as NodeJS.ErrnoException).code ?? String(e));
        }
        this.proxies.set(o.name, p);
        this.statsd?.watch(p);
      }
    } catch (e) {
      await this.close(0);
      throw e;
    }
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
