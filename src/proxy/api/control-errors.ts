/**
 * How the control plane refuses a request: ControlError (Toxiproxy's wording and HTTP status),
 * and the address, upstream-loop and bind failures turned into one.
 */
import { joinHostPort, splitHostPort, upstreamProblem } from '../host-port.js';
import type { Proxy, UpstreamLoopError } from '../proxy.js';
import { ListenError } from '../proxy-set.js';
import { absoluteFile, loadTls, tlsOf, TlsConfigError, type ListenTls, type UpstreamTls } from '../tls.js';

/** A refused control request, worded like Toxiproxy, with the HTTP status it would answer. */
export class ControlError extends Error {
  constructor(message: string, readonly status = 400, readonly where?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ControlError';
  }
}

/** Toxiproxy's listen: empty means any free port; `localhost` is reported as the address bound. */
export function normaliseListen(listen: string | undefined, what = 'listen'): string {
  if (listen === undefined || listen === '') return '127.0.0.1:0';
  const [host, port] = splitAddress(listen, what);
  return joinHostPort(host === 'localhost' ? '127.0.0.1' : host, port);
}

/** An upstream as the API is given it: a server's "host:port", never port 0 (a listen address's "any"). */
export function checkUpstream(addr: string, what: string): string {
  const [host, port] = splitAddress(addr, what);
  const problem = upstreamProblem(addr);
  if (problem) throw new ControlError(`bad request body: ${what}: ${problem}`, 400, what);
  return joinHostPort(host, port);
}

function splitAddress(addr: string, what: string): [string, number] {
  if (typeof addr !== 'string') throw new ControlError(`bad request body: ${what}: expected a "host:port" string`, 400, what);
  try {
    return splitHostPort(addr);
  } catch (e) {
    throw new ControlError(`bad request body: ${what}: ${(e as Error).message}`, 400, what);
  }
}

/** Enable or disable a proxy; a failed bind leaves it disabled and reads as Toxiproxy's error. */
export async function setEnabled(p: Proxy, enabled: boolean): Promise<void> {
  try {
    await p.setEnabled(enabled);
  } catch (e) {
    // A failed bind must not leave the proxy claiming to be enabled.
    await p.setEnabled(false).catch(() => undefined);
    throw bindError(new ListenError(p.name, p.listenAddress, (e as NodeJS.ErrnoException).code ?? String(e)));
  }
}

/**
 * Wait until a proxy's listener follows its last toxic or mix change (it reopens when a `down`
 * toxic goes); a failed bind reads as Toxiproxy's error, as for enabling.
 */
export async function listenerReady(p: Proxy): Promise<void> {
  try {
    await p.listenerReady();
  } catch (e) {
    throw bindError(new ListenError(p.name, p.listenAddress, (e as NodeJS.ErrnoException).code ?? String(e)));
  }
}

const BIND_WORDS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EACCES: 'permission denied',
};

/**
 * TLS settings as an API body gives them (`upstreamTls: true` for Node's CA store), their files
 * checked now: a missing or bad one is a 400 naming the field, before anything is created.
 */
export function checkTls(tls: ListenTls | undefined, upstreamTls: UpstreamTls | boolean | undefined): { tls?: ListenTls; upstreamTls?: UpstreamTls } {
  try {
    const resolved = tlsOf(tls, upstreamTls, absoluteFile);
    loadTls(resolved.tls, resolved.upstreamTls);
    return resolved;
  } catch (e) {
    if (!(e instanceof TlsConfigError)) throw e;
    throw new ControlError(`bad request body: ${e.option}: ${e.message}`, 400, e.option);
  }
}

export function loopError(e: UpstreamLoopError): ControlError {
  return new ControlError(`bad request body: upstream: ${e.message}`, 400, 'upstream');
}

/** A listen failure as Toxiproxy reports it (Go's net error text, status 500). */
export function bindError(e: unknown): unknown {
  if (!(e instanceof ListenError)) return e;
  // Go resolves the name before binding, and says so in its own words.
  // The ListenError stays its cause: the CLI's -config file says it in its own words.
  if (e.code === 'ENOTFOUND') return new ControlError(`listen tcp: lookup ${e.address.replace(/:\d*$/, '')}: no such host`, 500, undefined, { cause: e });
  return new ControlError(`listen tcp ${e.address}: bind: ${BIND_WORDS[e.code] ?? e.code}`, 500, undefined, { cause: e });
}
