/**
 * mg's refcount overflow, against a real memcached: an item held by some 60000 references at once
 * (a multi-get of it queued to a client that does not read) fails every mg of it with
 * "SERVER_ERROR refcount overflow during fetch", quiet or not; a classic get reads it as a miss.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FramingError } from '../src/proxy/protocol.js';
import { memcache } from '../src/proxy/protocols/memcache.js';
import { freePort, rawExchange } from './helpers/net.js';
import { findBinary, haveServer, startProcess, tempDir } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';
import { within } from './helpers/within.js';

const run = haveServer('memcached');

const OVERFLOW = 'SERVER_ERROR refcount overflow during fetch\r\n';

const exchange = async (port: number, bytes: string) =>
  Buffer.concat(await rawExchange(port, Buffer.from(bytes, 'latin1'), 'MN\r\n')).toString('latin1');

/** Each request's reply as the memcache session frames `replies` to `requests` ('' for none). */
function framed(requests: string, replies: string): string[] {
  const s = memcache.createSession();
  s.fromClient(Buffer.from(requests, 'latin1'));
  const out: string[] = [];
  let cur = '';
  for (const x of s.fromServer(Buffer.from(replies, 'latin1'))) {
    expect(x.passthrough, 'a reply nobody asked for').toBeFalsy();
    cur = (x.start ? '' : cur) + x.data.toString('latin1');
    if (x.end) out.push(cur);
  }
  return out;
}

describe.skipIf(!run)('memcache: mg on an item held by 60000 references', () => {
  const server = { port: 0, stop: async () => {} };
  const holders: net.Socket[] = [];

  /** A connection that sends `bytes` and reads nothing after `until` has come. */
  async function holder(bytes: string, until = ''): Promise<void> {
    const h = net.connect({ port: server.port, host: '127.0.0.1' });
    holders.push(h);
    await new Promise<void>((resolve, reject) => h.once('connect', resolve).once('error', reject));
    let got = '';
    await within('a holder', new Promise<void>((resolve) => {
      h.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got === until) resolve();
      });
      h.write(bytes);
      if (until === '') resolve();
    }));
    h.removeAllListeners('data');
    h.pause();
  }

  /** memcached's count of keys fetched. */
  const fetched = async () => Number(/STAT cmd_get (\d+)/.exec(Buffer.concat(await rawExchange(server.port, Buffer.from('stats\r\n'), 'END\r\n')).toString())![1]);

  beforeAll(async () => {
    server.port = await freePort();
    // No LRU maintainer nor crawler: each holds an item for a moment as it looks at it, which
    // would move k's count off the limit now and then.
    ({ stop: server.stop } = await startProcess(
      findBinary('memcached') ?? 'memcached',
      ['-u', 'root', '-l', '127.0.0.1', '-p', String(server.port), '-U', '0', '-o', 'no_lru_maintainer,no_lru_crawler'],
      server.port,
      await tempDir('memcached-refcount'),
    ));
    const big = 'j'.repeat(512 * 1024);
    await holder(`set j 0 0 ${big.length}\r\n${big}\r\nset k 0 0 1\r\nv\r\nset other 0 0 1\r\no\r\n`, 'STORED\r\nSTORED\r\nSTORED\r\n');
    // A holder reads no more: memcached's replies to its get stop once the socket buffers hold
    // some of the 100 j's (50 MiB), and each k queued behind them keeps its reference. memcached
    // stops taking them at the limit, less any reference held for a moment elsewhere as the get
    // ran (a reply on its way): one more holder of one k then, until it is met.
    await within('k held 60000 times', (async () => {
      for (let keys = 60001; ; keys = 1) {
        const before = await fetched();
        await holder(`get ${'j '.repeat(100)}${'k '.repeat(keys).trimEnd()}\r\n`);
        while ((await fetched()) < before + 100 + keys);
        if ((await exchange(server.port, 'mg k s\r\nmn\r\n')) === `${OVERFLOW}MN\r\n`) return;
      }
    })());
  });
  afterAll(async () => {
    for (const h of holders) h.destroy();
    await server.stop();
  });

  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 11 });

  it('a quiet mg takes the overflow line, as it takes its hit; the mn closing the batch its MN', async () => {
    const batch: [string, string][] = [
      ['mg k v q O1\r\n', OVERFLOW],
      ['mg k q k\r\n', OVERFLOW],
      ['mg other v q\r\n', 'VA 1\r\no\r\n'],
      ['mg k s q\r\n', OVERFLOW],
      ['mg miss q v\r\n', ''],
      ['get k\r\n', 'END\r\n'],
      ['mn\r\n', 'MN\r\n'],
    ];
    const text = batch.map(([r]) => r).join('');
    const replies = batch.map(([, r]) => r).join('');
    const direct = await exchange(server.port, text);
    expect(direct).toBe(replies);
    expect(framed(text, direct)).toEqual(batch.map(([, r]) => r));
    await withProxy('', async (p) => {
      expect(await exchange(p.port, text)).toBe(replies);
      expect(p.stats()).toMatchObject({ exchanges: batch.length, fallbacks: 0 });
      // Each one ended: none took another's reply.
      expect(p.stats().latency.count).toBe(batch.length);
    });
    // A silent quiet mg ahead of one that met it: the older takes the line, as of two ms q out of
    // memory; whose it was nothing on the wire says, and either way the MN after is the mn's.
    const pair = 'mg miss q v\r\nmg k q\r\nmn\r\n';
    expect(await exchange(server.port, pair)).toBe(`${OVERFLOW}MN\r\n`);
    expect(framed(pair, `${OVERFLOW}MN\r\n`)).toEqual([OVERFLOW, '', 'MN\r\n']);
  });

  it('behind an mg q, an mg without q may get it too: the mn right behind them says whose it is; without, it falls back when it comes', async () => {
    // The quiet one missed and the other met the overflow: the line is the mg s's, as it would
    // be the quiet one's had it hit an item so held.
    const text = 'mg miss q v\r\nmg k s\r\nmn\r\n';
    const direct = await exchange(server.port, text);
    expect(direct).toBe(`${OVERFLOW}MN\r\n`);
    expect(framed(text, direct)).toEqual(['', OVERFLOW, 'MN\r\n']);
    const alone = memcache.createSession();
    alone.fromClient(Buffer.from('mg miss q v\r\nmg k s\r\n', 'latin1'));
    expect(() => alone.fromServer(Buffer.from(OVERFLOW, 'latin1'))).toThrow(FramingError);
    await withProxy('', async (p) => {
      expect(await exchange(p.port, text)).toBe(direct);
      expect(p.stats()).toMatchObject({ exchanges: 3, fallbacks: 0 });
      expect(p.stats().latency.count).toBe(3);
      // Without the mn, framed while the line does not come (another item), a fallback when it does.
      const c = net.connect({ port: p.port, host: '127.0.0.1' });
      try {
        let got = '';
        let check = () => {};
        c.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          check();
        });
        const until = (want: string) => within(want, new Promise<void>((resolve) => {
          check = () => got === want && resolve();
          check();
        }));
        c.write('mg miss q v\r\nmg other s\r\n');
        await until('HD s1\r\n');
        expect(p.stats()).toMatchObject({ exchanges: 5, fallbacks: 0 });
        c.write('mg miss q v\r\nmg k s\r\n');
        await until(`HD s1\r\n${OVERFLOW}`);
        expect(p.stats().fallbacks).toBe(1);
      } finally {
        c.destroy();
      }
    });
  });
});
