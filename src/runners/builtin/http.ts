/**
 * One virtual user's HTTP side: one keep-alive connection per origin (like one FunkLoad thread
 * with its own connection). A plain http:// request with ordinary headers goes over h1.ts's
 * minimal connection as bytes built once per step; anything else (https, a HEAD, a body on a
 * GET, headers undici gives a meaning to) through an undici Client, driven through `dispatch`
 * with a bare handler so a request costs no stream objects. A request never rejects: failures
 * come back as data.
 */
import { Client } from 'undici';
import type { Dispatcher } from 'undici';
import { PlainConnection, type HttpResult, type PlainTarget } from './h1.js';

export type { HttpResult } from './h1.js';

/** A request as undici's dispatch takes it; built once per scenario step and reused. */
export interface RequestSpec {
  origin: string;
  path: string;
  method: Dispatcher.HttpMethod;
  /** A flat [name, value, ...] list, user-agent included. */
  headers: string[];
  body: string | null;
  /** Set by plainRequests() when the minimal connection can send it. */
  plain?: PlainTarget;
}

/** Methods whose request carries a body (and says `content-length: 0` when it is empty), as undici. */
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const PLAIN_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Request headers that change how undici frames or routes a request: those keep its path. */
const FRAMING_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[^\0\r\n]*$/;
const PATH = /^[\u0021-\u00ff]+$/;

/**
 * The scenario's requests, those the minimal connection can carry with their bytes. An origin
 * with any other request keeps undici for all of its requests: one connection per user and
 * origin, as FunkLoad's threads.
 */
export function plainRequests(specs: RequestSpec[]): RequestSpec[] {
  const prepared = specs.map(plainRequest);
  const mixed = new Set(prepared.filter((s) => !s.plain).map((s) => s.origin));
  return prepared.map((s, i) => (mixed.has(s.origin) ? specs[i] : s));
}

/**
 * The spec with the bytes undici would write for it (same request line, header order and
 * framing), when the minimal connection can carry it; else the spec as it is.
 */
function plainRequest(spec: RequestSpec): RequestSpec {
  const url = new URL(spec.origin);
  const h = spec.headers;
  const payload = PAYLOAD_METHODS.has(spec.method);
  if (url.protocol !== 'http:' || !PLAIN_METHODS.has(spec.method) || !PATH.test(spec.path) || (spec.body && !payload)) return spec;
  for (let i = 0; i < h.length; i += 2) {
    if (FRAMING_HEADERS.has(h[i].toLowerCase()) || !TOKEN.test(h[i]) || !FIELD_VALUE.test(h[i + 1])) return spec;
  }
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`;
  for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
  const body = Buffer.from(spec.body ?? '', 'utf8');
  if (body.length > 0 || payload) head += `content-length: ${body.length}\r\n`;
  const wire = Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
  // URL keeps IPv6 hosts in brackets; a socket wants the bare address.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { ...spec, plain: { host, port: Number(url.port || 80), wire } };
}

export interface UserAgentOptions {
  /** Idle limit for headers and between body chunks (undici's headersTimeout/bodyTimeout). */
  timeoutMs: number;
}

const ABORTED: HttpResult = { code: -1, bytes: 0, error: 'aborted' };

export class UserAgent {
  private clients = new Map<string, Client>();
  private plain = new Map<string, PlainConnection>();
  /** Times out the plain connections' requests, coarsely (undici's own timers are as coarse). */
  private sweeper: NodeJS.Timeout | undefined;
  private destroyed = false;

  constructor(private readonly options: UserAgentOptions) {}

  private client(origin: string): Client {
    let c = this.clients.get(origin);
    if (!c) {
      c = new Client(origin, {
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        connect: { timeout: this.options.timeoutMs },
      });
      this.clients.set(origin, c);
    }
    return c;
  }

  private connection(origin: string): PlainConnection {
    let c = this.plain.get(origin);
    if (!c) {
      c = new PlainConnection(this.options.timeoutMs);
      this.plain.set(origin, c);
      if (!this.sweeper) {
        const tick = Math.min(500, Math.max(10, this.options.timeoutMs / 8));
        this.sweeper = setInterval(() => {
          const t = performance.now();
          for (const p of this.plain.values()) p.sweep(t);
        }, tick).unref();
      }
    }
    return c;
  }

  send(spec: RequestSpec): Promise<HttpResult> {
    if (this.destroyed) return Promise.resolve({ ...ABORTED });
    const plain = spec.plain;
    if (plain) return new Promise<HttpResult>((resolve) => this.connection(spec.origin).send(plain, resolve));
    return new Promise<HttpResult>((resolve) => {
      const handler = new Exchange(resolve);
      try {
        this.client(spec.origin).dispatch(spec, handler);
      } catch (err) {
        handler.onError(err as Error);
      }
    });
  }

  /** Drop every connection now; requests in flight end as `aborted`/socket errors. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    clearInterval(this.sweeper);
    for (const p of this.plain.values()) p.destroy();
    this.plain.clear();
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.destroy()));
  }
}

/**
 * One request's callbacks, with undici's original handler API: the newer onResponse* API parses
 * every header block into an object, which a load generator that only needs the status can skip.
 * A class, not closures: one small object per request keeps the garbage collector quiet.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private code = -1;
  private bytes = 0;
  private done = false;
  constructor(private readonly resolve: (r: HttpResult) => void) {}
  onConnect(): void {}
  onHeaders(statusCode: number): boolean {
    this.code = statusCode;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    return true;
  }
  onComplete(): void {
    this.finish({ code: this.code, bytes: this.bytes });
  }
  onError(err: Error): void {
    this.finish({ code: -1, bytes: this.bytes, ...classify(err) });
  }
  private finish(r: HttpResult): void {
    if (this.done) return;
    this.done = true;
    this.resolve(r);
  }
}

/** Map a transport error to a stable, short kind (the report groups errors by it). */
export function classify(err: Error & { code?: string }): { error: string; detail: string } {
  const code = err.code ?? '';
  const detail = `${err.name}: ${err.message}${code ? ` (${code})` : ''}`;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { error: 'timeout', detail };
    case 'UND_ERR_DESTROYED':
    case 'UND_ERR_ABORTED':
      return { error: 'aborted', detail };
    case 'UND_ERR_SOCKET':
      return { error: 'connection closed', detail };
    case '':
      return { error: err.name || 'error', detail };
    default:
      return { error: code, detail };
  }
}
