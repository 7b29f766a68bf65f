import type { ProxyEventLike } from './proxy-events.js';
import type { ProxyTimelineEvent } from './results.js';

/**
 * Turns the proxy's per-exchange `proxy.fault` events into per-second counts and keeps each
 * `proxy.mix` change, so a long blackout costs one event per second, not one per exchange.
 * `flush()` emits what is pending (call it every second and at the end of the run).
 */
export class FaultAggregator {
  private pending = new Map<string, { at: number; proxy: string; behavior: string; count: number }>();

  constructor(private readonly sink: (e: ProxyTimelineEvent) => void) {}

  onProxyEvent(e: ProxyEventLike): void {
    if (e.type === 'proxy.mix') {
      this.sink({ at: e.at, proxy: e.proxy, kind: 'mix', mix: e.mix, ...(e.reason ? { reason: e.reason } : {}) });
    } else if (e.type === 'proxy.fault') {
      const second = Math.floor(e.at / 1000) * 1000;
      const key = `${e.proxy}\u0000${e.behavior}`;
      const p = this.pending.get(key);
      if (p && p.at === second) p.count++;
      else {
        if (p) this.sink({ at: p.at, proxy: p.proxy, kind: 'fault', behavior: p.behavior, count: p.count });
        this.pending.set(key, { at: second, proxy: e.proxy, behavior: e.behavior, count: 1 });
      }
    }
  }

  /** Emit the pending counts of seconds that ended before `now` (all of them by default). */
  flush(now = Infinity): void {
    for (const [key, p] of this.pending) {
      if (p.at + 1000 > now) continue; // that second is still running: more faults may come
      this.sink({ at: p.at, proxy: p.proxy, kind: 'fault', behavior: p.behavior, count: p.count });
      this.pending.delete(key);
    }
  }
}
