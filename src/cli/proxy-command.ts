/**
 * `marteau-tui proxy`: one proxy from flags, or many from a config file; a live line of counts
 * per proxy; a clean stop on SIGINT/SIGTERM that lets in-flight exchanges finish.
 */
import { ConfigError } from '../config/errors.js';
import { loadProxiesFile, statsdSchema, type ProxiesConfig } from '../config/proxies.js';
import { MixError, parseMix } from '../proxy/mix.js';
import { PROTOCOL_NAMES, type ProtocolName } from '../proxy/protocol.js';
import { defaultRegistry, splitHostPort, type ProxyStats } from '../proxy/proxy.js';
import { ListenError, ProxySet } from '../proxy/proxy-set.js';
import { EXIT, UsageError } from './errors.js';
import { formatProxyLine, LiveLines } from './proxy-status.js';

export interface ProxyCommandOptions {
  config?: string;
  listen?: string;
  upstream?: string;
  protocol: string;
  behaviors?: string;
  name?: string;
  seed?: string;
  pin: string;
  statsd?: string;
  statsdPrefix: string;
  interval?: string;
  grace: string;
}

export interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

export async function runProxyCommand(o: ProxyCommandOptions, io: Io): Promise<number> {
  const config = await buildConfig(o);
  const set = new ProxySet(defaultRegistry);
  const log = (m: string) => io.err.write(`${m}\n`);
  try {
    await set.start(config.proxies, config.statsd, log);
  } catch (e) {
    if (e instanceof ListenError) throw new UsageError(e.message, e.code === 'EADDRINUSE' ? EXIT.usage : EXIT.infrastructure);
    throw e;
  }
  for (const p of set.proxies.values()) {
    io.out.write(`listening ${p.name} ${p.options.protocol} ${p.listenAddress} -> ${p.upstream} mix ${p.mix.text}\n`);
    p.on('event', (e) => {
      if (e.type === 'proxy.log' && e.level !== 'info') log(`${e.proxy}: ${e.message}`);
    });
  }
  const tty = io.out.isTTY === true && !process.env.NO_COLOR;
  const intervalMs = o.interval ? positiveInt(o.interval, '--interval') : tty ? 1000 : 5000;
  const live = new LiveLines(io.out, io.out.isTTY === true);
  let previous: ProxyStats[] = set.stats();
  let last = performance.now();
  const tick = () => {
    const now = set.stats();
    const t = performance.now();
    const changed = JSON.stringify(now) !== JSON.stringify(previous);
    if (tty || changed) live.show(now.map((s, i) => formatProxyLine(s, previous[i], (t - last) / 1000)));
    previous = now;
    last = t;
  };
  const timer = setInterval(tick, intervalMs);
  const graceMs = positiveInt(o.grace, '--grace', true);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      io.err.write(`\n${signal}: closing listeners, letting in-flight exchanges finish (up to ${graceMs} ms)\n`);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  clearInterval(timer);
  tick();
  await set.close(graceMs);
  return EXIT.ok;
}

async function buildConfig(o: ProxyCommandOptions): Promise<ProxiesConfig> {
  const statsd = o.statsd ? statsdFromFlag(o.statsd, o.statsdPrefix) : undefined;
  if (o.config) {
    if (o.listen || o.upstream || o.behaviors) {
      throw new UsageError('give either --config FILE or --listen/--upstream/--behaviors, not both');
    }
    try {
      const c = await loadProxiesFile(o.config, defaultRegistry);
      return { proxies: c.proxies, statsd: statsd ?? c.statsd };
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  if (!o.listen || !o.upstream) {
    throw new UsageError('give --listen HOST:PORT and --upstream HOST:PORT (or --config FILE); see marteau-tui proxy --help');
  }
  if (!(PROTOCOL_NAMES as readonly string[]).includes(o.protocol)) {
    throw new UsageError(`--protocol: unknown protocol "${o.protocol}"; use one of ${PROTOCOL_NAMES.join(', ')}`);
  }
  for (const [flag, v] of [['--listen', o.listen], ['--upstream', o.upstream]] as const) {
    try {
      splitHostPort(v);
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}`);
    }
  }
  try {
    parseMix(o.behaviors, defaultRegistry);
  } catch (e) {
    if (e instanceof MixError) throw new UsageError(`--behaviors: ${e.message}`);
    throw e;
  }
  if (o.pin !== 'exchange' && o.pin !== 'connection') throw new UsageError('--pin: use exchange or connection');
  return {
    proxies: [{
      name: o.name ?? o.protocol,
      listen: o.listen,
      upstream: o.upstream,
      protocol: o.protocol as ProtocolName,
      behaviors: o.behaviors,
      pin: o.pin,
      seed: o.seed,
    }],
    statsd,
  };
}

function statsdFromFlag(flag: string, prefix: string) {
  let host: string;
  let port: number;
  try {
    [host, port] = splitHostPort(flag);
  } catch (e) {
    throw new UsageError(`--statsd: ${(e as Error).message}`);
  }
  const parsed = statsdSchema.safeParse({ host, port, prefix });
  if (!parsed.success) throw new UsageError(`--statsd-prefix: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

function positiveInt(v: string, flag: string, zeroOk = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) throw new UsageError(`${flag}: expected a whole number of milliseconds, got "${v}"`);
  return n;
}
