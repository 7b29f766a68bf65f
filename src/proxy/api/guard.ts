/**
 * Who may drive the control plane. Browsers never (a web page must not be able to turn a
 * developer's proxies off): Toxiproxy's `Mozilla/` User-Agent refusal, plus cross-origin and
 * DNS-rebinding checks. Off loopback, a shared token on every request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './http.js';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

/** Toxiproxy's answer to a browser, word for word (plain text). */
export const BROWSER_REFUSED = 'User agent not allowed';

export function isBrowser(headers: IncomingHttpHeaders): boolean {
  return (headers['user-agent'] ?? '').startsWith('Mozilla/');
}

/**
 * A request a browser sent on behalf of another site. Fetch metadata says so directly; an
 * Origin that is not this server's own says so too (clients outside browsers send neither).
 */
export function crossOrigin(headers: IncomingHttpHeaders): string | undefined {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = headers.origin;
  if (origin !== undefined) {
    const host = headers.host;
    if (!host || (origin !== `http://${host}` && origin !== `https://${host}`)) return `Origin: ${origin}`;
  }
  return undefined;
}

/**
 * On a loopback listener, the Host header must name loopback too: a page on evil.example that
 * re-points its DNS name at 127.0.0.1 (DNS rebinding) sends `Host: evil.example`.
 */
export function foreignHost(headers: IncomingHttpHeaders, boundHost: string): string | undefined {
  const host = headers.host;
  if (!host) return undefined;
  const name = host.replace(/:\d+$/, '');
  if (isLoopback(name) || name.replace(/^\[|\]$/g, '') === boundHost.replace(/^\[|\]$/g, '')) return undefined;
  return host;
}

/**
 * Check the token on a request. It may come as `Authorization: Bearer <t>`, as the password of
 * HTTP Basic auth (what Go's client sends for `http://:<t>@host:8474`), or as a `/token/<t>`
 * path prefix (already taken off the path by the server) for clients that cannot set headers.
 */
export function checkToken(expected: string, headers: IncomingHttpHeaders, fromPath: string | undefined): void {
  const given = fromPath ?? tokenFromHeader(headers.authorization);
  if (given === undefined) throw new ApiError(401, 'this control API needs a token: send "Authorization: Bearer <token>"', 'authorization', 'header');
  if (!sameSecret(given, expected)) throw new ApiError(403, 'wrong token', 'authorization', 'header');
}

function tokenFromHeader(auth: string | undefined): string | undefined {
  if (!auth) return undefined;
  const [scheme, value = ''] = auth.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return value;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : decoded;
  }
  return undefined;
}

/** Constant-time comparison; hashing first makes the lengths equal without leaking them. */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
