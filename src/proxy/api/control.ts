/**
 * The control plane shared by the three HTTP APIs and hot reload: proxies created, changed and
 * removed while traffic flows. Structural changes (listeners) run one at a time; chaos changes
 * (mix, toxics) are synchronous swaps that never wait on anything, so neither the API nor the
 * data path is ever blocked by a slow change.
 */
import { EventEmitter } from 'node:events';
import { parseMix, specOfMix, type MixSpec } from '../mix.js';
import type { Behavior } from '../plugin.js';
import type { ProtocolName } from '../protocol.js';
import { PROTOCOL_NAMES } from '../protocol.js';
import { splitHostPort } from '../host-port.js';
import { UpstreamLoopError, type Proxy, type ProxyEvent, type ProxyOptions } from '../proxy.js';
import type { ProxySet } from '../proxy-set.js';
import { compileToxic, ToxicError, type ToxicSpec } from '../toxics.js';
import { sameTls, type ListenTls, type UpstreamTls } from '../tls.js';
import { bindError, checkTls, checkUpstream, ControlError, listenerReady, loopError, normaliseListen, setEnabled } from './control-errors.js';
import { applyReload, type ReloadConfig, type ReloadReport } from './reload.js';
import { messageOf } from '../proxy-errors.js';

export type { ReloadReport } from './reload.js';

export interface ProxySpec {
  name: string;
  listen?: string;
  upstream: string;
  enabled?: boolean;
  /** Ours, not Toxiproxy's: the framing of a proxy created over the API (default tcp). */
  protocol?: ProtocolName;
  /** Ours: clients speak TLS to the proxy (absolute paths of PEM files on the proxy's machine). */
  tls?: ListenTls;
  /** Ours: the proxy speaks TLS to the server; true for Node's CA store. */
  upstreamTls?: UpstreamTls | boolean;
}

export interface ProxyPatch {
  listen?: string;
  upstream?: string;
  enabled?: boolean;
  /**
   * Toxiproxy's semantics: a new upstream stops and restarts the proxy, so its open connections
   * drop (Toxiproxy's Proxy.Update). Without it (Vaurien's PUT /backend) they keep their server.
   */
  restartOnUpstream?: boolean;
}

/** Events for live followers: every proxy's events plus proxies coming and going. */
export type ControlEvent =
  | ProxyEvent
  | { type: 'proxy.added'; proxy: string; at: number }
  | { type: 'proxy.removed'; proxy: string; at: number };

export class Control {
  /** The configured mix of each proxy: what `reset` goes back to. */
  private readonly baseline = new Map<string, MixSpec | undefined>();
  /** Proxies that came from the config file, as configured (hot reload diffs against these). */
  private managed = new Map<string, ProxyOptions>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly hub = new EventEmitter<{ event: [ControlEvent] }>();
  private readonly forwarders = new Map<Proxy, (e: ProxyEvent) => void>();
  /** Proxies that have not bound since they were created or moved: the listen string they were given. */
  private readonly givenListen = new Map<string, string>();

  constructor(
    readonly set: ProxySet,
    /** The live registry the set's proxies resolve behavior names in (hot reload swaps its content). */
    readonly registry: Map<string, Behavior>,
    readonly options: {
      vaurienProxy?: string;
      /** Vaurien's `--behavior-<name>-<option>` values: what PUT /behavior starts from. */
      behaviorDefaults?: Record<string, Record<string, unknown>>;
    } = {},
  ) {
    this.hub.setMaxListeners(0);
    set.on('added', (p) => {
      if (this.hub.listenerCount('event')) this.follow(p);
      this.publish({ type: 'proxy.added', proxy: p.name, at: Date.now() });
    });
    set.on('removed', (p) => {
      this.unfollow(p);
      this.publish({ type: 'proxy.removed', proxy: p.name, at: Date.now() });
    });
  }

  /** Record the proxies a config file started, so that reset and reload know them. */
  adopt(config: ReloadConfig): void {
    this.managed = new Map(config.proxies.map((o) => [o.name, o]));
    for (const o of config.proxies) this.baseline.set(o.name, o.behaviors);
  }

  list(): Proxy[] {
    return [...this.set.proxies.values()];
  }

  get(name: string): Proxy | undefined {
    return this.set.get(name);
  }

  require(name: string): Proxy {
    const p = this.set.get(name);
    if (!p) throw new ControlError('proxy not found', 404);
    return p;
  }

  isManaged(name: string): boolean {
    return this.managed.has(name);
  }

  // ---- structural changes (serialised) -------------------------------------------------

  create(spec: ProxySpec): Promise<Proxy> {
    return this.serial(() => this.createNow(spec));
  }

