/**
 * startProxy as the CLI calls it, with the built-in behaviors: proxy/ is handed its registry
 * and knows no behavior by name (behaviors/index.ts holds the built-ins, above it).
 */
import { defaultRegistry } from '../../behaviors/index.js';
import { startProxy as start, type Proxy, type ProxyDeps, type ProxyOptions } from '../../src/proxy/proxy.js';

export function startProxy(options: ProxyOptions, deps: ProxyDeps = { behaviors: defaultRegistry }): Promise<Proxy> {
  return start(options, deps);
}
