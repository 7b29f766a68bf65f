/**
 * `marteau-tui proxy`: one proxy from flags, or many from a config file; a live line of counts
 * per proxy; a clean stop on SIGINT/SIGTERM that lets in-flight exchanges finish. With `--api`
 * (or an `api:` section) the control APIs run too; with `--watch` edits of the config apply live.
 */
import { once } from 'node:events';
import { ConfigError } from '../config/errors.js';
import { loadProxiesFile, PROXY_NAME, PROXY_NAME_RULE, statsdSchema, type ProxiesConfig } from '../config/proxies.js';
import { Control } from '../proxy/api/control.js';
import { isLoopback } from '../proxy/api/guard.js';
import { ApiConfigError, startApiServer, type ApiServer } from '../proxy/api/server.js';
import { packageVersion } from '../proxy/api/version.js';
import { MixError, parseMix } from '../proxy/mix.js';
import { buildRegistry } from '../../behaviors/index.js';
import { PROTOCOL_NAMES, type ProtocolName } from '../proxy/protocol.js';
import { protocolInfo } from '../proxy/protocols/index.js';
import { MAX_TIMER_MS } from '../proxy/plugin.js';
import { joinHostPort, splitHostPort, upstreamProblem } from '../proxy/host-port.js';
import { UpstreamLoopError, type ProxyStats } from '../proxy/proxy.js';
import { ListenError, ProxySet } from '../proxy/proxy-set.js';
import { listenMistake } from '../proxy/proxy-errors.js';
import { EXIT, UsageError } from '../core/exit.js';
import { surviveClosedOutput } from '../ci/closed-output.js';
import { configKind, mixFlagError, vaurienConfig, withOptions, type BehaviorOptions } from './proxy-compat.js';
import { readToxiproxyConfig, type ToxiproxyConfig } from './toxiproxy-config.js';
import { formatProxyLine, listeningLine, LiveLines } from './proxy-status.js';
import { listenErrorAt, listenErrorText, startWatching } from './proxy-reload.js';
import { refuseTlsFlagsWith, tlsFromFlags, type TlsFlags } from './proxy-tls-flags.js';
import { takeStopSignals } from './stop-signals.js';
import { tokenProblem } from './choices.js';

export interface ProxyCommandOptions extends TlsFlags {
  config?: string;
  listen?: string;
  upstream?: string;
  protocol: string;
  behaviors?: string;
  name?: string;
  seed?: string;
  rewriteHost?: boolean;
  pin: string;
  statsd?: string;
  statsdPrefix: string;
  interval?: string;
  grace: string;
  /** `--api` alone (true) or `--api host:port`. */
  api?: string | boolean;
  apiToken?: string;
  vaurienProxy?: string;
  watch?: boolean;
  /** Vaurien's `--behavior-<name>-<option>` values (see proxy-compat.ts). */
  behaviorOptions?: BehaviorOptions;
  /** `--behavior` when the mix came in Vaurien's spelling, for its errors. */
  mixFlag?: string;
}

export interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

export const DEFAULT_API = '127.0.0.1:8474';

export async function runProxyCommand(o: ProxyCommandOptions, io: Io): Promise<number> {
  // `proxy ... | head -1`: the proxies serve on when the reader of their counts has gone.
  surviveClosedOutput(io.out, io.err);
  // From the first line (the bin's, for the CLI): a stop asked for while the proxy starts stops
  // it once started, as one asked for once it runs; Node's default would kill it (exit 143).
  const stops = takeStopSignals();
  try {
    return await serve(o, io, stops.signal);
  } finally {
    stops.release();
  }
}

