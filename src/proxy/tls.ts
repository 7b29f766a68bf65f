/**
 * TLS on either side of a proxy: clients that speak TLS to it (`rediss://`, HTTPS, a memcached
 * client with TLS on), a server that only speaks TLS, or both. The proxy ends TLS on each side so
 * that framing and behaviors see the plaintext, as they would between a client and a server on
 * one host. Both sides are plain `net` sockets underneath: a reset still reaches the peer as a
 * TCP RST, which a TLS socket cannot send itself.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { z } from 'zod';
import { unreadableWords } from '../fs/errors.js';

/** TLS towards clients: the certificate the proxy shows them (PEM files). */
export interface ListenTls {
  cert: string;
  key: string;
}

/** TLS towards the server. */
export interface UpstreamTls {
  /** PEM file of the CA(s) the server's certificate must chain to (default: Node's CA store). */
  ca?: string;
  /** Name sent as SNI and checked in the certificate (default: the upstream host). */
  servername?: string;
  /** Accept any certificate: for a test server's self-signed one, never in front of a real peer. */
  insecure?: boolean;
}

/** `tls:` as written in a proxies file or a control API body. */
export const listenTlsSchema = z.strictObject({ cert: z.string().min(1), key: z.string().min(1) });

/** `upstream_tls:` as written: true, or the settings. */
export const upstreamTlsSchema = z.union([
  z.boolean(),
  z.strictObject({ ca: z.string().min(1).optional(), servername: z.string().min(1).optional(), insecure: z.boolean().optional() }),
]);

/**
 * Both sides' settings as written, their files resolved with `file` (against the proxies file's
 * folder, say): `upstream_tls: true` is TLS with Node's CA store, `false` none.
 */
export function tlsOf(
  listen: z.infer<typeof listenTlsSchema> | undefined,
  upstream: z.infer<typeof upstreamTlsSchema> | undefined,
  file: (name: string, option: string) => string,
): { tls?: ListenTls; upstreamTls?: UpstreamTls } {
  const u = upstream === true ? {} : upstream || undefined;
  return {
    tls: listen && { cert: file(listen.cert, 'tls.cert'), key: file(listen.key, 'tls.key') },
    upstreamTls: u && { ...u, ca: u.ca && file(u.ca, 'upstream_tls.ca') },
  };
}

/** Whether two proxies' TLS settings are the same (a change of them restarts a proxy). */
export function sameTls(a: { tls?: ListenTls; upstreamTls?: UpstreamTls }, b: { tls?: ListenTls; upstreamTls?: UpstreamTls }): boolean {
  return JSON.stringify([a.tls, a.upstreamTls]) === JSON.stringify([b.tls, b.upstreamTls]);
}

/** A file named over a control API: absolute, since the client's working directory is not the proxy's. */
export function absoluteFile(name: string, option: string): string {
  if (!path.isAbsolute(name)) throw new TlsConfigError(option, `${name} is not an absolute path: give the whole path, as the proxy reads it from its own working directory`);
  return name;
}

/** A TLS setting that cannot work: a file missing, not PEM, a key not matching its certificate. */
export class TlsConfigError extends Error {
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

function read(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TlsConfigError(option, `cannot read ${file}: ${unreadableWords(e)}`);
  }
}

/** OpenSSL's words for a bad PEM or a key that does not match, without its "error:0A00..." prefix. */
function opensslWords(e: unknown): string {
  return (e as Error).message.replace(/^error:[0-9A-Fa-f]+:[^:]*:[^:]*:/, '').trim();
}

