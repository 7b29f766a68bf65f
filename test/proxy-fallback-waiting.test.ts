/**
 * A connection whose framing stops (a FramingError: it passes bytes through from then on) while
 * exchanges still wait for their reply, against a real memcached held stopped (SIGSTOP) so that
 * they do wait: the forwarded ones get the server's bytes and end, and an injected error waiting
 * behind a forwarded one, whose place in the now unframed stream nobody can tell, ends the
 * connection (said in the log) rather than leave the client waiting for ever.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy/proxy.js';
import { waitFor } from './helpers/recording-relay.js';
import { freeze, haveServer, startMemcached, type RunningProcessServer } from './helpers/servers.js';
import { proxiesTo } from './helpers/with-proxy.js';

const WAIT_MS = 8000;
const run = haveServer('memcached');

/** A raw client socket: what it received, and a promise settled by its end, close or error. */
function rawClient(port: number) {
  const s = net.connect(port, '127.0.0.1');
  let received = '';
  let ended = false;
  s.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    for (const e of ['end', 'close', 'error']) s.once(e, () => { ended = true; resolve(); });
  });
  return { socket: s, received: () => received, ended: () => ended, closed };
}

/** An mg v behind an mg v q, neither with O nor k, then a get: memcache.ts cannot frame them and passes the connection through. */
const FALLS_BACK = 'mg k v q\r\nmg nope v\r\nget k\r\n';
const VALUE = 'VALUE k 0 1\r\nv\r\nEND\r\n';

describe.skipIf(!run)('a connection that falls back to passthrough with exchanges waiting (memcached)', () => {
  let server: RunningProcessServer;
  beforeAll(async () => {
    server = await startMemcached();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const withProxy = proxiesTo(() => server.port, { protocol: 'memcache', seed: 3 });

  /** A client with k stored through `p`, the server stopped behind it. */
  async function stoppedBehind(p: Proxy) {
    const c = rawClient(p.port);
    c.socket.write('set k 0 0 1\r\nv\r\n');
    await waitFor(() => c.received() === 'STORED\r\n', WAIT_MS);
    await freeze(server.pid);
    return c;
  }

  it('a forwarded request waiting as the framing stops gets the server\'s reply, passed through, and its exchange ends', async () => {
    await withProxy('', async (p) => {
      const c = await stoppedBehind(p);
      try {
        c.socket.write('get k\r\n');
        await waitFor(() => p.stats().exchanges === 2, WAIT_MS);
        c.socket.write(FALLS_BACK);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      const all = `STORED\r\n${VALUE}VA 1\r\nv\r\nEN\r\n${VALUE}`;
      await waitFor(() => c.received().length >= all.length, WAIT_MS);
      expect(c.received()).toBe(all);
      // The get's exchange ended with the bytes that came: none is left open.
      await waitFor(() => p.stats().latency.count === 2, WAIT_MS).catch(() => {});
      expect(p.stats()).toMatchObject({ exchanges: 2, fallbacks: 1 });
      expect(p.stats().latency.count).toBe(2);
      // The connection still serves, passed through.
      c.socket.write('get k\r\n');
      await waitFor(() => c.received().length >= all.length + VALUE.length, WAIT_MS);
      expect(c.received()).toBe(all + VALUE);
      c.socket.end();
      await waitFor(() => p.stats().connections.open === 0, WAIT_MS);
    });
  });

  it('requests waiting as the framing stops at a reply in doubt get the server\'s replies, and their exchanges end', async () => {
    await withProxy('', async (p) => {
      const c = rawClient(p.port);
      c.socket.write('set k 0 0 1\r\nv\r\n');
      await waitFor(() => c.received() === 'STORED\r\n', WAIT_MS);
      // No mn behind the pair: the framer stops at the VA, whose request nothing tells.
      c.socket.write('mg k v q\r\nmg nope v\r\n');
      const all = 'STORED\r\nVA 1\r\nv\r\nEN\r\n';
      await waitFor(() => c.received().length >= all.length, WAIT_MS);
      expect(c.received()).toBe(all);
      await waitFor(() => p.stats().latency.count === 3, WAIT_MS).catch(() => {});
      expect(p.stats()).toMatchObject({ exchanges: 3, fallbacks: 1 });
      expect(p.stats().latency.count).toBe(3);
      c.socket.end();
      await waitFor(() => p.stats().connections.open === 0, WAIT_MS);
    });
  });

  it('an error injected behind a forwarded request still waiting as the framing stops: the connection ends, said in the log, not a client waiting for ever', async () => {
    await withProxy('', async (p) => {
      const logs: string[] = [];
      p.on('event', (e) => { if (e.type === 'proxy.log') logs.push(e.message); });
      const c = await stoppedBehind(p);
      try {
        c.socket.write('get k\r\n');
        await waitFor(() => p.stats().exchanges === 2, WAIT_MS);
        await p.setMix('100:error');
        c.socket.write('get k\r\n');
        await waitFor(() => p.stats().exchanges === 3, WAIT_MS);
        expect(p.stats().behaviors.error).toBe(1);
        await p.setMix('');
        c.socket.write(FALLS_BACK);
        await waitFor(() => p.stats().fallbacks === 1, WAIT_MS);
        // The server still stopped: the end comes from the proxy, at the fallback.
        await waitFor(() => c.ended(), WAIT_MS);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      // Nothing after the replies framed: the stream's bytes could not be told from the error's place.
      expect(c.received()).toBe('STORED\r\n');
      expect(logs.join('\n')).toMatch(/connection \d+: closed: an error injected for a request waits behind a reply that can no longer be told apart/);
      await waitFor(() => p.stats().connections.open === 0, WAIT_MS);
    });
  });
});