async function serve(o: ProxyCommandOptions, io: Io, stop: AbortSignal): Promise<number> {
  if (o.watch && !o.config) throw new UsageError('--watch needs --config FILE (it watches that file)');
  // Flags first: a mistake must stop the command before anything listens.
  const tty = io.out.isTTY === true && !process.env.NO_COLOR;
  const intervalMs = o.interval ? positiveInt(o.interval, '--interval') : tty ? 1000 : 5000;
  const graceMs = positiveInt(o.grace, '--grace', true);
  const { config, populate, notes } = await buildConfig(o);
  for (const n of notes) io.err.write(`${n}\n`);
  if (stop.aborted) {
    io.err.write(`${String(stop.reason)}: stopped before listening\n`);
    return EXIT.ok;
  }
  // toxiproxy-server always serves its API: a Toxiproxy config file brings it along.
  const api = apiSettings(populate && o.api === undefined ? { ...o, api: true } : o, config);
  const registry = buildRegistry(config.plugins ?? []);
  const set = new ProxySet(registry);
  const control = new Control(set, registry, { vaurienProxy: api?.vaurienProxy, behaviorDefaults: o.behaviorOptions });
  const log = (m: string) => io.err.write(`${m}\n`);

  let announcing = false;
  set.on('added', (p) => {
    p.on('event', (e) => {
      if (e.type === 'proxy.log' && e.level !== 'info') log(`${e.proxy}: ${e.message}`);
    });
    if (announcing) io.out.write(listeningLine(p));
  });
  set.on('removed', (p) => {
    if (announcing && !set.get(p.name)) io.out.write(`stopped ${p.name}\n`);
  });
  try {
    await set.start(config.proxies, config.statsd, log);
  } catch (e) {
    if (e instanceof ListenError) {
      // A proxy of a YAML file: at its listen: line, as the file's other mistakes.
      const text = o.config && (await configKind(o.config)) === 'yaml' ? listenErrorAt(o.config, e, set) : listenErrorText(e, set);
      throw new UsageError(text, e.mistake ? EXIT.usage : EXIT.infrastructure);
    }
    if (e instanceof UpstreamLoopError) throw new UsageError(e.message, EXIT.usage);
    throw e;
  }
  control.adopt(config);
  if (populate) {
    const r = await control.populate(populate.proxies);
    if (r.error) {
      await set.close(0);
      // As for a YAML file: a listen address taken or not this machine's is the file's to fix.
      const mistake = r.error.status !== 500 || (r.error.cause instanceof ListenError && r.error.cause.mistake);
      throw new UsageError(populate.populateError(r.proxies.length, r.error).message, mistake ? EXIT.usage : EXIT.infrastructure);
    }
  }
  let server: ApiServer | undefined;
  if (api) {
    try {
      server = await startApiServer({ control, host: api.host, port: api.port, token: api.token, version: await packageVersion(), onError: log });
    } catch (e) {
      await set.close(0);
      if (e instanceof ApiConfigError) throw new UsageError(`--api: ${e.message}`);
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      const address = joinHostPort(api.host, api.port);
      if (code === 'EADDRINUSE') throw new UsageError(`--api: ${address} is already in use (a Toxiproxy server?); pick another port, e.g. --api 127.0.0.1:8475`);
      const mistake = listenMistake(address, code);
      if (mistake) throw new UsageError(`--api: ${mistake}`);
      throw new UsageError(`--api: cannot listen on ${address} (${code})`, EXIT.infrastructure);
    }
  }
  // A stop, the same whether it came once running or while it started (then nothing is said to listen).
  const close = async () => {
    io.err.write(`\n${String(stop.reason)}: closing listeners, letting in-flight exchanges finish (up to ${graceMs} ms)\n`);
    await server?.close();
    await set.close(graceMs);
    return EXIT.ok;
  };
  if (stop.aborted) return close();
  if (server) io.out.write(`api listening on ${server.url} (Toxiproxy routes /proxies, Vaurien /vaurien/<proxy>/behavior, ours /marteau)${api?.token ? ', token required' : ''}\n`);
  // Armed before anything is said to listen: an edit saved once `listening` is read must be seen.
  // Its reload is debounced and async, so `announcing` below is set before any reload lands.
  const watcher = o.watch && o.config ? startWatching(o.config, config, control, set, io) : undefined;
  // After the API is up: a proxy that never served (its API's port taken) is never said to listen.
  for (const p of set.proxies.values()) {
    io.out.write(listeningLine(p));
  }
  if (set.proxies.size === 0) {
    // Nothing listens yet, by choice (--api, --watch): say what the process waits for.
    const ways = [
      ...(server ? [`created over the API (POST ${server.url}/proxies)`] : []),
      ...(o.watch && o.config ? [`added to ${o.config}`] : []),
    ];
    io.out.write(`no proxy yet: waiting for proxies to be ${ways.join(' or ')}\n`);
  }
  announcing = true;


  const live = new LiveLines(io.out, io.out.isTTY === true);
  let previous = new Map(set.stats().map((s) => [s.name, s]));
  let last = performance.now();
  const tick = () => {
    const now = set.stats();
    const t = performance.now();
    const changed = now.length !== previous.size || now.some((s) => JSON.stringify(s) !== JSON.stringify(previous.get(s.name)));
    if ((tty || changed) && now.length) live.show(now.map((s) => formatProxyLine(s, previous.get(s.name), (t - last) / 1000)));
    previous = new Map(now.map((s): [string, ProxyStats] => [s.name, s]));
    last = t;
  };
  const timer = setInterval(tick, intervalMs);
  await once(stop, 'abort');
  clearInterval(timer);
  watcher?.close();
  tick();
  announcing = false;
  return close();
}