  update(name: string, patch: ProxyPatch): Promise<Proxy> {
    return this.serial(async () => {
      let p = this.require(name);
      if (patch.upstream !== undefined) {
        const upstream = checkUpstream(patch.upstream, 'upstream');
        if (upstream !== p.upstream) {
          if (await p.loopsBack(upstream)) throw loopError(new UpstreamLoopError(p.name, upstream, p.listenAddress));
          p.setUpstream(upstream);
          if (patch.restartOnUpstream && p.isEnabled) {
            await p.setEnabled(false);
            await setEnabled(p, true);
          }
        }
      }
      const enabled = patch.enabled ?? p.isEnabled;
      const listen = patch.listen === undefined ? undefined : normaliseListen(patch.listen);
      if (listen !== undefined && listen !== p.listenAddress) {
        p = await this.relisten(p, listen, enabled);
        if (!enabled) this.givenListen.set(name, patch.listen!);
      } else if (enabled !== p.isEnabled) {
        await setEnabled(p, enabled);
      }
      if (p.isEnabled) this.givenListen.delete(name);
      return p;
    });
  }

  remove(name: string): Promise<void> {
    return this.serial(async () => {
      this.require(name);
      await this.removeNow(name);
    });
  }

  /**
   * Toxiproxy's populate: the required fields of every entry are checked first; then each entry
   * is applied in turn. An existing proxy with the same listen and upstream is kept as it is
   * (toxics too), a different one is replaced. `enabled: false` creates the proxy disabled. As in
   * Toxiproxy, a failure partway (a bad or busy listen address) keeps the entries before it and
   * reports them with the error.
   */
  populate(specs: ProxySpec[]): Promise<{ proxies: Proxy[]; error?: ControlError }> {
    return this.serial(async () => {
      specs.forEach((s, i) => {
        if (!s.name) throw new ControlError(`missing required field: name at proxy ${i + 1}`);
        if (!s.upstream) throw new ControlError(`missing required field: upstream at proxy ${i + 1}`);
      });
      const done: Proxy[] = [];
      for (const [i, s] of specs.entries()) {
        try {
          const upstream = checkUpstream(s.upstream, `upstream at proxy ${i + 1}`);
          const listen = normaliseListen(s.listen, `listen at proxy ${i + 1}`);
          const secured = checkTls(s.tls, s.upstreamTls);
          const existing = this.set.get(s.name);
          const same = existing
            && existing.listenAddress === listen
            && existing.upstream === upstream
            && (s.protocol === undefined || s.protocol === existing.options.protocol)
            && sameTls(existing.options, secured);
          if (existing && same) {
            done.push(existing);
            continue;
          }
          if (existing) await this.removeNow(s.name);
          done.push(await this.createNow(s, secured));
        } catch (e) {
          return { proxies: done, error: e instanceof ControlError ? e : new ControlError(messageOf(e), 500) };
        }
      }
      return { proxies: done };
    });
  }

  /**
   * The listen address as Toxiproxy shows it: a proxy that has never bound shows the string it
   * was given (`localhost:3310`, even `""`); once started, the address bound (`127.0.0.1:3310`).
   */
  shownListen(p: Proxy): string {
    return this.givenListen.get(p.name) ?? p.listenAddress;
  }

  /** Toxiproxy's reset: every proxy enabled, every toxic removed; ours also restores the configured mix. */
  reset(): Promise<void> {
    return this.serial(async () => {
      for (const p of this.list()) {
        for (const t of p.listToxics()) p.removeToxic(t.name);
        const mix = this.baseline.get(p.name);
        const same = JSON.stringify(specOfMix(parseMix(mix, this.registry, { protocol: p.info }))) === JSON.stringify(specOfMix(p.mix));
        if (!same) await p.setMix(mix ?? '');
        if (!p.isEnabled) await setEnabled(p, true);
        else await listenerReady(p);
        this.givenListen.delete(p.name);
      }
    });
  }

  // ---- chaos changes (synchronous swaps) ------------------------------------------------

  /**
   * Set a proxy's mix and/or its whole toxic list in one go: everything is validated first, then
   * swapped in the same tick, so no exchange ever sees half of the change.
   */
  async setChaos(name: string, change: { mix?: MixSpec; toxics?: ToxicSpec[] }): Promise<Proxy> {
    const p = this.require(name);
    if (change.mix !== undefined) parseMix(change.mix, this.registry, { previous: p.mix, protocol: p.info });
    if (change.toxics) {
      const names = new Set<string>();
      change.toxics.forEach((t, i) => {
        let compiled;
        try {
          compiled = compileToxic(t, this.registry, p.info);
        } catch (e) {
          if (e instanceof ToxicError) throw new ControlError(e.message, e.status, `toxics.${i}`);
          throw e;
        }
        if (names.has(compiled.name)) throw new ControlError(`toxic already exists: two toxics named "${compiled.name}"`, 409, `toxics.${i}.name`);
        names.add(compiled.name);
      });
      for (const t of p.listToxics()) p.removeToxic(t.name);
      for (const t of change.toxics) p.addToxic(t);
    }
    if (change.mix !== undefined) await p.setMix(change.mix);
    // A `down` toxic gone or added: the listener follows before the answer.
    await listenerReady(p);
    return p;
  }

  /** What `reset` would restore for this proxy. */
  configuredMix(name: string): MixSpec | undefined {
    return this.baseline.get(name);
  }

