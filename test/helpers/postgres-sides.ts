/**
 * The two sides a PostgreSQL scenario runs on, to compare a real error with an injected one: the
 * server directly, where a statement really fails, and the chaos proxy in front of it, where a
 * statement draws an injected error; and what a raw client is answered, as words.
 */
import type { Proxy } from '../../src/proxy/proxy.js';
import { type messageClient, word, type Message } from './postgres-wire.js';

export type Behaviors = NonNullable<Parameters<Proxy['setMix']>[0]>;

/** The messages as words, an error's SQLSTATE left out: the real error's and the injected one's differ. */
export const words = (ms: Message[]) => ms.map((m) => (m.type === 'E' ? 'E' : word(m))).join(' ');

/**
 * What `c` is answered, as words, a request's in turn: `read` sends messages and keeps what comes
 * back up to a message of type `type`; `send`, up to a ReadyForQuery.
 */
export function replies(c: Awaited<ReturnType<typeof messageClient>>) {
  const out: string[] = [];
  const read = async (type: string, ...ms: Buffer[]) => { c.write(Buffer.concat(ms)); out.push(words(await c.until(type))); };
  return { out, read, send: (...ms: Buffer[]) => read('Z', ...ms) };
}

/**
 * Where a request fails for real (directly: `real`, a statement that fails) or by an injected
 * error (through the proxy: `injected`, drawn while `behaviors` is the mix).
 */
export interface Side {
  port: number;
  sql(real: string, injected: string): string;
  arm(behaviors: Behaviors): Promise<void>;
  disarm(): Promise<void>;
  /** Once the request being sent has been taken in (through the proxy: it has its exchange). */
  took(exchanges: number): Promise<void>;
}

/** The server on `port` itself. */
export function directSide(port: number): Side {
  return { port, sql: (real) => real, arm: async () => {}, disarm: async () => {}, took: async () => {} };
}

export function proxySide(p: Proxy): Side {
  return {
    port: p.port,
    sql: (_, injected) => injected,
    arm: async (b) => { await p.setMix(b); },
    disarm: async () => { await p.setMix(''); },
    async took(exchanges) {
      const deadline = Date.now() + 5000;
      while (p.stats().exchanges < exchanges) {
        if (Date.now() > deadline) throw new Error(`the proxy has ${p.stats().exchanges} exchanges, not ${exchanges}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}
