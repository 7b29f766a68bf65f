/**
 * node-redis (the `redis` package) through the chaos proxy to a real redis-server: its RESP3
 * handshake (HELLO 3, CLIENT SETINFO), MULTI/EXEC, auto-pipelining and pub/sub passing through;
 * injected errors, a delay and a cut connection as node-redis meets them.
 */
import { createClient, defineScript, type CommandParser } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MixSpec } from '../src/proxy/mix.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { haveServer, startRedis, type RunningServer } from './helpers/servers.js';
import { startProxy } from './helpers/builtin-proxy.js';
import { outcome, within } from './helpers/within.js';

const run = haveServer('redis-server');
const LOADING = 'LOADING Redis is loading the dataset in memory';

/** A node-redis client on `port`, RESP3 unless told, reconnecting at once (`tries` times); its error events are kept, not thrown. */
function client(port: number, tries = Infinity, RESP: 2 | 3 = 3, login: { password?: string; database?: number } = {}) {
  const reconnectStrategy = (n: number) => (n >= tries ? new Error(`gave up after ${n} tries`) : 20);
  const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy }, RESP, ...login });
  const errors: string[] = [];
  c.on('error', (e: Error) => errors.push(e.message));
  return Object.assign(c, { errorEvents: errors });
}
type Client = ReturnType<typeof client>;

