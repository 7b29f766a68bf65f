/**
 * The `proxies:` section (of `.marteau.yml`, or of a standalone proxies YAML) and `statsd:`.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { MixError, parseMix, type BehaviorRegistry, type MixSpec } from '../proxy/mix.js';
import type { Behavior } from '../proxy/plugin.js';
import { loadPlugins, PluginError } from '../proxy/plugins.js';
import { reservedBehaviors } from '../../behaviors/index.js';
import { PROTOCOL_NAMES } from '../proxy/protocol.js';
import { protocolInfo } from '../proxy/protocols/index.js';
import type { ProxyOptions } from '../proxy/proxy.js';
import type { StatsdOptions } from '../proxy/statsd.js';
import { splitHostPort, UPSTREAM_PORT_0 } from '../proxy/host-port.js';
import { listenTlsSchema, loadTls, tlsOf, TlsConfigError, upstreamTlsSchema } from '../proxy/tls.js';
import { closest, didYouMean } from '../text/closest.js';
import { unreadableWords } from '../fs/errors.js';
import { ConfigErrors } from './config-error.js';
import { ConfigError, errorAt, locate, parseYaml, type SourceDoc } from './errors.js';
import { zodToConfigError } from './zod-errors.js';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const portOf = (v: string) => Number(v.slice(v.lastIndexOf(':') + 1));

const hostPort = z
  .string()
  // A job's `${MARTEAU_SERVICE_...}` is filled when the engine runs it; `proxy --config` reads the file as written.
  .regex(HOST_PORT, { error: (iss) => (String(iss.input).includes('${') ? `expected host:port; "${String(iss.input)}" is a job's reference, filled in only when the engine runs the file (marteau-tui --ci, enqueue): marteau-tui proxy reads it as written` : 'expected host:port, e.g. 127.0.0.1:6379') })
  .refine((v) => !HOST_PORT.test(v) || portOf(v) <= 65535, { error: (iss) => `port ${portOf(String(iss.input))} is over 65535` });

/** A proxy's name: the same rule for config files and `--name` (it is a key in files, a path segment in the APIs). */
export const PROXY_NAME = /^[\w-]+$/;
export const PROXY_NAME_RULE = 'a proxy name is letters, digits, _ and -';
export const proxyNameSchema = z.string().regex(PROXY_NAME, PROXY_NAME_RULE);

/** A behavior mix as written in YAML (checked further by parseMix against the known behaviors). */
export const mixSpecSchema = z.union(
  [z.string(), z.record(z.string(), z.union([z.number(), z.object({ percent: z.number() }).catchall(z.unknown())]))],
  { error: 'expected a behavior mix: "20:delay,10:error" or a map {delay: 20, error: {percent: 10}}' },
);

export const proxySchema = z
  .object({
    listen: hostPort,
    upstream: hostPort.refine((v) => !HOST_PORT.test(v) || portOf(v) !== 0, { error: UPSTREAM_PORT_0 }),
    protocol: z.enum(PROTOCOL_NAMES).default('tcp'),
    behaviors: mixSpecSchema.optional(),
    pin: z.enum(['exchange', 'connection']).default('exchange'),
    seed: z.union([z.number(), z.string()], { error: 'a seed is a number or a word, e.g. seed: 42' }).optional(),
    max_buffer: z.number().int().positive().optional(),
    max_connections: z.number().int().positive().max(1_000_000).optional().describe('open connections at most; more are refused (default 1000)'),
    rewrite_host: z.boolean().optional(),
    tls: listenTlsSchema
      .optional()
      .describe("clients speak TLS to the proxy: the certificate it shows them and its key (PEM files, relative to this file)"),
    upstream_tls: upstreamTlsSchema
      .optional()
      .describe("the proxy speaks TLS to the server: true, or {ca: PEM file, servername: name in its certificate, insecure: true to accept any}"),
  })
  .strict();