/** A PEM file whose first block is a certificate. */
function certificate(option: string, file: string): Buffer {
  const pem = read(option, file);
  try {
    new X509Certificate(pem);
  } catch {
    throw new TlsConfigError(option, `${file} holds no PEM certificate (a block starting -----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

/** How a hint names the settings to change: a config file's (or API body's) keys, or the command line's flags. */
export type TlsTerms = 'config' | 'flags';

/** Checks and loads both sides' settings; throws TlsConfigError naming the option at fault. */
export function loadTls(listen: ListenTls | undefined, upstream: UpstreamTls | undefined, terms: TlsTerms = 'config'): ProxyTls {
  let context: tls.SecureContext | undefined;
  if (listen) {
    const cert = certificate('tls.cert', listen.cert);
    const key = read('tls.key', listen.key);
    try {
      context = tls.createSecureContext({ cert, key });
    } catch (e) {
      const words = opensslWords(e);
      throw new TlsConfigError('tls.key', /mismatch/.test(words) ? `${listen.key} is not the private key of ${listen.cert}` : `${listen.key}: ${words} (expected a PEM private key)`);
    }
  }
  const ca = upstream?.ca === undefined ? undefined : certificate('upstream_tls.ca', upstream.ca);
  return new ProxyTls(context, upstream && { ca, servername: upstream.servername, insecure: upstream.insecure ?? false }, terms);
}

export class ProxyTls {
  constructor(
    private readonly context: tls.SecureContext | undefined,
    private readonly upstream: { ca?: Buffer; servername?: string; insecure: boolean } | undefined,
    private readonly terms: TlsTerms = 'config',
  ) {}

  /** Client handshake failures already logged: one line per kind, not one per connection. */
  private readonly clientFailures = new Set<string>();

  /**
   * The client's side, paused as the accepted socket was. A handshake that fails (a client
   * speaking plaintext, or refusing our certificate) is logged, once per kind of failure.
   */
  acceptClient(raw: net.Socket, log: (line: string) => void): net.Socket {
    if (!this.context) return raw;
    // pauseOnConnect (read by Node, not in its types): paused until the connection is set up, as `raw` was.
    const s = new tls.TLSSocket(raw, { isServer: true, secureContext: this.context, pauseOnConnect: true } as tls.TLSSocketOptions);
    let secure = false;
    s.once('secure', () => { secure = true; });
    s.once('error', (err) => {
      const kind = (err as NodeJS.ErrnoException).code ?? err.message;
      if (secure || this.clientFailures.has(kind)) return;
      this.clientFailures.add(kind);
      log(`a client's TLS handshake failed: ${tlsReason(err)} (does it connect with TLS? this proxy's listen side speaks only TLS; logged once per kind)`);
    });
    return resettable(s, raw);
  }

  /**
   * The server's side, over `raw` (connecting to host). Its failures reach the connection as its
   * errors before 'secureConnect', where a plain socket's come before 'connect'.
   */
  connectUpstream(host: string, raw: net.Socket): net.Socket {
    if (!this.upstream) return raw;
    const u = this.upstream;
    // SNI takes a name, not an address (Node warns); the certificate is checked against
    // servername, else host (an IP address then has to be in its subjectAltName).
    const s = tls.connect({ socket: raw, host, servername: u.servername ?? (net.isIP(host) ? undefined : host), ca: u.ca, rejectUnauthorized: !u.insecure });
    // A plaintext server that waits for a line (redis, memcached) never answers the ClientHello:
    // unbounded, the client would wait with it, and nothing would say why.
    const timer = setTimeout(() => s.destroy(Object.assign(new Error(`no answer to the TLS handshake within ${HANDSHAKE_MS / 1000} s`), { code: HANDSHAKE_TIMEOUT })), HANDSHAKE_MS);
    const settled = () => clearTimeout(timer);
    s.once('secureConnect', settled).once('close', settled);
    return resettable(s, raw);
  }

  /** The line to log for a failed connection to the server, when TLS is why (else undefined). */
  upstreamFailure(upstream: string, err: Error): string | undefined {
    const hint = this.upstream && upstreamTlsHint(err, this.terms);
    return hint ? `upstream ${upstream}: TLS handshake failed: ${tlsReason(err)} (${hint})` : undefined;
  }
}

/** How long the server has to answer the TLS handshake: milliseconds on any network. */
const HANDSHAKE_MS = 5000;
const HANDSHAKE_TIMEOUT = 'ETLSHANDSHAKETIMEOUT';

/** A TLS error in words: OpenSSL's reason ("wrong version number") rather than its whole trace line. */
function tlsReason(err: Error): string {
  return (err as { reason?: string }).reason ?? err.message;
}

/** What to do, in the terms the proxy was set up with (the command line has no servername flag). */
const HINTS: Record<TlsTerms, { untrusted: string; misnamed: string; plaintext: string }> = {
  config: {
    untrusted: "give upstream_tls.ca (the CA that signed the server's certificate), or upstream_tls.insecure: true for a test server",
    misnamed: 'set upstream_tls.servername to a name its certificate holds',
    plaintext: 'leave upstream_tls out for a plaintext server',
  },
  flags: {
    untrusted: "give --upstream-tls CA-FILE (the CA that signed the server's certificate), or --upstream-insecure for a test server",
    misnamed: 'give --upstream a host name its certificate holds, or --upstream-insecure for a test server',
    plaintext: 'leave --upstream-tls out for a plaintext server',
  },
};

/** What to do about a failed handshake with the server, by its OpenSSL or Node code. */
function upstreamTlsHint(err: Error, terms: TlsTerms): string | undefined {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) return HINTS[terms].untrusted;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return HINTS[terms].misnamed;
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired";
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER/.test(code) || code === HANDSHAKE_TIMEOUT) return `does the server speak TLS on this port? ${HINTS[terms].plaintext}`;
  return undefined;
}

/** A TLS socket whose resetAndDestroy resets the TCP connection under it. */
function resettable(s: tls.TLSSocket, raw: net.Socket): net.Socket {
  s.resetAndDestroy = () => {
    raw.resetAndDestroy();
    s.destroy();
    return s;
  };
  return s;
}
