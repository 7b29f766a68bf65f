/**
 * What a Connection needs from its proxy (ProxyCore) and the stats a proxy counts: their own
 * module so that connection.ts and proxy.ts do not import each other.
 */
import type { HistogramSummary } from '../stats/histogram.js';
import type { Mix, MixEntry } from './mix.js';
import type { ProxyInfo } from './plugin.js';
import type { Protocol, ProtocolName } from './protocol.js';
import type { Random } from './random.js';

export interface ProxyStats {
  name: string;
  protocol: ProtocolName;
  listen: string;
  upstream: string;
  mix: string;
  connections: { open: number; total: number; refused: number; upstreamErrors: number };
  /** upstream: client -> server bytes; downstream: server -> client bytes. */
  bytes: { upstream: number; downstream: number };
  exchanges: number;
  /** Exchanges (and refused connections) per behavior that acted; `dummy` counts the untouched ones. */
  behaviors: Record<string, number>;
  /**
   * Milliseconds from a request reaching the proxy to its reply reaching the client (the last
   * byte; the first for raw TCP): what the client waited, injected delays and error replies included.
   */
  latency: HistogramSummary;
  /** Connections whose framing gave up (garbage, over-cap message): passed through untouched. */
  fallbacks: number;
}

/** What a Connection needs from its proxy. */
export interface ProxyCore {
  readonly protocol: Protocol;
  /** What the protocol's sessions on this proxy share (Protocol.sessionsShare). */
  readonly shared?: object;
  readonly info: ProxyInfo;
  readonly mix: Mix;
  /** Toxics in force, each a behavior entry with toxicity as its percent. */
  readonly toxics: readonly MixEntry[];
  readonly random: Random;
  readonly pin: 'exchange' | 'connection';
  readonly maxBuffer: number;
  readonly counters: Counters;
  /** The Host a request's head gets (the upstream address), when the proxy rewrites it. */
  readonly hostHeader: string | undefined;
  nextConnectionId(): number;
  count(behavior: string): void;
  /** `exchanges` exchanges took `ms` each (a run's requests answered in one chunk). */
  recordLatency(ms: number, exchanges?: number): void;
  upstreamFailed(err: Error): void;
  /** A connection reached the upstream (its TLS handshake done, if any). */
  upstreamReached(): void;
  /** `c` is the Connection that closed (typed loosely so this module needs no import of it). */
  connectionClosed(c: object): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

export type Counters = Omit<ProxyStats, 'latency' | 'mix' | 'name' | 'protocol' | 'listen' | 'upstream' | 'behaviors'>;