/** A proxy's TLS settings with their files resolved against `dir`, checked now: a bad file is an error at its line. */
function proxyTls(src: SourceDoc, name: string, p: z.infer<typeof proxySchema>): Pick<ProxyOptions, 'tls' | 'upstreamTls'> {
  const dir = path.dirname(path.resolve(src.file));
  const { tls, upstreamTls } = tlsOf(p.tls, p.upstream_tls, (file) => path.resolve(dir, file));
  try {
    loadTls(tls, upstreamTls);
  } catch (e) {
    if (!(e instanceof TlsConfigError)) throw e;
    const at = e.option.split('.');
    throw errorAt(src, ['proxies', name, ...at], e.message, at[0] === 'tls' ? 'tls: {cert: server.crt, key: server.key}, PEM files relative to this file' : 'upstream_tls: {ca: ca.crt}, a PEM file relative to this file');
  }
  return { tls, upstreamTls };
}

export const statsdSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(8125),
    prefix: z.string().regex(/^[\w.-]*$/, 'letters, digits, _ . - only').default('marteau'),
    sample_rate: z.number().min(0).max(1).default(1),
  })
  .strict();

/** The control API (`marteau-tui proxy` starts it when this section is present). */
export const apiSchema = z
  .object({
    listen: hostPort.default('127.0.0.1:8474'),
    /** The proxy that Vaurien's bare routes (/behavior, /backend) act on when several run. */
    vaurien_proxy: z.string().optional(),
  })
  .strict();

export const proxiesFileSchema = z.object({
  proxies: z.record(proxyNameSchema, proxySchema),
  statsd: statsdSchema.optional(),
  /** Behavior plugin files (ES modules), relative to the config file. */
  plugins: z.array(z.string().min(1, 'a plugin path cannot be empty')).optional(),
  api: apiSchema.optional(),
});

/** The proxy layer's own type: the schema's output is checked against it where it is built. */
export type StatsdConfig = StatsdOptions;
export type ApiConfig = z.infer<typeof apiSchema>;

export interface ProxiesConfig {
  proxies: ProxyOptions[];
  statsd?: StatsdConfig;
  api?: ApiConfig;
  /** Behaviors loaded from `plugins:` (already checked and guarded). */
  plugins?: Behavior[];
  /** Absolute paths of the plugin files (what `--watch` also watches). */
  pluginPaths?: string[];
  /** The registry the config was validated against: the given one plus the plugins. */
  registry?: BehaviorRegistry;
}

const PROXIES_HINT = 'e.g. proxies: {cache: {listen: 127.0.0.1:16379, upstream: 127.0.0.1:6379, protocol: redis}}';

const HINTS: Record<string, string> = {
  listen: 'the address the proxy accepts connections on, e.g. 127.0.0.1:16379',
  upstream: 'the real server, e.g. 127.0.0.1:6379',
  protocol: `one of ${PROTOCOL_NAMES.join(', ')}`,
  behaviors: 'Vaurien form "20:delay,10:error" or a map {delay: 20, error: {percent: 10, kind: LOADING}}',
};

/** The keys allowed at a path of a proxies file, for "did you mean" hints. */
function proxiesKeysAt(p: readonly (string | number)[]): readonly string[] | undefined {
  if (p.length === 0) return Object.keys(proxiesFileSchema.shape);
  if (p[0] === 'proxies' && p.length === 2) return Object.keys(proxySchema.shape);
  if (p[0] === 'statsd' && p.length === 1) return Object.keys(statsdSchema.shape);
  if (p[0] === 'api' && p.length === 1) return Object.keys(apiSchema.shape);
  return undefined;
}

function proxiesHintAt(p: readonly (string | number)[]): string | undefined {
  if (p[0] === 'api') return 'the control API address, e.g. 127.0.0.1:8474';
  if (p[0] === 'plugins') return 'a list of plugin file paths, relative to this file';
  const field = p.find((k): k is string => typeof k === 'string' && k in HINTS);
  if (field) return HINTS[field];
  return p.length <= 1 && p[0] === 'proxies' ? PROXIES_HINT : undefined;
}