interface ApiSettings {
  host: string;
  port: number;
  token?: string;
  vaurienProxy?: string;
}

/** Where the API listens, from --api or the config's `api:`; off loopback a token is required. */
function apiSettings(o: ProxyCommandOptions, config: ProxiesConfig): ApiSettings | undefined {
  // An empty MARTEAU_API_TOKEN reads as unset (as a shell's `VAR=`); a blank one is checked below, once an API is to serve.
  const fromEnv = o.apiToken === undefined && process.env.MARTEAU_API_TOKEN ? process.env.MARTEAU_API_TOKEN : undefined;
  const token = o.apiToken ?? fromEnv;
  const vaurienProxy = o.vaurienProxy ?? config.api?.vaurien_proxy;
  let address: string | undefined;
  if (o.api !== undefined && o.api !== false) address = o.api === true ? DEFAULT_API : o.api;
  else if (config.api) address = config.api.listen;
  if (address === undefined) {
    if (o.apiToken) throw new UsageError('--api-token goes with --api (or an api: section in the config)');
    if (o.vaurienProxy) throw new UsageError('--vaurien-proxy goes with --api (or an api: section in the config)');
    return undefined;
  }
  const envProblem = fromEnv === undefined ? undefined : tokenProblem(fromEnv, 'MARTEAU_API_TOKEN');
  if (envProblem) throw new UsageError(`MARTEAU_API_TOKEN: ${envProblem}, or unset it`);
  if (/^\d+$/.test(address)) address = `127.0.0.1:${address}`;
  let host: string;
  let port: number;
  try {
    [host, port] = splitHostPort(address);
  } catch (e) {
    throw new UsageError(`--api: ${(e as Error).message}`);
  }
  if (!isLoopback(host) && !token) {
    throw new UsageError(`--api ${address}: a control API reachable from other machines needs a token: --api-token TOKEN or MARTEAU_API_TOKEN (or use 127.0.0.1)`);
  }
  if (vaurienProxy && config.proxies.length && !config.proxies.some((p) => p.name === vaurienProxy)) {
    throw new UsageError(`--vaurien-proxy: no proxy named "${vaurienProxy}"; running: ${config.proxies.map((p) => p.name).join(', ')}`);
  }
  return { host, port, token, vaurienProxy };
}

interface BuiltConfig {
  config: ProxiesConfig;
  /** Proxies of a Toxiproxy config file, created through the API's populate once it runs. */
  populate?: ToxiproxyConfig;
  /** Things to tell the user (keys of a Vaurien file that have no meaning here). */
  notes: string[];
}