  // ---- live events ---------------------------------------------------------------------

  /** Follow every proxy's events (also of proxies added later) until the returned function is called. */
  subscribe(listener: (e: ControlEvent) => void): () => void {
    if (this.hub.listenerCount('event') === 0) for (const p of this.list()) this.follow(p);
    this.hub.on('event', listener);
    return () => {
      this.hub.off('event', listener);
      // Without followers, proxies skip building per-exchange events (see Proxy.count).
      if (this.hub.listenerCount('event') === 0) for (const p of [...this.forwarders.keys()]) this.unfollow(p);
    };
  }

  private publish(e: ControlEvent): void {
    this.hub.emit('event', e);
  }

  private follow(p: Proxy): void {
    if (this.forwarders.has(p)) return;
    const f = (e: ProxyEvent) => this.publish(e);
    this.forwarders.set(p, f);
    p.on('event', f);
  }

  private unfollow(p: Proxy): void {
    const f = this.forwarders.get(p);
    if (!f) return;
    p.off('event', f);
    this.forwarders.delete(p);
  }

  // ---- hot reload ----------------------------------------------------------------------

  /**
   * Apply an edited config atomically: new listeners are bound first (any failure undoes them
   * and leaves everything as it was), then every mix, upstream and proxy swap happens in one
   * synchronous pass, then the proxies that left the file are closed. Proxies created over the
   * API are left alone unless the file now names them.
   */
  applyConfig(next: ReloadConfig): Promise<ReloadReport> {
    return this.serial(async () => {
      const report = await applyReload({ set: this.set, registry: this.registry, managed: this.managed }, next);
      for (const name of report.removed) this.baseline.delete(name);
      for (const o of next.proxies) this.baseline.set(o.name, o.behaviors);
      this.managed = new Map(next.proxies.map((o) => [o.name, o]));
      return report;
    });
  }

  // ---- internals -----------------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `secured`: the spec's TLS settings, when populate has checked them already (to compare them). */
  private async createNow(spec: ProxySpec, secured?: ReturnType<typeof checkTls>): Promise<Proxy> {
    if (this.set.get(spec.name)) throw new ControlError('proxy already exists', 409);
    if (spec.name.includes('/')) throw new ControlError('bad request body: name: a proxy name cannot contain "/"');
    // NUL or a newline would cut or forge lines in logs, stats and the TUI.
    if (/[\x00-\x1f\x7f]/.test(spec.name)) throw new ControlError('bad request body: name: a proxy name cannot contain control characters (NUL, newline, ...)', 400, 'name');
    if (spec.protocol !== undefined && !(PROTOCOL_NAMES as readonly string[]).includes(spec.protocol)) {
      throw new ControlError(`bad request body: protocol: unknown protocol "${spec.protocol}"; use one of ${PROTOCOL_NAMES.join(', ')}`);
    }
    const options: ProxyOptions = {
      name: spec.name,
      listen: normaliseListen(spec.listen),
      upstream: checkUpstream(spec.upstream, 'upstream'),
      protocol: spec.protocol ?? 'tcp',
      ...(secured ?? checkTls(spec.tls, spec.upstreamTls)),
    };
    try {
      const p = await this.set.add(options, { enabled: spec.enabled !== false });
      this.baseline.set(p.name, undefined);
      if (!onLoopback(options.listen)) {
        // The bound address: with port 0 asked, the port others can reach is the one the kernel gave.
        p.log('warn', `listens on ${p.listenAddress}, reachable from other machines: anyone who can reach it can use ${options.upstream} through it`);
      }
      if (spec.enabled === false) this.givenListen.set(p.name, spec.listen ?? '');
      return p;
    } catch (e) {
      throw e instanceof UpstreamLoopError ? loopError(e) : bindError(e);
    }
  }

  private async removeNow(name: string): Promise<void> {
    await this.set.remove(name, 0);
    this.baseline.delete(name);
    this.givenListen.delete(name);
    this.managed.delete(name);
  }

  /**
   * Toxiproxy restarts a proxy whose listen address changes (its connections drop); the toxics
   * and the live mix move to the new listener. If the new address cannot be bound, the old
   * listener comes back.
   */
  private async relisten(old: Proxy, listen: string, enabled: boolean): Promise<Proxy> {
    const fresh = this.set.create({ ...old.options, listen, upstream: old.upstream });
    await fresh.setEnabled(false);
    await fresh.setMix(specOfMix(old.mix));
    for (const t of old.listToxics()) fresh.addToxic(t);
    const wasEnabled = old.isEnabled;
    await old.setEnabled(false);
    if (enabled) {
      try {
        await setEnabled(fresh, true);
      } catch (e) {
        if (wasEnabled) await old.setEnabled(true).catch(() => undefined);
        throw e;
      }
      // A proxy refusing every connection (100 % `down`, a `down` toxic) binds, then closes again.
    }
    this.set.insert(fresh);
    await old.close(0);
    return fresh;
  }
}

function onLoopback(listen: string): boolean {
  const [host] = splitHostPort(listen);
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}
