/**
 * mg's refcount overflow, against a real memcached: an item held by some 60000 references at once
 * (a multi-get of it queued to a client that does not read) fails every mg of it with
 * "SERVER_ERROR refcount overflow during fetch", quiet or not; a classic get reads it as a miss.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FramingError } from '../src/proxy/protocol.js';
import { memcache } from '../src/proxy/protocols/memcache.js';
import { rawExchange } from './helpers/net.js';
import { haveServer, startMemcached, type RunningProcessServer } from './helpers/servers.js';
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
  let server: RunningProcessServer;
  let holder: net.Socket | undefined;
  beforeAll(async () => {
    server = await startMemcached();
    holder = net.connect({ port: server.port, host: '127.0.0.1' });
    const h = holder;
    await new Promise<void>((resolve, reject) => h.once('connect', resolve).once('error', reject));
    const big = 'j'.repeat(512 * 1024);
    let got = '';
    await within('storing j and k', new Promise<void>((resolve) => {
      h.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got === 'STORED\r\nSTORED\r\nSTORED\r\n') resolve();
      });
      h.write(`set j 0 0 ${big.length}\r\n${big}\r\nset k 0 0 1\r\nv\r\nset other 0 0 1\r\no\r\n`);
    }));
    // The holder reads no more: memcached's replies to its get stop once the socket buffers hold
    // a few of the 40 j's (20 MiB), and each k queued behind them keeps its reference. memcached
    // stops taking them at the limit, so k stays held exactly to it.
    h.removeAllListeners('data');
    h.pause();
    h.write(`get ${'j '.repeat(40)}${'k '.repeat(60001).trimEnd()}\r\n`);
    await within('k held 60000 times', (async () => {
      while ((await exchange(server.port, 'mg k v\r\nmn\r\n')) !== `${OVERFLOW}MN\r\n`);
    })());
  });
  afterAll(async () => {
    holder?.destroy();
    await server?.stop();
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

  it('behind an mg q, an mg without q is framed; when the line comes, whose it is nothing says: it falls back there', async () => {
    // The quiet one missed and the other met the overflow: the line is the mg s's, as it would
    // be the quiet one's had it hit an item so held.
    const text = 'mg miss q v\r\nmg k s\r\nmn\r\n';
    const direct = await exchange(server.port, text);
    expect(direct).toBe(`${OVERFLOW}MN\r\n`);
    const s = memcache.createSession();
    s.fromClient(Buffer.from(text, 'latin1'));
    expect(() => s.fromServer(Buffer.from(direct, 'latin1'))).toThrow(FramingError);
    await withProxy('', async (p) => {
      // Where it does not come, the pair is framed as before.
      expect(await exchange(p.port, 'mg miss q v\r\nmg other s\r\nmn\r\n')).toBe('HD s1\r\nMN\r\n');
      expect(p.stats()).toMatchObject({ exchanges: 3, fallbacks: 0 });
      expect(await exchange(p.port, text)).toBe(direct);
      expect(p.stats().fallbacks).toBe(1);
    });
  });
});
