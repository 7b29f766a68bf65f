/**
 * memjs (memcache's binary protocol) through the chaos proxy to a real memcached: passing
 * through, injected errors as binary status replies, a delay, a closed connection.
 */
import net from 'node:net';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveServer, startMemcached, type RunningServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { outcome, within } from './helpers/within.js';

const run = haveServer('memcached');

const client = (port: number) =>
  // retries: 1 is one try; the logger keeps memjs's lines out of the test output.
  memjs.Client.create(`127.0.0.1:${port}`, { retries: 1, timeout: 3, keepAlive: false, logger: { log: () => {} } });

describe.skipIf(!run)('memjs (binary protocol) through the proxy to memcached', () => {
  let server: RunningServer;
  let direct: memjs.Client;
  beforeAll(async () => {
    server = await startMemcached();
    direct = client(server.port);
  });
  afterAll(async () => {
    direct?.close();
    await server?.stop();
  });

  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 7 });

  it('passes through framed: set, get, delete, increment, append, stats, each its own exchange', async () => {
    await withProxy('', async (p) => {
      const c = client(p.port);
      try {
        expect(await within('set', c.set('pb:a', 'hello', {}))).toBe(true);
        expect((await within('get', c.get('pb:a'))).value?.toString()).toBe('hello');
        expect(await within('append', c.append('pb:a', ' world'))).toBe(true);
        expect((await within('get', c.get('pb:a'))).value?.toString()).toBe('hello world');
        expect((await within('get missing', c.get('pb:missing'))).value).toBeNull();
        const big = Buffer.alloc(400_000, 'z');
        expect(await within('set big', c.set('pb:big', big, {}))).toBe(true);
        expect((await within('get big', c.get('pb:big'))).value?.equals(big)).toBe(true);
        expect((await within('increment', c.increment('pb:n', 5, { initial: 10 }))).value).toBe(10);
        expect((await within('increment', c.increment('pb:n', 5, {}))).value).toBe(15);
        expect(await within('delete', c.delete('pb:a'))).toBe(true);
        expect(await within('delete again', c.delete('pb:a'))).toBe(false);
        // STAT answers a packet per statistic: one exchange, and the next command still framed.
        const stats = await within('stats', new Promise<Record<string, string> | null>((resolve, reject) =>
          c.stats((err, _server, s) => (err ? reject(err) : resolve(s)))));
        expect(stats?.pid).toMatch(/^\d+$/);
        expect((await within('get after stats', c.get('pb:big'))).value?.length).toBe(big.length);
        const st = p.stats();
        expect(st.fallbacks).toBe(0);
        expect(st.exchanges).toBe(13);
        expect(st.latency.count).toBe(13);
      } finally {
        c.close();
      }
    });
  });

  it('100:error: every command answered with a binary error status, none reaching memcached, the client usable after', async () => {
    await withProxy('100:error', async (p) => {
      const c = client(p.port);
      try {
        expect(await outcome('set', c.set('e100:a', 'x', {}))).toEqual({ err: 'MemJS SET: Out of memory' });
        expect(await outcome('get', c.get('e100:a'))).toEqual({ err: 'MemJS GET: Out of memory' });
        expect(await outcome('delete', c.delete('e100:a'))).toEqual({ err: 'MemJS DELETE: Out of memory' });
        await p.setMix({ error: { percent: 100, kind: 'busy' } });
        expect(await outcome('set', c.set('e100:a', 'x', {}))).toEqual({ err: 'MemJS SET: Temporary failure' });
        await p.setMix('');
        expect((await within('get direct', direct.get('e100:a'))).value).toBeNull();
        expect(await within('set', c.set('e100:a', 'y', {}))).toBe(true);
        expect((await within('get', c.get('e100:a'))).value?.toString()).toBe('y');
        expect(p.stats().behaviors.error).toBe(4);
        expect(p.stats().fallbacks).toBe(0);
      } finally {
        c.close();
      }
    });
  });

  it('30:error with a seed: each command settles with its reply or an injected status, the counters agree', async () => {
    await withProxy('30:error', async (p) => {
      const c = client(p.port);
      try {
        let errors = 0;
        let oks = 0;
        for (let i = 0; i < 60; i++) {
          const key = `e30:${i}`;
          const set = await outcome(`set ${key}`, c.set(key, `v${i}`, {}));
          const stored = (await within(`direct get ${key}`, direct.get(key))).value?.toString();
          if ('err' in set) {
            errors++;
            expect(set.err).toBe('MemJS SET: Out of memory');
            // Refused as memcached refuses: nothing stored.
            expect(stored).toBeUndefined();
          } else {
            oks++;
            expect(stored).toBe(`v${i}`);
          }
          const get = await outcome(`get ${key}`, c.get(key));
          if ('err' in get) {
            errors++;
            expect(get.err).toBe('MemJS GET: Out of memory');
          } else {
            oks++;
            expect(get.ok.value?.toString()).toBe('err' in set ? undefined : `v${i}`);
          }
        }
        expect(errors).toBeGreaterThan(20);
        expect(oks).toBeGreaterThan(60);
        const st = p.stats();
        expect(st.behaviors.error).toBe(errors);
        expect(st.exchanges).toBe(120);
        expect(st.fallbacks).toBe(0);
      } finally {
        c.close();
      }
    });
  });

  it('a delay holds a command; a reset connection is reopened by memjs and later commands succeed', async () => {
    await withProxy('', async (p) => {
      const c = client(p.port);
      try {
        expect(await within('set', c.set('dl:a', '1', {}))).toBe(true);
        await p.setMix({ delay: { percent: 100, sleep: 0.3 } });
        const t = performance.now();
        expect((await within('get delayed', c.get('dl:a'))).value?.toString()).toBe('1');
        expect(performance.now() - t).toBeGreaterThanOrEqual(290);
        // A reset, not abort's clean close: memjs never settles a command whose connection the
        // server closes cleanly (a memcached restart does that too), proxy or not.
        const cutSocket = (c as unknown as { servers: Array<{ _socket: net.Socket }> }).servers[0]._socket;
        const cutClosed = new Promise((r) => cutSocket.once('close', r));
        await p.setMix({ reset_peer: { percent: 100 } });
        expect(await outcome('get cut', c.get('dl:a'))).toEqual({ err: 'read ECONNRESET' });
        await p.setMix('');
        // memjs reports the reset before the socket's 'close', whose handler then forgets the
        // socket a command sent in between opened: that command is never written and never
        // settles (so against memcached itself). The next command waits for that 'close'.
        await within('the cut socket closed', cutClosed);
        expect((await within('get after the cut', c.get('dl:a'))).value?.toString()).toBe('1');
        expect(await within('set after the cut', c.set('dl:b', '2', {}))).toBe(true);
        expect(p.stats().connections.total).toBe(2);
      } finally {
        c.close();
      }
    });
  });
});
