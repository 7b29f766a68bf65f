/**
 * `marteau-tui proxy`'s TLS flags, checked before anything listens: a missing or bad PEM file
 * is a usage error naming the flag, as a config file's is an error at its line.
 */
import path from 'node:path';
import { UsageError } from '../core/exit.js';
import type { ProxyOptions } from '../proxy/proxy.js';
import { loadTls, TlsConfigError } from '../proxy/tls.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  /** `--upstream-tls` alone (true) or with the CA file. */
  upstreamTls?: string | boolean;
  upstreamInsecure?: boolean;
}

const FLAG_OF: Record<string, string> = { 'tls.cert': '--tls-cert', 'tls.key': '--tls-key', 'upstream_tls.ca': '--upstream-tls' };

export function tlsFromFlags(o: TlsFlags): Pick<ProxyOptions, 'tls' | 'upstreamTls' | 'tlsTerms'> {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: the certificate clients are shown and its private key (PEM files)');
  if (o.upstreamInsecure && !o.upstreamTls) throw new UsageError('--upstream-insecure goes with --upstream-tls (it accepts any certificate the server shows)');
  const tls = o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: path.resolve(o.tlsCert), key: path.resolve(o.tlsKey) } : undefined;
  const upstreamTls = o.upstreamTls ? { ca: typeof o.upstreamTls === 'string' ? path.resolve(o.upstreamTls) : undefined, insecure: o.upstreamInsecure } : undefined;
  try {
    loadTls(tls, upstreamTls);
  } catch (e) {
    if (e instanceof TlsConfigError) throw new UsageError(`${FLAG_OF[e.option] ?? e.option}: ${e.message}`);
    throw e;
  }
  return { tls, upstreamTls, tlsTerms: 'flags' };
}

/** The TLS flags set up the proxy of --listen/--upstream; a config file sets each proxy's own. */
export function refuseTlsFlagsWith(config: string | undefined, o: TlsFlags): void {
  if (config === undefined || (o.tlsCert ?? o.tlsKey ?? o.upstreamTls ?? o.upstreamInsecure) === undefined) return;
  throw new UsageError('the TLS flags go with --listen/--upstream; with --config, give each proxy its own: tls: {cert: FILE, key: FILE}, upstream_tls: {ca: FILE}');
}
