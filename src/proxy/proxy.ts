/**
 * A named proxy: one listener, one upstream, one protocol, one live behavior mix. Many proxies
 * run in one process (see ProxySet). Views read `stats()` snapshots and subscribe to `events`.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Connection } from './connection.js';
import { Histogram, type HistogramJSON } from '../stats/histogram.js';
import { parseMix, type BehaviorRegistry, type Mix, type MixEntry, type MixSpec } from './mix.js';
import { DEFAULT_MAX_CONNECTIONS, type ProxyDeps, type ProxyEvent, type ProxyOptions } from './proxy-options.js';
import type { Behavior, ProxyInfo } from './plugin.js';
import type { Protocol } from './protocol.js';
import { loopsBack } from './loop.js';
import { UpstreamLoopError } from './proxy-errors.js';
import { protocolInfo, protocols } from './protocols/index.js';
import { framesOffsets } from './frames.js';
import { BehaviorCounts } from './behavior-counts.js';
import { loadTls, type ProxyTls } from './tls.js';
import { acceptInto, ReusedReads } from './reused-reads.js';
import { joinHostPort, splitHostPort } from './host-port.js';
import { seededRandom, unseededRandom, type Random } from './random.js';
import { ToxicChain, type Toxic, type ToxicSpec } from './toxics.js';
import { Listener, refusesEveryConnection } from './listener.js';
import type { Counters, ProxyCore, ProxyStats } from './proxy-core.js';

export type { ProxyStats } from './proxy-core.js';

export { UpstreamLoopError };

export { DEFAULT_MAX_CONNECTIONS, type ProxyDeps, type ProxyEvent, type ProxyOptions } from './proxy-options.js';

export class Proxy extends EventEmitter implements ProxyCore {
  readonly protocol: Protocol;
  shared?: object;
  readonly info: ProxyInfo;
  readonly random: Random;
  readonly pin: 'exchange' | 'connection';
  readonly maxBuffer: number;
  readonly maxConnections: number;
  readonly counters: Counters = {
    connections: { open: 0, total: 0, refused: 0, upstreamErrors: 0 },
    bytes: { upstream: 0, downstream: 0 },
    exchanges: 0,
    fallbacks: 0,
  };
  private readonly behaviorCounts = new BehaviorCounts();
  mix: Mix;
  /** The chain's behavior entries, kept here for connections to read per exchange. */
  toxics: readonly MixEntry[] = [];
  private readonly chain: ToxicChain;
  private enabled = true;
  private readonly registry: BehaviorRegistry;
  private readonly latency = new Histogram();
  private readonly connections = new Set<Connection>();
  private readonly listener = new Listener({
    listenOn: () => ({ host: this.listenHost, port: this.listenPort }),
    bound: async (port) => {
      this.listenPort = port;
      if (await this.loopsBack()) throw new UpstreamLoopError(this.name, this.upstream, this.listenAddress);
    },
    accept: (s) => this.onConnection(s),
    wantsOpen: () => this.enabled && !this.closing && !this.refusesAll,
    log: (level, message) => this.log(level, message),
  });
  private connectionIds = 0;
  private readonly sentByClosed = { upstream: 0, downstream: 0 };
  private upstreamHost: string;
  private upstreamPort: number;
  private listenHost: string;
  private listenPort: number;
  private closing = false;
  /** At max_connections: warned once until a connection is accepted again. */
  private full = false;
  /**
   * The upstream failure last said: the same again is only counted, until a connection reaches
   * the upstream. A backend down under load would otherwise print a line per client connection.
   */
  private upstreamSaid?: string;
  /** Offset framers hold nothing of a chunk but what buffered() counts: read into a reused buffer. */
  private readonly readsReused: boolean;
  private readonly tls?: ProxyTls;

  constructor(readonly options: ProxyOptions, deps: ProxyDeps) {
    super();
    this.protocol = protocols[options.protocol];
    if (!this.protocol) throw new Error(`unknown protocol "${options.protocol}"`);
    this.shared = this.protocol.sessionsShare?.();
    if (options.tls || options.upstreamTls) this.tls = loadTls(options.tls, options.upstreamTls, options.tlsTerms);
    // A TLS socket reads through OpenSSL, into buffers of its own.
    this.readsReused = framesOffsets(this.protocol.createSession()) && !this.tls;
    this.registry = deps.behaviors;
    this.info = { name: options.name, ...protocolInfo(options.protocol) };
    this.chain = new ToxicChain(this.registry, this.info);
    this.random = options.seed === undefined ? unseededRandom() : seededRandom(options.seed);
    this.pin = options.pin ?? 'exchange';
    this.maxBuffer = options.maxBuffer ?? 1024 * 1024;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.mix = parseMix(options.behaviors, this.registry, { protocol: this.info });
    [this.listenHost, this.listenPort] = splitHostPort(options.listen);
    [this.upstreamHost, this.upstreamPort] = splitHostPort(options.upstream);
    // Kept up to date here rather than asked per exchange: listenerCount() was a call and a
    // lookup for every exchange, whether anyone listened or not (nearly always not).
    this.on('newListener', (name: string | symbol) => {
      if (name === 'event') this.watched = true;
    });
    this.on('removeListener', (name: string | symbol) => {
      if (name === 'event') this.watched = this.listenerCount('event') > 0;
    });
  }

  /** Someone listens to 'event': per-exchange events are worth making. */
  private watched = false;

  get name(): string {
    return this.options.name;
  }

  /** The port actually bound (after listen port 0). */
  get port(): number {
    return this.listenPort;
  }

  get listenAddress(): string {
    return joinHostPort(this.listenHost, this.listenPort);
  }

  get upstream(): string {
    return joinHostPort(this.upstreamHost, this.upstreamPort);
  }

  get hostHeader(): string | undefined {
    return this.options.rewriteHost ? this.upstream : undefined;
  }

  get behaviorNames(): string[] {
    return [...this.registry.keys()];
  }

  behavior(name: string): Behavior | undefined {
    return this.registry.get(name);
  }

  /**
   * Bind the listener. While the proxy refuses every new connection it closes again at once (the
   * address checked, the port known) and opens when the mix or the toxics let connections in.
   */
  listen(): Promise<void> {
    return this.listener.listen();
  }

  /** Whether every new connection is refused now (refusesEveryConnection): the listener is closed. */
  get refusesAll(): boolean {
    return refusesEveryConnection(this.mix, this.toxics);
  }

  /**
   * Settles once the listener follows the last mix or toxic change (reopened when a `down`
   * toxic went, say); rejects if it could not bind again. The toxic methods are synchronous: a
   * caller that answers a client (the control APIs) awaits this before answering.
   */
  listenerReady(): Promise<void> {
    return this.listener.ready();
  }

  /** Whether `upstream` (default: the current one) is this proxy's own listen address. */
  loopsBack(upstream = this.upstream): Promise<boolean> {
    return loopsBack([this.listenHost, this.listenPort], splitHostPort(upstream));
  }

  /**
   * Swap the mix atomically: the next exchange draws from the new one; open connections stay
   * open (pinned ones keep their draw). At 100 % `down` (or with a `down` toxic at toxicity 1)
   * the listener closes, so clients get a real "connection refused"; a change that lets
   * connections in opens it again (Listener.sync). `reason` (e.g. "chaos outage: step") goes with
   * the change to the report's fault timeline.
   */
  async setMix(spec: MixSpec, reason?: string): Promise<Mix> {
    const mix = parseMix(spec, this.registry, { previous: this.mix, protocol: this.info });
    this.mix = mix;
    this.emitEvent({ type: 'proxy.mix', proxy: this.name, mix: this.describe(), at: Date.now(), ...(reason ? { reason } : {}) });
    await this.listener.sync();
    return mix;
  }

  // ---- toxics (Toxiproxy's chain, toxics.ts) ----

  listToxics(): readonly Toxic[] {
    return this.chain.toxics;
  }

  addToxic(spec: ToxicSpec): Toxic {
    return this.toxicsChanged(this.chain.add(spec));
  }

  updateToxic(name: string, patch: { attributes?: Record<string, unknown>; toxicity?: number }): Toxic {
    return this.toxicsChanged(this.chain.update(name, patch));
  }

  removeToxic(name: string): void {
    const gone = this.toxicsChanged(this.chain.remove(name));
    // Toxiproxy's timeout toxic closes every connection of its proxy when removed (its Cleanup
    // hook): the bytes it swallowed would leave the stream corrupt if traffic resumed.
    if (gone.type === 'timeout') for (const c of this.connections) c.destroy();
  }

  private toxicsChanged(t: Toxic): Toxic {
    this.toxics = this.chain.entries();
    this.emitEvent({ type: 'proxy.mix', proxy: this.name, mix: this.describe(), at: Date.now() });
    // A `down` toxic at toxicity 1 closes the listener, as a 100 % `down` mix does; its removal
    // reopens it. A failed reopen is logged here and reported by listenerReady().
    this.listener.sync().catch((err: Error) => this.log('error', `listener: ${err.message}`));
    return t;
  }

  /** The mix and the toxics in one line, for events and timelines. */
  describe(): string {
    const toxics = this.chain.describe();
    return toxics.length ? `${this.mix.text} +${toxics.join('+')}` : this.mix.text;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Toxiproxy's enabled flag: disabling closes the listener and every open connection. */
  async setEnabled(enabled: boolean): Promise<void> {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    if (enabled) {
      await this.listen();
      return;
    }
    const shut = this.listener.shut();
    for (const c of this.connections) c.destroy();
    await shut;
  }

  /** Point the proxy at another server; open connections keep theirs. */
  setUpstream(upstream: string): void {
    [this.upstreamHost, this.upstreamPort] = splitHostPort(upstream);
    // What the old server's sessions saw (redis' functions and scripts) is not the new one's.
    this.shared = this.protocol.sessionsShare?.();
  }

  /** A snapshot: a copy that later traffic does not change. */
  stats(): ProxyStats {
    const l = this.latency.summary();
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      name: this.name,
      protocol: this.options.protocol,
      listen: this.listenAddress,
      upstream: this.upstream,
      mix: this.mix.text,
      ...structuredClone(this.counters),
      behaviors: this.behaviorCounts.snapshot(),
      latency: { count: l.count, min: ms(l.min), max: ms(l.max), mean: ms(l.mean), p50: ms(l.p50), p90: ms(l.p90), p95: ms(l.p95), p99: ms(l.p99) },
    };
  }

  /** Exchange latencies so far, in microseconds (monitors difference two copies for a live p95). */
  latencyBuckets(): HistogramJSON {
    return this.latency.toJSON();
  }

  /**
   * Stop accepting, let in-flight exchanges finish for up to `graceMs`, then cut what is left.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    const closed = this.listener.shut();
    const deadline = Date.now() + graceMs;
    while ([...this.connections].some((c) => c.busy()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of this.connections) c.destroy();
    await closed;
  }

  // ---- ProxyCore ----

  nextConnectionId(): number {
    return ++this.connectionIds;
  }

  count(behavior: string): void {
    if (this.behaviorCounts.add(behavior) && this.watched) {
      this.emitEvent({ type: 'proxy.fault', proxy: this.name, behavior, at: Date.now() });
    }
  }

  recordLatency(ms: number, exchanges = 1): void {
    this.latency.record(ms * 1000, exchanges);
    if (this.watched) for (let k = 0; k < exchanges; k++) this.emitEvent({ type: 'proxy.exchange', proxy: this.name, latencyMs: ms });
  }

  upstreamFailed(err: Error): void {
    this.counters.connections.upstreamErrors++;
    const said = this.tls?.upstreamFailure(this.upstream, err) ?? `upstream ${this.upstream} unreachable: ${err.message}`;
    if (said === this.upstreamSaid) return;
    this.upstreamSaid = said;
    this.log('warn', `${said} (said once until it answers again; upstream-errors counts the connections it fails)`);
  }

  upstreamReached(): void {
    this.upstreamSaid = undefined;
  }

  connectionClosed(c: Connection): void {
    if (!this.connections.delete(c)) return;
    this.counters.connections.open--;
    const sent = c.sentBytes();
    this.sentByClosed.upstream += sent.upstream;
    this.sentByClosed.downstream += sent.downstream;
  }

  /**
   * Bytes written on, per direction (upstream: to the server, downstream: to the client), open
   * connections included. They differ from the bytes received (`stats().bytes`) by what the
   * behaviors dropped, cut or injected.
   */
  sentBytes(): { upstream: number; downstream: number } {
    const total = { ...this.sentByClosed };
    for (const c of this.connections) {
      const sent = c.sentBytes();
      total.upstream += sent.upstream;
      total.downstream += sent.downstream;
    }
    return total;
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    this.emitEvent({ type: 'proxy.log', proxy: this.name, level, message, at: Date.now() });
  }

  private emitEvent(e: ProxyEvent): void {
    this.emit('event', e);
  }

  private onConnection(client: net.Socket): void {
    if (this.closing) {
      client.destroy();
      return;
    }
    if (this.counters.connections.open >= this.maxConnections) {
      this.counters.connections.refused++;
      if (!this.full) this.log('warn', `${this.maxConnections} connections open (max_connections): refusing new ones until some close`);
      this.full = true;
      client.destroy();
      return;
    }
    this.full = false;
    const reads = this.readsReused ? new ReusedReads() : undefined;
    let server = net.connect({ host: this.upstreamHost, port: this.upstreamPort, allowHalfOpen: true, onread: reads?.onread });
    const accepted = this.readsReused ? acceptInto(client) : undefined;
    if (accepted) client = accepted.socket;
    if (this.tls) [server, client] = [this.tls.connectUpstream(this.upstreamHost, server), this.tls.acceptClient(client, (line) => this.log('warn', line))];
    const conn = new Connection(this, client, server, reads, accepted?.reads);
    this.connections.add(conn);
    this.counters.connections.open++;
    this.counters.connections.total++;
    conn.accept(this.mix).then(
      () => client.resume(),
      (err) => {
        this.log('error', `connection ${conn.id}: ${String(err)}`);
        conn.destroy();
      },
    );
  }
}

export async function startProxy(options: ProxyOptions, deps: ProxyDeps): Promise<Proxy> {
  const proxy = new Proxy(options, deps);
  await proxy.listen();
  return proxy;
}
