/**
 * One HTTP listener for the three control APIs: Toxiproxy's routes at the root, Vaurien's at
 * /vaurien/<proxy>/... (and bare /behavior, /backend), ours under /marteau. Every request goes
 * through the same guards (browser, cross-origin, Host, token) and the same body cap.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { joinHostPort } from '../host-port.js';
import type { Control } from './control.js';
import { BROWSER_REFUSED, checkToken, crossOrigin, foreignHost, isBrowser, isLoopback } from './guard.js';
import { ApiError, matchRoute, readBody, STREAMING, type ApiRequest, type Reply, type Route } from './http.js';
import { metricsRoutes } from './metrics.js';
import { nativeError, nativeIndex, nativeRoutes } from './native.js';
import { toxiproxyError, toxiproxyRoutes } from './toxiproxy.js';
import { vaurienError, vaurienRoutes } from './vaurien.js';

export interface ApiServerOptions {
  control: Control;
  host: string;
  port: number;
  /** Required off loopback; when set, checked on every request, loopback or not. */
  token?: string;
  /** marteau-tui's version, sent in X-Marteau-Version. */
  version: string;
  /** Request body cap in bytes (default 1 MiB). */
  maxBody?: number;
  /** Routes of the layer above, under /marteau (a job's chaos scenario: core/scenario-route.ts). */
  routes?: readonly Route[];
  onError?: (message: string) => void;
}

export interface ApiServer {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The API cannot start as asked (e.g. a non-loopback address without a token). */
export class ApiConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiConfigError';
  }
}

type Kind = 'toxiproxy' | 'vaurien' | 'native';

const RENDER: Record<Kind, (e: ApiError) => Reply> = { toxiproxy: toxiproxyError, vaurien: vaurienError, native: nativeError };
const VAURIEN_BARE = new Set(['/behavior', '/behaviors', '/backend']);
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  if (!isLoopback(o.host) && !o.token) {
    throw new ApiConfigError(
      `the control API on ${joinHostPort(o.host, o.port)} would be reachable from other machines: give a token with --api-token or MARTEAU_API_TOKEN (or bind 127.0.0.1)`,
    );
  }
  const routes: Route[] = [];
  routes.push(...toxiproxyRoutes(o.control), ...metricsRoutes(o.control), ...vaurienRoutes(o.control), nativeIndex(routes, o.version), ...nativeRoutes(o.control, o.version), ...(o.routes ?? []));
  const maxBody = o.maxBody ?? 1024 * 1024;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      o.onError?.(`api: ${String((e as Error)?.stack ?? e)}`);
      if (!res.headersSent) send(res, { status: 500, json: { error: 'internal error', status: 500 } });
      else res.destroy();
    });
  });
  // Toxiproxy's read timeout; it bounds receiving a request, not a long event stream.
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 60_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('X-Toxiproxy-Request-Id', randomBytes(10).toString('hex'));
    res.setHeader('X-Marteau-Version', o.version);
    const url = new URL(req.url ?? '/', 'http://api.invalid');
    let path = url.pathname;
    let pathToken: string | undefined;
    const prefixed = /^\/token\/([^/]+)(\/.*)?$/.exec(path);
    if (prefixed) {
      pathToken = safeDecode(prefixed[1]);
      path = prefixed[2] ?? '/';
    }
    const kind: Kind = path === '/marteau' || path.startsWith('/marteau/') ? 'native'
      : path.startsWith('/vaurien/') || VAURIEN_BARE.has(path) ? 'vaurien' : 'toxiproxy';
    const fail = (e: ApiError, headers: Record<string, string> = {}) => {
      const reply = RENDER[kind](e);
      send(res, { ...reply, headers: { ...reply.headers, ...headers } });
    };

    if (isBrowser(req.headers)) {
      drain(req);
      return send(res, { status: 403, text: `${BROWSER_REFUSED}\n`, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' } });
    }
    const cross = crossOrigin(req.headers);
    if (cross) {
      drain(req);
      return fail(new ApiError(403, `cross-origin requests are not allowed (${cross})`, 'origin', 'header'));
    }
    const foreign = isLoopback(o.host) ? foreignHost(req.headers, o.host) : undefined;
    if (foreign) {
      drain(req);
      return fail(new ApiError(403, `Host "${foreign}" is not allowed on a loopback control API`, 'host', 'header'));
    }
    if (o.token) {
      try {
        checkToken(o.token, req.headers, pathToken);
      } catch (e) {
        drain(req);
        return fail(e as ApiError, (e as ApiError).status === 401 ? { 'WWW-Authenticate': 'Bearer realm="marteau-tui"' } : {});
      }
    }

    const method = req.method ?? 'GET';
    const match = matchRoute(routes, method, path);
    if (!match) {
      drain(req);
      if (kind === 'toxiproxy') return send(res, { status: 404, text: '404 page not found\n', headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
      return fail(new ApiError(404, `no route ${method} ${path}`, undefined, 'url'));
    }
    if ('allowed' in match) {
      drain(req);
      const allow = [...new Set(match.allowed)].join(', ');
      return fail(new ApiError(405, `method ${method} not allowed on ${path} (allowed: ${allow})`, undefined, 'url'), { Allow: allow });
    }

    let text = '';
    if (BODY_METHODS.has(method)) {
      try {
        text = await readBody(req, maxBody);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        // The rest of an oversized body is read and thrown away (never held), so the client
        // gets the 413 rather than a reset; requestTimeout bounds a body that never ends.
        return fail(e);
      }
    } else {
      drain(req);
    }
    const request: ApiRequest = { method, path, params: match.params, query: url.searchParams, headers: req.headers, text, req, res };
    let reply: Reply | typeof STREAMING;
    try {
      reply = await match.route.handler(request);
    } catch (e) {
      if (e instanceof ApiError) return fail(e);
      throw e;
    }
    if (reply !== STREAMING) send(res, reply);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host, port: o.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => o.onError?.(`api: ${e.message}`));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: o.host,
    port,
    url: `http://${joinHostPort(o.host, port)}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Event streams and idle keep-alive connections would hold close() open.
      server.closeAllConnections();
    }),
  };
}

function send(res: http.ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let body: string | undefined;
  if (reply.json !== undefined) {
    body = JSON.stringify(reply.json);
    headers['Content-Type'] ??= 'application/json';
  } else if (reply.text !== undefined) {
    body = reply.text;
    headers['Content-Type'] ??= 'text/plain; charset=utf-8';
  }
  if (body !== undefined && reply.status !== 204) headers['Content-Length'] = String(Buffer.byteLength(body));
  res.writeHead(reply.status, headers);
  res.end(reply.status === 204 ? undefined : body);
}

function drain(req: http.IncomingMessage): void {
  req.resume();
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
