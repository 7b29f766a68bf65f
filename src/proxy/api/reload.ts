/**
 * Hot reload: apply an edited proxies config to running proxies, all or nothing. New listeners
 * are bound first (any failure undoes them and leaves everything as it was), then every mix,
 * upstream and proxy swap happens in one synchronous pass, then the proxies that left the file
 * are closed. Proxies created over the API are left alone unless the file now names them.
 */
import { specOfMix, type BehaviorRegistry, type MixSpec } from '../mix.js';
import type { Behavior } from '../plugin.js';
import type { Proxy, ProxyOptions } from '../proxy.js';
import { listenOrThrow, type ProxySet } from '../proxy-set.js';
import { sameTls } from '../tls.js';
import { ControlError } from './control-errors.js';

export interface ReloadReport {
  added: string[];
  /** Restarted: listen, protocol, pin, seed, max_buffer or max_connections changed. */
  replaced: string[];
  /** Mix or upstream changed in place. */
  updated: string[];
  removed: string[];
  warnings: string[];
}

/** What a reload reads of a proxies file (the config loader's ProxiesConfig is one). */
export interface ReloadConfig {
  proxies: ProxyOptions[];
  /** The registry the config was validated against, when its plugins changed it. */
  registry?: BehaviorRegistry;
}

export interface ReloadState {
  set: ProxySet;
  /** The live registry; its content is swapped for the new config's (and back on failure). */
  registry: Map<string, Behavior>;
  /** The proxies of the running config, as configured. */
  managed: ReadonlyMap<string, ProxyOptions>;
}

export async function applyReload(state: ReloadState, next: ReloadConfig): Promise<ReloadReport> {
  const { set, registry, managed } = state;
  const report: ReloadReport = { added: [], replaced: [], updated: [], removed: [], warnings: [] };
  const nextRegistry = next.registry ?? registry;
  const changedBehaviors = new Set<string>();
  for (const [name, b] of registry) if (nextRegistry.get(name) !== b) changedBehaviors.add(name);
  for (const [name, b] of nextRegistry) if (registry.get(name) !== b) changedBehaviors.add(name);

  const wanted = new Map(next.proxies.map((o) => [o.name, o]));
  const added: ProxyOptions[] = [];
  const replaced: ProxyOptions[] = [];
  const mixes = new Map<string, MixSpec>();
  const upstreams = new Map<string, string>();
  for (const o of next.proxies) {
    const live = set.get(o.name);
    const before = managed.get(o.name);
    if (!live) added.push(o);
    else if (!before || structural(before, o)) replaced.push(o);
    else {
      if (JSON.stringify(before.behaviors ?? '') !== JSON.stringify(o.behaviors ?? '')) mixes.set(o.name, o.behaviors ?? '');
      if (before.upstream !== o.upstream) upstreams.set(o.name, o.upstream);
    }
  }
  const removed = [...managed.keys()].filter((n) => !wanted.has(n) && set.get(n));

  // Proxies that stay keep their live mix and toxics: those must still resolve in the new registry.
  const staying = [...set.proxies.values()].filter((p) => !removed.includes(p.name) && !replaced.some((o) => o.name === p.name));
  for (const p of staying) {
    const uses = [...(mixes.has(p.name) ? [] : p.mix.entries.map((e) => e.behavior.name)), ...p.listToxics().map((t) => t.type)];
    const gone = uses.find((n) => !nextRegistry.has(n));
    if (gone) throw new ControlError(`proxy "${p.name}" still uses the behavior "${gone}", which the new config no longer provides; change its mix or toxics first`);
  }

  const previous = new Map(registry);
  swapContent(registry, nextRegistry);
  const started: Proxy[] = [];
  const stopped: Proxy[] = [];
  const olds: Proxy[] = [];
  try {
    for (const o of added) {
      const p = set.create(o);
      await listenOrThrow(p);
      started.push(p);
    }
    for (const o of replaced) {
      const old = set.get(o.name)!;
      olds.push(old);
      const fresh = set.create(o);
      for (const t of old.listToxics()) fresh.addToxic(t);
      if (old.isEnabled) {
        await old.setEnabled(false);
        stopped.push(old);
      }
      await listenOrThrow(fresh);
      started.push(fresh);
    }
  } catch (e) {
    for (const p of started) await p.close(0);
    for (const p of stopped) await p.setEnabled(true).catch(() => undefined);
    swapContent(registry, previous);
    throw e;
  }

  // Commit, in one synchronous pass.
  for (const p of started) set.insert(p);
  const pending: Promise<unknown>[] = [];
  for (const [name, spec] of mixes) pending.push(set.get(name)!.setMix(spec));
  for (const [name, upstream] of upstreams) set.get(name)!.setUpstream(upstream);
  if (changedBehaviors.size) {
    // Edited plugins: proxies pick up the new code, keeping their live mix and toxics.
    for (const p of staying) {
      if (!mixes.has(p.name) && p.mix.entries.some((e) => changedBehaviors.has(e.behavior.name))) pending.push(p.setMix(specOfMix(p.mix)));
      for (const t of p.listToxics()) if (changedBehaviors.has(t.type)) p.updateToxic(t.name, {});
    }
  }
  for (const r of await Promise.allSettled(pending)) {
    if (r.status === 'rejected') report.warnings.push(String((r.reason as Error)?.message ?? r.reason));
  }
  for (const old of olds) await old.close(0);
  for (const name of removed) await set.remove(name, 0);

  report.added = added.map((o) => o.name);
  report.replaced = replaced.map((o) => o.name);
  report.updated = [...new Set([...mixes.keys(), ...upstreams.keys()])];
  report.removed = removed;
  return report;
}

function structural(a: ProxyOptions, b: ProxyOptions): boolean {
  return a.listen !== b.listen || a.protocol !== b.protocol || a.pin !== b.pin
    || String(a.seed) !== String(b.seed) || a.maxBuffer !== b.maxBuffer || a.maxConnections !== b.maxConnections
    || a.rewriteHost !== b.rewriteHost || !sameTls(a, b);
}

function swapContent<K, V>(target: Map<K, V>, source: ReadonlyMap<K, V>): void {
  if (target === source) return;
  const copy = new Map(source);
  target.clear();
  for (const [k, v] of copy) target.set(k, v);
}