async function buildConfig(o: ProxyCommandOptions): Promise<BuiltConfig> {
  const statsd = o.statsd ? statsdFromFlag(o.statsd, o.statsdPrefix) : undefined;
  const behaviorOptions = o.behaviorOptions ?? {};
  // Checked whatever else is given: a Vaurien INI file takes them as its defaults.
  checkAddressFlags(o);
  refuseTlsFlagsWith(o.config, o);
  if (o.config) {
    try {
      const kind = await configKind(o.config);
      if (kind !== 'yaml' && o.watch) throw new UsageError(`--watch reloads YAML configs; a ${kind === 'vaurien' ? 'Vaurien INI' : 'Toxiproxy JSON'} file is read once at start`);
      if (kind === 'vaurien') {
        const v = vaurienConfig(o.config, o, behaviorOptions);
        return { config: { ...v.config, statsd: v.config.statsd ?? statsd }, notes: v.notes };
      }
      if (o.listen || o.upstream || o.behaviors) {
        throw new UsageError('give either --config FILE or --listen/--upstream/--behaviors, not both');
      }
      if (kind === 'toxiproxy') {
        const t = await readToxiproxyConfig(o.config);
        return { config: { proxies: [], statsd }, populate: t, notes: t.notes };
      }
      if (Object.keys(behaviorOptions).length) {
        throw new UsageError('--behavior-<name>-<option> goes with --behavior (or a Vaurien INI file); in a YAML config, give the options in the mix');
      }
      // An empty file is fine when proxies can come later; otherwise the process would wait for nothing.
      const waits = o.watch === true || (o.api !== undefined && o.api !== false);
      const emptyHint = waits ? undefined : `add a proxy under proxies:, ${PROXIES_EXAMPLE}; or add --api to create proxies over HTTP (as toxiproxy-server does), or --watch to start them when this file changes`;
      const c = await loadProxiesFile(o.config, buildRegistry(), { emptyHint });
      return { config: { ...c, statsd: statsd ?? c.statsd }, notes: [] };
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  const apiOnly = o.api !== undefined && o.api !== false && !o.listen && !o.upstream && !o.behaviors;
  if (apiOnly) return { config: { proxies: [], statsd }, notes: [] };
  if (!o.listen || !o.upstream) {
    throw new UsageError('give --listen HOST:PORT and --upstream HOST:PORT (or --config FILE, or --api to create proxies over HTTP); see marteau-tui proxy --help');
  }
  if (!(PROTOCOL_NAMES as readonly string[]).includes(o.protocol)) {
    throw new UsageError(`--protocol: unknown protocol "${o.protocol}"; use one of ${PROTOCOL_NAMES.join(', ')}`);
  }
  if (o.name !== undefined && !PROXY_NAME.test(o.name)) {
    throw new UsageError(`--name: "${o.name}" cannot be a proxy name: ${PROXY_NAME_RULE} (as in a config file), e.g. --name ${o.name.replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '') || 'cache'}`);
  }
  const behaviors = o.behaviors === undefined ? undefined : withOptions(o.behaviors, behaviorOptions);
  try {
    parseMix(behaviors, buildRegistry(), { protocol: protocolInfo(o.protocol as ProtocolName) });
  } catch (e) {
    if (e instanceof MixError) throw mixFlagError(e, o.mixFlag);
    throw e;
  }
  if (o.pin !== 'exchange' && o.pin !== 'connection') throw new UsageError('--pin: use exchange or connection');
  return {
    config: {
      proxies: [{
        name: o.name ?? o.protocol,
        listen: o.listen,
        upstream: o.upstream,
        protocol: o.protocol as ProtocolName,
        behaviors,
        pin: o.pin,
        seed: o.seed,
        rewriteHost: o.rewriteHost,
        ...tlsFromFlags(o),
      }],
      statsd,
    },
    notes: [],
  };
}

const PROXIES_EXAMPLE = 'e.g. proxies: {cache: {listen: 127.0.0.1:16379, upstream: 127.0.0.1:6379, protocol: redis}}';

/** `--listen` and `--upstream`: host:port, and an upstream is a server's real port (never 0). */
function checkAddressFlags(o: ProxyCommandOptions): void {
  for (const [flag, v] of [['--listen', o.listen], ['--upstream', o.upstream]] as const) {
    if (v === undefined) continue;
    try {
      splitHostPort(v);
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}`);
    }
    const problem = flag === '--upstream' ? upstreamProblem(v) : undefined;
    if (problem) throw new UsageError(`${flag}: ${problem}; give the port the real server listens on, e.g. --upstream 127.0.0.1:6379`);
  }
}

/** `--statsd HOST:PORT` and `--statsd-prefix`, each mistake named by its own flag. */
function statsdFromFlag(flag: string, prefix: string) {
  let host: string;
  let port: number;
  try {
    [host, port] = splitHostPort(flag);
  } catch (e) {
    throw new UsageError(`--statsd: ${(e as Error).message}`);
  }
  // Metrics are sent, not received: port 0 ("any free port") names no statsd server.
  if (port === 0) throw new UsageError(`--statsd: port 0 is not a port a statsd server listens on; give its port, e.g. --statsd ${joinHostPort(host, 8125)}`);
  const parsed = statsdSchema.safeParse({ host, port, prefix });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.path[0] === 'prefix') throw new UsageError(`--statsd-prefix: "${prefix}" has other characters than letters, digits, _ . and -; e.g. --statsd-prefix marteau`);
    throw new UsageError(`--statsd: "${flag}" is not a statsd address (${String(issue.path[0])}); e.g. --statsd 127.0.0.1:8125`);
  }
  return parsed.data;
}

function positiveInt(v: string, flag: string, zeroOk = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) throw new UsageError(`${flag}: expected a whole number of milliseconds${zeroOk ? '' : ' above 0'}, got "${v}"`);
  if (n > MAX_TIMER_MS) throw new UsageError(`${flag}: at most ${MAX_TIMER_MS} ms (about 24.8 days: the longest a timer can wait), got "${v}"`);
  return n;
}
