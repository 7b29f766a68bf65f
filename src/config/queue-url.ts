/**
 * `--queue` / `queue:` values: where the shared queue lives. Pure parsing and masking: a Redis
 * URL may carry a password, and no log line, error or view may ever show it.
 */

export interface QueueUrl {
  /** The URL as given, for the client only. */
  url: string;
  /** The same with any user and password replaced by `***`: the only form shown to anyone. */
  masked: string;
}

export class QueueUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUrlError';
  }
}

const EXAMPLE = 'e.g. redis://127.0.0.1:6379/0 or redis://:password@redis.example:6379/2';

export function parseQueueUrl(text: string): QueueUrl {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    // Never echo the value: a mistyped URL may still hold a password.
    throw new QueueUrlError(`the queue is not a URL (${EXAMPLE})`);
  }
  const masked = maskUrl(u.href);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new QueueUrlError(`${masked}: the queue must be a redis:// or rediss:// URL (${EXAMPLE}); leave it out for the embedded journal`);
  }
  if (!u.hostname) throw new QueueUrlError(`${masked}: no host (${EXAMPLE})`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d{1,5}$/.test(db)) throw new QueueUrlError(`${masked}: the path is the database number, e.g. /0`);
  return { url: u.href, masked };
}

/** Query parameters that may hold a credential: ioredis takes `?password=` as well as `:pw@`. */
const SECRET_PARAM = /pass|user|auth|secret|token|key/i;

/** A URL with its credentials hidden, in its user part and in its query; a text that is not a URL is hidden whole. */
export function maskUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return '***';
  }
  // Built by hand: URLSearchParams would write "***" as "%2A%2A%2A".
  const query = [...u.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${SECRET_PARAM.test(k) ? '***' : encodeURIComponent(v)}`).join('&');
  const search = query ? `?${query}` : '';
  const userinfo = u.username || u.password ? '***@' : '';
  return `${u.protocol}//${userinfo}${u.host}${u.pathname}${search}`;
}