describe.skipIf(!run)('node-redis through the proxy to redis-server', () => {
  let server: RunningServer;
  let direct: Client;
  beforeAll(async () => {
    server = await startRedis();
    direct = client(server.port);
    await direct.connect();
  });
  afterAll(async () => {
    direct?.destroy();
    await server?.stop();
  });

  /** A proxy, and a node-redis client connected through it before `mix` is set. */
  async function withClient(mix: MixSpec, fn: (p: Proxy, c: Client) => Promise<void>, resp: 2 | 3 = 3) {
    const p = await startProxy({ name: 'nr', listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}`, protocol: 'redis', behaviors: '', seed: 11 });
    const c = client(p.port, Infinity, resp);
    try {
      await within('connect', c.connect());
      await p.setMix(mix);
      await fn(p, c);
    } finally {
      c.destroy();
      await p.close(100);
    }
  }

  it.each([3, 2] as const)('passes through with RESP%s: the handshake, get/set, multi/exec, auto-pipelining, pub/sub', async (resp) => {
    await withClient('', async (p, c) => {
      // With RESP3, HELLO 3 reached the server through the proxy: the connection speaks it there.
      expect((await within('client info', c.clientInfo())).resp).toBe(resp);
      expect(await within('set', c.set(`nr${resp}:a`, '1'))).toBe('OK');
      expect(await within('get', c.get(`nr${resp}:a`))).toBe('1');
      expect(await within('hgetall', (async () => { await c.hSet(`nr${resp}:h`, { f: 'v' }); return c.hGetAll(`nr${resp}:h`); })())).toEqual({ f: 'v' });
      expect(await within('multi', c.multi().set(`nr${resp}:m`, 'x').incr(`nr${resp}:n`).get(`nr${resp}:m`).exec())).toEqual(['OK', 1, 'x']);
      // Commands issued in one tick go out in one write.
      const keys = Array.from({ length: 50 }, (_, i) => `nr${resp}:p${i}`);
      await within('pipelined sets', Promise.all(keys.map((k, i) => c.set(k, String(i)))));
      expect(await within('pipelined gets', Promise.all(keys.map((k) => c.get(k))))).toEqual(keys.map((_, i) => String(i)));
      // Pub/sub: a subscriber of its own (RESP3 push messages), a publish from another client.
      const sub = c.duplicate();
      sub.on('error', () => {});
      try {
        await within('subscriber connect', sub.connect());
        const got: string[] = [];
        await within('subscribe', sub.subscribe(`nr${resp}:ch`, (m) => { got.push(m); }));
        expect(await within('publish', direct.publish(`nr${resp}:ch`, 'hello'))).toBe(1);
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(got).toEqual(['hello']);
        // A subscribed connection answers PING (RESP2: as a pub/sub message).
        expect(await within('ping while subscribed', sub.ping())).toMatch(/^pong$/i);
      } finally {
        sub.destroy();
      }
      const st = p.stats();
      expect(st.fallbacks).toBe(0);
      expect(st.behaviors.error ?? 0).toBe(0);
      expect(c.errorEvents).toEqual([]);
    }, resp);
  });

  // MULTI passes: a loading redis serves it (flag loading), and refuses the commands queued after it.
  it('100:error: every command, pipelined or in a transaction, gets the injected error; the client goes on', async () => {
    await withClient('100:error', async (p, c) => {
      expect(await outcome('get', c.get('e:a'))).toEqual({ err: LOADING });
      expect(await outcome('set', c.set('e:a', '1'))).toEqual({ err: LOADING });
      const batch = await within('pipelined', Promise.allSettled([c.get('e:a'), c.incr('e:n'), c.set('e:b', '1')]));
      expect(batch.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).toEqual([LOADING, LOADING, LOADING]);
      expect(await outcome('multi', c.multi().set('e:m', '1').incr('e:n').exec())).toEqual({ err: LOADING });
      await p.setMix('');
      expect(await within('exists', direct.exists(['e:a', 'e:b', 'e:m', 'e:n']))).toBe(0);
      expect(await within('set after', c.set('e:a', '2'))).toBe('OK');
      expect(await within('multi after', c.multi().set('e:m', '1').incr('e:n').exec())).toEqual(['OK', 1]);
      // get, set, three pipelined, and the transaction's SET and INCR: its EXEC, which a loading redis
      // serves for a block they left empty, is answered 'because of previous errors' as there, no error drawn.
      expect(p.stats().behaviors.error).toBe(7);
      expect(c.errorEvents).toEqual([]);
    });
  });

  // On a real redis an error on EXEC itself (OOM, READONLY, LOADING, ... found as EXEC comes)
  // discards the transaction: '-EXECABORT Transaction discarded because of: OOM ...', none of it
  // run (checked on redis 7.0: MULTI, SET, INCR queued, maxmemory set to 1, then EXEC).
  it('an error on EXEC discards the transaction, as on a real redis: the client is told, nothing ran', async () => {
    await withClient({ transient: { percent: 100, warmup: 3, agitate: 1 } }, async (p, c) => {
      const got = await outcome('multi', c.multi().set('x:k', '1').incr('x:n').exec());
      expect(got).toEqual({ err: `EXECABORT Transaction discarded because of: ${LOADING}` });
      expect(await within('exists', direct.exists(['x:k', 'x:n']))).toBe(0);
      expect(await within('multi after', c.multi().set('x:k', '2').incr('x:n').exec())).toEqual(['OK', 1]);
      expect(p.stats().behaviors.transient).toBe(1);
    });
  });

  it('30:error with a seed: each command settles, with its value or the injected error; transactions run whole or not at all; the counters agree', async () => {
    await withClient('30:error', async (p, c) => {
      let told = 0;
      const note = (o: { ok: unknown } | { err: string }) => {
        if ('err' in o) {
          expect(o.err).toMatch(new RegExp(`^(EXECABORT Transaction discarded because of: )?${LOADING}$`));
          told++;
        }
        return o;
      };
      for (let i = 0; i < 40; i++) {
        const [k, n] = [`r30:${i}`, `r30:n${i}`];
        const set = note(await outcome('set', c.set(k, 'v')));
        const get = note(await outcome('get', c.get(k)));
        if ('ok' in get) expect(get.ok).toBe('ok' in set ? 'v' : null);
        const batch = await within('pipelined', Promise.allSettled([c.incr(n), c.incr(n), c.incr(n)]));
        for (const r of batch) note(r.status === 'rejected' ? { err: (r.reason as Error).message } : { ok: r.value });
        const before = p.stats().behaviors.error ?? 0;
        const tx = await outcome('multi', c.multi().incr(`${n}:tx`).incr(`${n}:tx`).exec());
        const drawn = (p.stats().behaviors.error ?? 0) - before;
        // One transaction, one error told, whichever of its four requests drew how many.
        if ('err' in tx) {
          expect(drawn).toBeGreaterThan(0);
          note(tx);
          told += drawn - 1;
        } else {
          expect([tx.ok, drawn]).toEqual([[1, 2], 0]);
        }
        expect(await within('tx value', direct.get(`${n}:tx`))).toBe('ok' in tx ? '2' : null);
      }
      expect(told).toBeGreaterThan(40);
      expect(p.stats().behaviors.error).toBe(told);
      expect(p.stats().fallbacks).toBe(0);
      expect(c.errorEvents).toEqual([]);
    });
  });

  // A loading redis serves HELLO, AUTH, SELECT, CLIENT SETNAME ... (flag loading) and refuses
  // GET, SET, PING: a client connects to it, and its commands fail until the load is done.
  it.each([3, 2] as const)('connecting at 100:error (LOADING) with RESP%s, AUTH and SELECT: the handshake passes as a loading redis serves it; commands get LOADING', async (resp) => {
    const locked = await startRedis({ password: 'pw' });
    const p = await startProxy({ name: 'nr', listen: '127.0.0.1:0', upstream: `127.0.0.1:${locked.port}`, protocol: 'redis', behaviors: '100:error', seed: 11 });
    const c = client(p.port, 3, resp, { password: 'pw', database: 1 });
    try {
      await within('connect', c.connect());
      expect(await outcome('get', c.get('l:a'))).toEqual({ err: LOADING });
      expect(await outcome('ping', c.ping())).toEqual({ err: LOADING });
      const batch = await within('pipelined', Promise.allSettled([c.get('l:a'), c.set('l:a', '1'), c.incr('l:n')]));
      expect(batch.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).toEqual([LOADING, LOADING, LOADING]);
      // Its handshake's two CLIENT SETINFO and, with RESP3, CLIENT MAINT_NOTIFICATIONS pass, unknown
      // to redis 7.0, which says so before it looks at its state (redis-refusals.ts): five errors.
      expect(p.stats().behaviors.error).toBe(5);
      await p.setMix('');
      expect(await within('set after', c.set('l:a', '2'))).toBe('OK');
      expect((await within('client info', c.clientInfo())).db).toBe(1);
      expect(c.errorEvents).toEqual([]);
    } finally {
      c.destroy();
      await p.close(100);
      await locked.stop();
    }
  });

  // A read-only replica serves reads and refuses writes (flag write).
  it('100:error READONLY: reads work, writes fail with READONLY, as on a read-only replica; the counters equal what node-redis saw', async () => {
    await withClient({ error: { percent: 100, kind: 'READONLY' } }, async (p, c) => {
      const READONLY = "READONLY You can't write against a read only replica.";
      await within('seed', direct.set('ro:a', 'v'));
      expect(await outcome('get', c.get('ro:a'))).toEqual({ ok: 'v' });
      expect(await outcome('set', c.set('ro:a', 'w'))).toEqual({ err: READONLY });
      const batch = await within('pipelined', Promise.allSettled([c.get('ro:a'), c.incr('ro:n'), c.exists('ro:a'), c.del('ro:a')]));
      expect(batch.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).toEqual(['v', READONLY, 1, READONLY]);
      expect(await outcome('ping', c.ping())).toEqual({ ok: 'PONG' });
      expect(await within('get direct', direct.get('ro:a'))).toBe('v');
      expect(p.stats().behaviors.error).toBe(3);
      expect(c.errorEvents).toEqual([]);
    });
  });

  // node-redis' scripts (defineScript) send EVALSHA (EVALSHA_RO when read-only) first, EVAL after a
  // NOSCRIPT: a read-only replica refuses the one that writes at its write, said with where, and
  // runs one flagged no-writes; the proxy at READONLY answers both the same, first call and next.
  it('100:error READONLY: node-redis scripts (EVALSHA, then EVAL on NOSCRIPT) answered as by a read-only replica', async () => {
    const scripts = {
      ndWrite: defineScript({
        SCRIPT: "local n = redis.call('INCR', KEYS[1])\nreturn redis.call('SET', KEYS[1], ARGV[1])",
        NUMBER_OF_KEYS: 1,
        parseCommand(parser: CommandParser, key: string, value: string) {
          parser.pushKey(key);
          parser.push(value);
        },
        transformReply: (reply: unknown) => reply,
      }),
      ndRead: defineScript({
        SCRIPT: "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
        NUMBER_OF_KEYS: 1,
        IS_READ_ONLY: true,
        parseCommand(parser: CommandParser, key: string) {
          parser.pushKey(key);
        },
        transformReply: (reply: unknown) => reply,
      }),
    };
    /** What node-redis gets for the scripts, twice (the second time their SHA1 is known), on a server at `port`. */
    const calls = async (port: number) => {
      const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false }, scripts });
      c.on('error', () => {});
      await within('connect', c.connect());
      try {
        const got: unknown[] = [];
        for (let i = 0; i < 2; i++) {
          got.push(await outcome('write script', c.ndWrite('sc:n', 'v')));
          got.push(await outcome('read script', c.ndRead('sc:r')));
        }
        // Each was sent as EVALSHA first, then EVAL once.
        const stats = String(await c.info('commandstats'));
        got.push(['evalsha', 'evalsha_ro', 'eval', 'eval_ro'].map((name) => new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? '0'));
        return got;
      } finally {
        c.destroy();
      }
    };
    const replica = await startRedis();
    let want: unknown[];
    try {
      const c = client(replica.port);
      await within('connect', c.connect());
      await c.set('sc:r', 'r');
      await c.sendCommand(['REPLICAOF', '127.0.0.1', '1']);
      c.destroy();
      want = await calls(replica.port);
    } finally {
      await replica.stop();
    }
    expect(want[0]).toEqual({ err: expect.stringMatching(/^READONLY You can't write against a read only replica\. script: [0-9a-f]{40}, on @user_script:1\.$/) });
    expect(want.slice(1, 4)).toEqual([{ ok: 'r' }, want[0], { ok: 'r' }]);
    // EVALSHA and EVALSHA_RO twice each, EVAL and EVAL_RO once, after the first NOSCRIPTs.
    expect(want[4]).toEqual(['2', '2', '1', '1']);
    await within('seed', direct.set('sc:r', 'r'));
    await withClient({ error: { percent: 100, kind: 'READONLY' } }, async (p) => {
      const got = await calls(p.port);
      expect(got.slice(0, 4)).toEqual(want.slice(0, 4));
      expect(p.stats().behaviors.error).toBe(2);
      expect(await within('not written', direct.get('sc:n'))).toBe(null);
    });
  });

  it('a delay holds a command; a cut connection is reopened by node-redis and later commands succeed', async () => {
    await withClient({ delay: { percent: 100, sleep: 0.3 } }, async (p, c) => {
      const t = performance.now();
      expect(await within('set delayed', c.set('d:a', '1'))).toBe('OK');
      expect(performance.now() - t).toBeGreaterThanOrEqual(290);
      await p.setMix({ abort: { percent: 100 } });
      expect(await outcome('get cut', c.get('d:a'))).toEqual({ err: 'Socket closed unexpectedly' });
      await p.setMix('');
      expect(await within('get after the cut', c.get('d:a'))).toBe('1');
      expect(await within('multi after the cut', c.multi().incr('d:n').get('d:a').exec())).toEqual([1, '1']);
      expect(p.stats().connections.total).toBe(2);
      expect(c.errorEvents).toEqual(['Socket closed unexpectedly']);
    });
  });
});
