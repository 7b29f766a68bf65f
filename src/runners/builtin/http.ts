/**
 * One virtual user's HTTP side: a keep-alive undici Client per origin (one connection each, like
 * one FunkLoad thread with its own connection), driven through `dispatch` with a bare handler so
 * a request costs no stream objects. A request never rejects: failures come back as data.
 */
import { Client } from 'undici';
import type { Dispatcher } from 'undici';

export interface HttpResult {
  /** HTTP status, -1 when no complete response came. */
  code: number;
  bytes: number;
  /** Short error kind for grouping, when the exchange failed below HTTP. */
  error?: string;
  detail?: string;
}

/** A request as undici's dispatch takes it; built once per scenario step and reused. */
export interface RequestSpec {
  origin: string;
  path: string;
  method: Dispatcher.HttpMethod;
  /** A flat [name, value, ...] list, user-agent included. */
  headers: string[];
  body: string | null;
}

export interface UserAgentOptions {
  /** Idle limit for headers and between body chunks (undici's headersTimeout/bodyTimeout). */
  timeoutMs: number;
}

export class UserAgent {
  private clients = new Map<string, Client>();
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

  send(spec: RequestSpec): Promise<HttpResult> {
    if (this.destroyed) return Promise.resolve({ code: -1, bytes: 0, error: 'aborted' });
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
