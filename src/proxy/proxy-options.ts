/**
 * What a proxy is given (its options, the behaviors it may name) and the events it emits: the
 * boundary its callers (ProxySet, the CLI, the control APIs) are typed against.
 */
import type { BehaviorRegistry, MixSpec } from './mix.js';
import type { ProtocolName } from './protocol.js';
import type { ListenTls, TlsTerms, UpstreamTls } from './tls.js';

export interface ProxyOptions {
  name: string;
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  /** host:port of the real server. */
  upstream: string;
  protocol: ProtocolName;
  behaviors?: MixSpec;
  /** Draw once per connection instead of once per exchange. */
  pin?: 'exchange' | 'connection';
  /** Makes the draw sequence replayable. */
  seed?: number | string;
  /** Per-connection cap on bytes a framer may hold for one message before falling back to pass-through. */
  maxBuffer?: number;
  /** Write the upstream address into each request's Host header (HTTP; Vaurien's overwrite_host_header). */
  rewriteHost?: boolean;
  /** Open connections at most; more are refused at accept (default DEFAULT_MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Clients speak TLS to the proxy, which shows them this certificate. */
  tls?: ListenTls;
  /** The proxy speaks TLS to the server. */
  upstreamTls?: UpstreamTls;
  /** How its TLS hints name the settings: 'flags' for a proxy set up by the command line's. */
  tlsTerms?: TlsTerms;
}

/**
 * Enough for any load test a proxy sits in, low enough that a loop or a flood through one proxy
 * leaves file descriptors for the others and the control API (each connection holds two).
 */
export const DEFAULT_MAX_CONNECTIONS = 1000;

/** What a proxy is handed by its caller. */
export interface ProxyDeps {
  /** The behaviors its mix and toxics may name: the built-ins (behaviors/index.ts) and any plugins. */
  behaviors: BehaviorRegistry;
}

export type ProxyEvent =
  | { type: 'proxy.fault'; proxy: string; behavior: string; at: number }
  | { type: 'proxy.exchange'; proxy: string; latencyMs: number }
  | { type: 'proxy.mix'; proxy: string; mix: string; at: number; reason?: string }
  | { type: 'proxy.log'; proxy: string; level: 'info' | 'warn' | 'error'; message: string; at: number };
