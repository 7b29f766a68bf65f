/**
 * `marteau-tui proxy --config FILE --watch`: the file (and its plugins) reloaded on each edit and
 * applied to the running proxies, and the words for a listen address a reload finds taken.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildRegistry } from '../../behaviors/index.js';
import { ConfigError, errorAt, parseYaml } from '../config/errors.js';
import { loadProxiesFile, type ProxiesConfig } from '../config/proxies.js';
import { watchFiles, type FileWatcher } from '../config/watch.js';
import type { Control } from '../proxy/api/control.js';
import { splitHostPort } from '../proxy/host-port.js';
import { ListenError, type ProxySet } from '../proxy/proxy-set.js';

/**
 * `--config FILE --watch`: each edit is loaded and checked in full; a valid one is applied at
 * once (see Control.applyConfig), an invalid one is reported with file:line and changes nothing.
 */
export function startWatching(file: string, initial: ProxiesConfig, control: Control, set: ProxySet, io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream }): FileWatcher {
  const watched = (c: ProxiesConfig) => [path.resolve(file), ...(c.pluginPaths ?? [])];
  let running = false;
  let again = false;
  const reload = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      for (let round = 0; round < 10; round++) {
        again = false;
        await reloadOnce();
        if (!again) break;
      }
    } finally {
      running = false;
    }
  };
  const reloadOnce = async () => {
    let next: ProxiesConfig;
    try {
      next = await loadProxiesFile(file, buildRegistry());
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err.write(`config not applied, the running proxies keep the previous one:\n${e.message}\n`);
        return;
      }
      throw e;
    }
    watcher.setFiles(watched(next));
    try {
      const r = await control.applyConfig(next);
      const parts = [
        r.added.length ? `added ${r.added.join(', ')}` : '',
        r.replaced.length ? `restarted ${r.replaced.join(', ')}` : '',
        r.updated.length ? `updated ${r.updated.join(', ')}` : '',
        r.removed.length ? `removed ${r.removed.join(', ')}` : '',
      ].filter(Boolean);
      io.out.write(`config reloaded from ${file}: ${parts.join('; ') || 'no proxy changed'}\n`);
      for (const w of r.warnings) io.err.write(`config reload: ${w}\n`);
      if (JSON.stringify(next.statsd) !== JSON.stringify(initial.statsd) || JSON.stringify(next.api) !== JSON.stringify(initial.api)) {
        io.err.write('config reload: statsd: and api: changes take effect at the next start\n');
      }
    } catch (e) {
      const text = e instanceof ListenError ? listenErrorAt(file, e, set) : `${file}: ${(e as Error).message}`;
      io.err.write(`config not applied, the running proxies keep the previous one:\n${text}\n`);
    }
  };
  const watcher = watchFiles(watched(initial), () => {
    reload().catch((e) => io.err.write(`config reload failed: ${String((e as Error)?.stack ?? e)}\n`));
  });
  return watcher;
}

/**
 * A listen address in use, naming the proxy of this process that holds it when there is one
 * (on a reload, new listeners are bound before the proxies leaving the file are stopped).
 */
export function listenErrorText(e: ListenError, set: ProxySet): string {
  if (e.code !== 'EADDRINUSE') return e.message;
  let wanted: [string, number];
  try {
    wanted = splitHostPort(e.address);
  } catch {
    return e.message;
  }
  const holder = [...set.proxies.values()].find((p) => {
    if (p.name === e.proxy || !p.isEnabled) return false;
    const [host, port] = splitHostPort(p.listenAddress);
    return port === wanted[1] && host === wanted[0];
  });
  if (!holder) return e.message;
  return `proxy "${e.proxy}": ${e.address} is held by the running proxy "${holder.name}"; a reload binds new listeners before it stops or moves old ones: give "${e.proxy}" another port, or free the port in one save and take it in the next`;
}

/**
 * listenErrorText at the proxy's `listen:` in a YAML proxies file (file:line:col), as the file's
 * other mistakes are said; the file alone when that line cannot be found.
 */
export function listenErrorAt(file: string, e: ListenError, set: ProxySet): string {
  const text = listenErrorText(e, set);
  try {
    const src = parseYaml(file, readFileSync(file, 'utf8'));
    return errorAt(src, ['proxies', e.proxy, 'listen'], text.replace(/^proxy "[^"]*": /, '')).message;
  } catch {
    return `${file}: ${text}`;
  }
}
