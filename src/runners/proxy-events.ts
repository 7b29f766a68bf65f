/**
 * What the proxy emits as `event` (src/proxy/proxy.ts ProxyEvent), as far as runners read it.
 * An exchange carries no time (one per exchange, made only while someone listens): a listener
 * times it on its own clock, synchronously, as the proxy emits it. A module of its own: the
 * timeline and its fault aggregator both read it.
 */
export type ProxyEventLike =
  | { type: 'proxy.fault'; proxy: string; behavior: string; at: number }
  | { type: 'proxy.mix'; proxy: string; mix: string; at: number; reason?: string }
  | { type: 'proxy.exchange'; proxy: string }
  | { type: 'proxy.log'; proxy: string; at: number };

export interface ProxyEventSource {
  on(event: 'event', listener: (e: ProxyEventLike) => void): unknown;
  off(event: 'event', listener: (e: ProxyEventLike) => void): unknown;
}
