/**
 * What the team queue's modules share about talking to Redis: its key names, the client's
 * options, owner keys, and how a connection problem becomes a QueueOfflineError.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { Owner } from './owner.js';
import { QueueError } from './queue.js';
import { QueueUrlError, type QueueUrl } from './queue-url.js';

/** Redis cannot be reached: CLI calls exit 3 with this (URL masked); views show "queue offline". */
export class QueueOfflineError extends QueueError {
  constructor(message: string) {
    super(message);
    this.name = 'QueueOfflineError';
  }
}

export interface Keys {
  log: string;
  output: string;
  presence: string;
  /** job id -> "<claim> <owner key>" of its current claim (the gate). */
  claims: string;
  /** node name -> owner key of the worker that runs it. */
  nodes: string;
  /** Wake-ups for free workers: "<job id> <hops>", one per job that became startable. */
  wake: string;
  /** What concerns one engine's running jobs (a cancel, a chaos change): their ids, for it alone to wake on. */
  notify(owner: string): string;
  /** A chaos change asked of another engine: pending, taken, then its answer (redis-chaos.ts). */
  chaos(ref: string): string;
  trimLock: string;
  /** Held for one tick by the process that checks the team for dead engines (see RedisQueue.tick). */
  reapLock: string;
  files(id: string): string;
  alive(owner: string): string;
}

export function makeKeys(p: string): Keys {
  return {
    log: `${p}log`,
    output: `${p}output`,
    presence: `${p}presence`,
    claims: `${p}claims`,
    nodes: `${p}nodes`,
    wake: `${p}wake`,
    notify: (owner) => `${p}notify:${owner}`,
    chaos: (ref) => `${p}chaos:${ref}`,
    trimLock: `${p}trim-lock`,
    reapLock: `${p}reap-lock`,
    files: (id) => `${p}files:${id}`,
    alive: (owner) => `${p}alive:${owner}`,
  };
}

export function clientOptions(): RedisOptions {
  return {
    lazyConnect: true,
    // A command while Redis is away fails at once (views say "queue offline") instead of
    // waiting in a hidden buffer; the connection itself keeps retrying.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  };
}

export function ownerKey(o: Owner): string {
  return `${o.host}/${o.pid}/${o.start ?? ''}${o.session ? `/${o.session}` : ''}`;
}

/** The owner an `ownerKey` names (host, pid and start are enough to judge it). */
export function parseOwnerKey(key: string): Owner {
  const [host, pid, start, session] = key.split('/');
  return { host, pid: Number(pid), start: start ? Number(start) : undefined, session };
}

export function fieldMap(fields: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]] = fields[i + 1];
  return m;
}

export function offline(label: string, e: unknown): QueueOfflineError {
  const why = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
  if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(why)) return new QueueOfflineError(`cannot log in to the queue at ${label} (${why.replace(/\.$/, '')}): check the user and password in the URL`);
  // ioredis's own words, in the user's: they name its options and internals, not what happened.
  if (/^Protocol error, got/.test(why)) return new QueueOfflineError(`queue offline: ${label} does not answer as a Redis server does (${why.replace(/\. Please report this\.$/, '')}): check the host and port`);
  // A reset (the server gone with our request unread) is a connection lost too, not one never made.
  if (/writeable|Connection is closed|^ECONNRESET$|^EPIPE$/i.test(why)) return new QueueOfflineError(`queue offline: the connection to ${label} was lost`);
  return new QueueOfflineError(`queue offline: cannot reach ${label} (${why})`);
}

/** A Redis call; a connection problem becomes a QueueOfflineError naming the masked URL. */
export async function guard<T>(label: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const msg = (e as Error)?.message ?? '';
    if (/writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|max retries|ENOTFOUND|EHOSTUNREACH/i.test(msg + ((e as NodeJS.ErrnoException)?.code ?? ''))) throw offline(label, e);
    throw e;
  }
}

/**
 * SELECT the URL's database. ioredis reports a SELECT that Redis refused only as an `error`
 * event and goes on in db 0: a team giving /16 would share db 0 with whoever else uses it,
 * unknowingly. Refused, `cmd` is disconnected and the error says what range exists.
 */
export async function selectDatabase(cmd: Redis, url: QueueUrl, label: string): Promise<void> {
  const db = Number(new URL(url.url).pathname.slice(1) || 0);
  try {
    await guard(label, cmd.select(db));
  } catch (e) {
    if (!/out of range/i.test((e as Error).message)) throw e;
    cmd.disconnect();
    const count = await databaseCount(cmd);
    throw new QueueUrlError(
      `${label}: database ${db} does not exist on this Redis${count ? ` (it has ${count}: 0 to ${count - 1})` : ''}; give a database number in range, or raise \`databases\` in redis.conf`,
    );
  }
}

async function databaseCount(cmd: Redis): Promise<number | undefined> {
  const probe = cmd.duplicate({ ...clientOptions(), lazyConnect: false, enableOfflineQueue: true, db: 0 });
  probe.on('error', () => {});
  try {
    const [, n] = (await probe.config('GET', 'databases')) as string[];
    return Number(n) || undefined;
  } catch {
    return undefined; // CONFIG may be renamed or forbidden: the message goes without the count
  } finally {
    probe.disconnect();
  }
}
