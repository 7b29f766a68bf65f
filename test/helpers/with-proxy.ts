/**
 * A test's chaos proxy: started on a free loopback port in front of the file's upstream, handed
 * to the test's body, and closed when the body ends, passed or failed, so that no listener
 * outlives its test. What a file's tests share (the upstream, the protocol, the seed, the
 * behaviors a mix may name) is said once, and each test says only its mix:
 *
 *   const withProxy = proxiesTo(() => db.port, { protocol: 'mysql', seed: 1 });
 *   await withProxy('100:error', async (p) => { ... });
 *   await withProxy('', async (p) => { ... }, { upstream: other.port });
 */
import type { BehaviorRegistry, MixSpec } from '../../src/proxy/mix.js';
import type { Proxy, ProxyOptions } from '../../src/proxy/proxy.js';
import { startProxy } from './builtin-proxy.js';

/** A port on loopback, or a host:port. */
export type Upstream = number | string;

/**
 * The proxy's options but its mix, with the upstream as a port or host:port, and the registry of
 * the behaviors its mix may name (the built-ins when left out). The name is the protocol's.
 */
export type ProxyTerms = Partial<Omit<ProxyOptions, 'upstream' | 'behaviors'>> & { upstream?: Upstream; registry?: BehaviorRegistry };

export type WithProxy = (behaviors: MixSpec, body: (p: Proxy) => Promise<void>, terms?: ProxyTerms) => Promise<void>;

/** The in-flight exchanges a closing proxy waits for: the body has ended, none is expected. */
const CLOSE_GRACE_MS = 100;

/**
 * Proxies in front of `upstream`, read when each starts (a file's server starts in beforeAll),
 * on the file's terms; a test's own terms, the third argument, go over them.
 */
export function proxiesTo(upstream: () => Upstream, file: Omit<ProxyTerms, 'upstream'> & Pick<ProxyOptions, 'protocol'>): WithProxy {
  return async (behaviors, body, terms = {}) => {
    const { registry, upstream: to = upstream(), ...options } = { ...file, ...terms };
    const p = await startProxy(
      { name: options.protocol, listen: '127.0.0.1:0', ...options, upstream: typeof to === 'number' ? `127.0.0.1:${to}` : to, behaviors },
      registry && { behaviors: registry },
    );
    try {
      await body(p);
    } finally {
      await p.close(CLOSE_GRACE_MS);
    }
  };
}