export interface LoadProxiesOptions {
  /**
   * When set, a file that defines no proxy (and no `api:` to create some through) is an error,
   * with this hint: what the caller offers instead (a process that would wait for nothing).
   */
  emptyHint?: string;
}

/** A standalone proxies file (`marteau-tui proxy --config`): its top-level keys are checked too. */
export async function loadProxiesFile(file: string, registry: BehaviorRegistry, opts: LoadProxiesOptions = {}): Promise<ProxiesConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read the file: ${unreadableWords(e)}`, 'check the path given to --config');
  }
  const src = parseYaml(file, text);
  const plugins = await loadConfigPlugins(src, registry);
  const full: BehaviorRegistry = plugins.length ? new Map([...registry, ...plugins.map((b) => [b.name, b] as const)]) : registry;
  const listed = (src.doc.toJS() as { plugins?: unknown } | null)?.plugins;
  const pluginPaths = Array.isArray(listed) ? listed.filter((p): p is string => typeof p === 'string').map((p) => path.resolve(path.dirname(path.resolve(file)), p)) : [];
  return { ...parseProxiesConfig(src, full, { ...opts, standalone: true }), plugins, pluginPaths, registry: full };
}

/**
 * Load `plugins:` before the proxies are checked, since their mixes may name plugin behaviors.
 * A malformed `plugins:` value is left for the schema check to report.
 */
export async function loadConfigPlugins(src: SourceDoc, registry: BehaviorRegistry): Promise<Behavior[]> {
  const list = (src.doc.toJS() as { plugins?: unknown } | null)?.plugins;
  if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' && p !== '')) return [];
  let plugins: Behavior[];
  try {
    plugins = await loadPlugins(list as string[], path.dirname(path.resolve(src.file)), reservedBehaviors);
  } catch (e) {
    if (e instanceof PluginError) throw errorAt(src, ['plugins', e.index], e.message, 'see behaviors/README.md for how to write a plugin');
    throw e;
  }
  for (const [i, b] of plugins.entries()) {
    if (registry.has(b.name)) {
      throw errorAt(src, ['plugins', i], `plugin ${path.resolve(path.dirname(src.file), list[i] as string)}: the name "${b.name}" is already taken; pick another name`);
    }
  }
  return plugins;
}

export interface ParseProxiesOptions extends LoadProxiesOptions {
  /**
   * The document is a proxies file of its own (not a `.marteau.yml`, whose schema checks its
   * keys): a top-level key spelt like a known one (`proxy:`) is reported with the key it meant.
   */
  standalone?: boolean;
}

export function parseProxiesConfig(src: SourceDoc, registry: BehaviorRegistry, opts: ParseProxiesOptions = {}): ProxiesConfig {
  const data = src.doc.toJS() as unknown;
  const parsed = proxiesFileSchema.safeParse(data);
  const misspelt = opts.standalone ? misspeltTopKeys(data) : [];
  if (!parsed.success || misspelt.length) {
    const first = parsed.error?.issues[0];
    if (first && first.path.length === 0 && first.code === 'invalid_type') throw errorAt(src, [], 'expected a map with a `proxies:` section', PROXIES_HINT);
    const known = Object.keys(proxiesFileSchema.shape);
    const errors = misspelt.map(({ key, meant }) =>
      errorAt(src, [key], `unknown key "${key}"; did you mean "${meant}"?`, `known keys here: ${known.join(', ')}`, true));
    // The `proxies:` that `proxy:` leaves missing is the same mistake, already shown with its fix.
    const rest = (parsed.error?.issues ?? []).filter((i) => !(i.code === 'invalid_type' && i.path.length === 1 && misspelt.some((m) => m.meant === i.path[0])
      && (data as Record<string, unknown>)[String(i.path[0])] === undefined));
    if (rest.length) {
      const e = zodToConfigError(src, data, new z.ZodError(rest), { knownKeys: proxiesKeysAt, hint: proxiesHintAt });
      errors.push(...(e instanceof ConfigErrors ? e.all : [e]));
    }
    errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
    throw errors.length === 1 ? errors[0] : new ConfigErrors(errors);
  }
  const proxies = Object.entries(parsed.data.proxies).map(([name, p]): ProxyOptions => {
    try {
      parseMix(p.behaviors as MixSpec | undefined, registry, { protocol: protocolInfo(p.protocol) });
    } catch (e) {
      if (e instanceof MixError) throw errorAt(src, ['proxies', name, 'behaviors', ...e.path], e.message, HINTS.behaviors);
      throw e;
    }
    return {
      name,
      listen: p.listen,
      upstream: p.upstream,
      protocol: p.protocol,
      behaviors: p.behaviors as MixSpec | undefined,
      pin: p.pin,
      seed: p.seed,
      maxBuffer: p.max_buffer,
      maxConnections: p.max_connections,
      rewriteHost: p.rewrite_host,
      ...proxyTls(src, name, p),
    };
  });
  checkDistinctListens(src, proxies);
  if (opts.emptyHint !== undefined && proxies.length === 0 && !parsed.data.api) {
    throw errorAt(src, ['proxies'], 'no proxy defined', opts.emptyHint);
  }
  const target = parsed.data.api?.vaurien_proxy;
  if (target !== undefined && !proxies.some((p) => p.name === target)) {
    throw errorAt(src, ['api', 'vaurien_proxy'], `no proxy named "${target}" in this file${didYouMean(target, proxies.map((p) => p.name))}`, `one of: ${proxies.map((p) => p.name).join(', ') || '(none)'}`);
  }
  return { proxies, statsd: parsed.data.statsd, api: parsed.data.api };
}

/**
 * Top-level keys of a standalone proxies file that are near misses of its known keys (`proxy:`
 * for `proxies:`, `stastd:` for `statsd:`), with the key each meant. Other unknown keys stay
 * ignored, as before: a `.marteau.yml` given to `proxy --config` keeps working.
 */
function misspeltTopKeys(data: unknown): { key: string; meant: string }[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return [];
  const known = Object.keys(proxiesFileSchema.shape);
  return Object.keys(data).flatMap((key) => {
    if (known.includes(key)) return [];
    // The singular too: `proxy` is three edits from `proxies`, one word for a reader.
    const meant = closest(key, known) ?? closest(key.endsWith('y') ? `${key.slice(0, -1)}ies` : `${key}s`, known);
    return meant ? [{ key, meant }] : [];
  });
}

/**
 * Two proxies of one file cannot take the same listen address: said at load time, at the
 * second one, naming the first (port 0, any free port, is never shared).
 */
function checkDistinctListens(src: SourceDoc, proxies: readonly ProxyOptions[]): void {
  for (const [i, b] of proxies.entries()) {
    const a = proxies.slice(0, i).find((o) => sameListener(o.listen, b.listen));
    if (!a) continue;
    const line = locate(src, ['proxies', a.name, 'listen']).line;
    throw errorAt(
      src,
      ['proxies', b.name, 'listen'],
      `${b.listen} is already the listen address of proxy "${a.name}"${line ? ` (line ${line})` : ''}; two proxies cannot listen on one port`,
      `give one of them another port (port 0: any free port, printed when it listens)`,
    );
  }
}

/** Whether two listen addresses would take the same port: same host, or a wildcard of the other's family. */
function sameListener(a: string, b: string): boolean {
  const [ha, pa] = splitHostPort(a);
  const [hb, pb] = splitHostPort(b);
  if (pa === 0 || pa !== pb) return false;
  const [x, y] = [ha.toLowerCase(), hb.toLowerCase()];
  if (x === y) return true;
  // Node binds `::` on both families; `0.0.0.0` takes every IPv4 address.
  if (x === '::' || y === '::') return true;
  return (x === '0.0.0.0' && isIPv4(y)) || (y === '0.0.0.0' && isIPv4(x));
}
